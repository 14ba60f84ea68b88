"""benchmarks/toyworld/drift_rise.py: each video's rise from the first window after clip 0 to the last."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.toyworld.drift_rise import drift_rise, main, markdown, rise_matrix
from reports.bundle import BUNDLE_VERSION, read_tables, write_manifest
from reports.stats import crossed_mean

RISES = {("s0", 0): 0.1, ("s0", 1): 0.3, ("s1", 0): 0.2, ("s1", 1): 0.4, ("s2", 0): 0.15, ("s2", 1): 0.35}


def _scores() -> pd.DataFrame:
    """Windows 0-2 of one arm: 0 at clip 0, 0.1 after it, then 0.1 + the video's rise; another arm
    and a video-level row that must be left out."""
    rows = []
    for (sample, seed), rise in RISES.items():
        for window, value in ((0, 0.0), (1, 0.1), (2, 0.1 + rise)):
            rows.append(("base", seed, "consistent_100s", sample, "window", window, "colour_shift", value))
            rows.append(("full", seed, "consistent_100s", sample, "window", window, "colour_shift", 9.0))
        rows.append(("base", seed, "consistent_100s", sample, "video", np.nan, "colour_shift", 5.0))
    return pd.DataFrame(
        rows, columns=["arm", "seed", "track", "sample", "level", "window", "metric", "value"]
    )


def test_rise_matrix_is_last_minus_first_after_clip_0_per_video():
    m = rise_matrix(_scores(), "base", "consistent_100s", "colour_shift")
    assert list(m.index) == ["s0", "s1", "s2"] and list(m.columns) == [0, 1]
    for (sample, seed), rise in RISES.items():
        assert math.isclose(m.loc[sample, seed], rise)


def test_drift_rise_uses_the_crossed_design_interval():
    out = drift_rise(_scores(), "base", ["colour_shift"])["consistent_100s"]["colour_shift"]
    expected = crossed_mean(np.array([[0.1, 0.3], [0.2, 0.4], [0.15, 0.35]]))
    assert math.isclose(out["rise"], 0.25)
    assert out["interval_95"] == pytest.approx([expected.low, expected.high]) and out["n"] == "3x2"
    assert out["windows"] == [1, 2] and math.isclose(out["first_window_mean"], 0.1)
    assert math.isclose(out["last_window_mean"], 0.35)
    assert out["clear_of_zero"] == (expected.low > 0)


def test_a_metric_without_windows_is_an_error():
    with pytest.raises(ValueError, match="no window-level truth_distance"):
        rise_matrix(_scores(), "base", "consistent_100s", "truth_distance")


def test_cli_reads_a_bundle_and_refuses_an_unknown_arm(tmp_path, capsys):
    _scores().to_csv(tmp_path / "scores.csv", index=False)
    units = [{"arm": a, "seed": s, "status": "FINISHED"} for a in ("base", "full") for s in (0, 1)]
    write_manifest(tmp_path, {"bundle_version": BUNDLE_VERSION, "experiment": "toy", "units": units})
    assert main([str(tmp_path), "--metrics", "colour_shift"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert math.isclose(report["tracks"]["consistent_100s"]["colour_shift"]["rise"], 0.25)
    assert main([str(tmp_path), "--arm", "nope"]) == 2
    assert "its arms: ['base', 'full']" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2


def test_markdown_rows_per_track():
    table = markdown(drift_rise(_scores(), "base", ["colour_shift"]), ["colour_shift"])
    lines = table.splitlines()
    assert lines[0] == "| track | colour_shift: first window, last | rise |"
    assert lines[2].startswith("| consistent_100s | 0.100, 0.350 | +0.250 [")
    assert lines[2].endswith("] (3x2) |")


def test_the_base_model_page_quotes_the_mechanisms_bundle():
    """docs/results/toy_base.md's drift table is this script's output on the committed bundle."""
    root = Path(__file__).resolve().parents[2]
    scores = read_tables(root / "results" / "mechanisms").scores
    metrics = ["colour_shift", "truth_distance"]
    table = markdown(drift_rise(scores, "base", metrics), metrics)
    assert table in (root / "docs" / "results" / "toy_base.md").read_text(), (
        "docs/results/toy_base.md: paste `python -m benchmarks.toyworld drift_rise results/mechanisms --markdown`"
    )
