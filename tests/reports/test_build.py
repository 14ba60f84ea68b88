"""reports.build: the report files of an experiment and of a sweep, end to end from a real store."""

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.tracking.store_reader import build_report, build_sweep_report
from reports.plots import plot_drift
from reports.stats import crossed_mean
from reports.tables import SUMMARY_COLUMNS

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
REPO = Path(__file__).resolve().parents[2]


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, build_report("ablation_eimg", out, tracking_uri=store["uri"])


def test_report_files(report):
    out, files = report
    assert set(files) == {
        "report.md",
        "report.tex",
        "report.html",
        "results.csv",
        "drift_consistent_50s_subject_consistency.png",
    }
    assert all(p.parent == out and p.is_file() for p in files.values())
    assert_png(files["drift_consistent_50s_subject_consistency.png"])


def test_report_markdown(report, store):
    _, files = report
    md = files["report.md"].read_text()
    assert "| **96.00 [" in md and "| **99.00 [" in md
    assert (
        "| no_eimg | 10×1 | 90.00 [87.83, 92.17] |" in md
    )  # its FAILED seed is not averaged in (one seed: t)
    assert "| *full: seed sd* | 2 seeds | 1.41 |" in md
    # every comparison carries its uncertainty: differences against the baseline arm, with the method
    diff = md.split(
        "**consistent_50s: error-injection ablation, difference vs base (Δ, percentage points)**"
    )[1]
    assert "| full | 10×2 | +15.00 [+15.00, +15.00]* |" in diff.split("**")[0]
    assert "Satterthwaite degrees of freedom" in md and "Holm-adjusted p < 0.05" in md
    assert "over the report's family (" in md
    power = md.split("## Power")[1].split("## Stability")[0]  # components and minimum detectable differences
    assert "| consistent_50s | Sub. Cons | full - base | 10×2 |" in power and "MDD (80%)" in power
    assert (
        "w/o E_img (published)" in md
        and "Table 1" not in md.split("## Stability")[0].split("ablation")[-1][:0]
    )
    assert "random-init" in md and "not comparable with the published rows" in md
    assert "![" in md and "drift_consistent_50s_subject_consistency.png" in md
    assert "band: 95% interval for the crossed design" in md
    assert "logged no per-sample scores" not in md  # every run has its tables
    failed_id = store["ablation_eimg"]["ids"][("no_eimg", 1)]
    failed_section = md.split("## Failed or unfinished runs")[1].split("## Runs")[0]
    assert failed_id in failed_section and "FAILED" in failed_section
    assert store["ablation_eimg"]["ids"][("full", 0)] not in failed_section


def test_backend_notes_tell_random_toy_and_weight_free_apart():
    from reports.build import backend_notes

    assert backend_notes({"vbench-weights", "reference", "direct"}) == []
    (random_note,) = backend_notes({"random-init", "direct"})
    assert "random-init" in random_note and "not results" in random_note and "direct" not in random_note
    pipeline, toy = backend_notes({"random-init", "toy-encoder", "toy-opencv", "vbench"})
    assert "toy-encoder, toy-opencv" in toy and "not results" not in toy and "footnote" in toy
    assert "toy" not in pipeline


def test_report_latex_html_csv(report):
    _, files = report
    tex = files["report.tex"].read_text()
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert r"no\_eimg" in tex and "no_eimg" not in tex.replace(r"no\_eimg", "")
    assert r"w/o E\_img (published)" in tex and r"\usepackage{booktabs}" in tex
    assert r"\includegraphics[width=0.8\linewidth]{drift_consistent_50s_subject_consistency.png}" in tex
    html = files["report.html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "<head>" in html and '<meta charset="utf-8">' in html and "<body>" in html
    assert 'src="data:image/png;base64,' in html  # self-contained
    assert "<b>96.00 [" in html
    csv = pd.read_csv(files["results.csv"])
    assert list(csv.columns) == SUMMARY_COLUMNS
    row = csv[
        (csv.track == "consistent_50s") & (csv.arm == "full") & (csv.metric == "subject_consistency")
    ].iloc[0]
    assert row["mean"] == pytest.approx(0.96) and row["low"] < 0.96 < row["high"]
    assert (row["n"], row["n_samples"], row["n_seeds"]) == (20, 10, 2)
    assert row["seed_sd"] == pytest.approx(0.0141421, abs=1e-6) and row["reference"] == "base"
    assert row["delta"] == pytest.approx(0.15) and row["delta_low"] == pytest.approx(0.15)
    assert row["p"] < 0.001 and row["p_holm"] >= row["p"] and bool(row["significant"])
    no_eimg = csv[
        (csv.arm == "no_eimg") & (csv.metric == "background_consistency") & (csv.track == "consistent_50s")
    ]
    assert no_eimg["mean"].tolist() == [pytest.approx(0.99)] and no_eimg["n"].tolist() == [10]
    assert "published" not in " ".join(csv["arm"])  # published numbers live only in the tables
    assert csv.loc[csv.metric == "fvd", "backend"].unique().tolist() == ["random-init"]


def test_report_of_runs_without_per_sample_tables(store, tmp_path):
    """Runs logged before per-sample tables: the report still builds, says why there are no intervals,
    and its drift bands are over the runs' logged mean curves."""
    files = build_report("legacy", tmp_path, tracking_uri=store["uri"])
    md = files["report.md"].read_text()
    assert "5 finished run(s) logged no per-sample scores" in md
    assert "| full | 2 runs | **96.00 (runs)** |" in md and "+15.00 (runs)" in md
    assert_png(files["drift_consistent_50s_subject_consistency.png"])
    csv = pd.read_csv(files["results.csv"])
    assert set(csv["basis"]) == {"runs"} and csv["low"].isna().all() and not csv["significant"].any()


def test_report_against_another_reference_arm(store, tmp_path):
    files = build_report("ablation_eimg", tmp_path, tracking_uri=store["uri"], reference="full")
    md = files["report.md"].read_text()
    assert "difference vs full" in md and "| base | 10×2 | -15.00 [-15.00, -15.00]* |" in md


def test_report_unknown_experiment(store, tmp_path):
    with pytest.raises(LookupError, match="'ablation_evid' does not exist"):
        build_report("ablation_evid", tmp_path, tracking_uri=store["uri"])


def test_drift_bands_come_from_per_sample_curves(tmp_path):
    """Two samples x two seeds: the band is each clip's crossed-design interval (stats.crossed_mean)."""
    from reports import plots

    rows = []
    for sample, level in (("a", 0.5), ("b", 0.7)):
        for seed in (0, 1):
            for clip in range(3):
                rows.append({"run_id": f"r{seed}", "arm": "x", "seed": seed, "role": "arm", "status": "FINISHED",
                             "suite": "consistent_50s", "metric": "subject_consistency", "clip": clip,
                             "sample": sample, "value": level + 0.01 * seed, "seconds": 5.0 * (clip + 1)})  # fmt: skip
    band, n = plots._band(pd.DataFrame(rows), use_seconds=True, scale=100.0)
    assert n == "2×2" and band["x"].tolist() == [5.0, 10.0, 15.0]
    assert band["mean"].tolist() == pytest.approx([60.5] * 3)
    crossed = crossed_mean(np.array([[0.5, 0.51], [0.7, 0.71]]))  # [samples, seeds] at every clip
    assert band["low"].tolist() == pytest.approx([crossed.low * 100] * 3)
    assert band["high"].tolist() == pytest.approx([crossed.high * 100] * 3)
    assert_png(plot_drift(pd.DataFrame(rows), tmp_path)["drift_consistent_50s_subject_consistency.png"])


def test_drift_plot_falls_back_to_clip_index(tmp_path):
    drift = pd.DataFrame(
        {
            "run_id": ["a", "a", "b", "b"],
            "arm": ["x", "x", "x", "x"],
            "seed": [0, 0, 1, 1],
            "role": ["arm"] * 4,
            "status": ["FINISHED"] * 4,
            "suite": ["creative_250s"] * 4,
            "metric": ["psnr"] * 4,
            "clip": [0, 1, 0, 1],
            "value": [20.0, 19.0, 21.0, 18.0],
            "seconds": [float("nan")] * 4,
        }
    )
    files = plot_drift(drift, tmp_path)
    assert list(files) == ["drift_creative_250s_psnr.png"]
    assert_png(files["drift_creative_250s_psnr.png"])
    assert plot_drift(drift.iloc[0:0], tmp_path) == {}
    # a check of which files a report writes (harness pages --check) lists the plots without drawing them
    from reports.plots import names_only

    with names_only():
        listed = plot_drift(drift, tmp_path / "names")
    assert list(listed) == list(files) and listed["drift_creative_250s_psnr.png"].stat().st_size == 0
    assert_png(plot_drift(drift, tmp_path / "again")["drift_creative_250s_psnr.png"])  # drawn again after it


def _two_level_drift(arms: list[str]) -> pd.DataFrame:
    """Drift rows of `arms` (the first a baseline), two samples x one seed x three clips each."""
    rows = []
    for i, arm in enumerate(arms):
        for sample in ("a", "b"):
            for clip in range(3):
                rows.append({"run_id": f"r{i}", "arm": arm, "seed": 0, "role": "baseline" if i == 0 else "arm",
                             "status": "FINISHED", "suite": "consistent_50s", "metric": "colour_shift",
                             "clip": clip, "sample": sample, "value": 0.1 * i + 0.01 * clip + (sample == "b") * 0.02,
                             "seconds": 5.0 * (clip + 1)})  # fmt: skip
    return pd.DataFrame(rows)


def _drawn(ax) -> list[str]:
    return [line.get_label() for line in ax.get_lines()]


@pytest.mark.parametrize(
    "metric, window_value, shown, ylabel",
    [  # each kind of drift plot: its values in the unit its axis names
        ("subject_consistency", 0.9, 90.0, "Sub. Cons (%)"),  # a 0-1 VBench dimension, in percent
        ("colour_shift", 0.1, 0.1, "Colour shift"),  # a raw drift measure
        ("psnr", 21.0, 21.0, "PSNR (dB)"),
        # a video scores 0 or 1 (percent of videos), a window its mean top-5% flow in pixels: never x100
        ("dynamic_degree", 3.2, 3.2, "Dyn. Deg: top-5% flow (px per frame)"),
    ],
)
def test_a_drift_plot_draws_its_values_in_the_unit_of_its_axis(metric, window_value, shown, ylabel):
    from reports.plots import drift_figure

    drift = _two_level_drift(["base", "full"]).assign(metric=metric, value=window_value)
    (ax,) = drift_figure(drift, ["base", "full"], metric).axes
    assert ax.get_ylabel() == ylabel
    assert all(line.get_ydata() == pytest.approx([shown] * 3) for line in ax.get_lines())


def test_the_forest_plot_draws_each_difference_in_display_units_with_its_holm_mark_and_mdd():
    from reports.plots import forest_figure, forest_rows

    summary = pd.DataFrame(
        [
            {"track": "t_50s", "metric": "subject_consistency", "arm": "full", "reference": "base",
             "contrast": "reference", "mean": 0.8, "delta": 0.02, "delta_low": 0.01, "delta_high": 0.03,
             "mdd": 0.015, "significant": True},
            {"track": "t_50s", "metric": "subject_consistency", "arm": "base", "reference": "base",
             "contrast": "reference", "mean": 0.78, "delta": float("nan"), "delta_low": float("nan"),
             "delta_high": float("nan"), "mdd": float("nan"), "significant": False},
        ]
    )  # fmt: skip
    refs = pd.DataFrame(
        [{"track": "t_50s", "arm": "frozen", "metric": "subject_consistency", "mean": 0.98, "n": 4}]
    )
    rows = forest_rows(summary, "subject_consistency", refs)
    assert list(rows["label"]) == ["full - base", "frozen (no model) - base"]
    assert list(rows["delta"]) == pytest.approx([2.0, 20.0])  # percentage points, not 0-1
    assert list(rows.iloc[0][["low", "high", "mdd"]]) == pytest.approx([1.0, 3.0, 1.5])
    colours = {"full": "#123456"}
    (ax,) = forest_figure(rows, "subject_consistency", colours).axes
    assert ax.get_xlabel() == "Δ Sub. Cons (pp)"
    (interval, point), frozen = ax.get_lines()[:2], ax.get_lines()[-1]  # the references' row drawn last
    assert list(interval.get_xdata()) == pytest.approx([1.0, 3.0]) and interval.get_color() == "#123456"
    assert point.get_markerfacecolor() == "#123456"  # filled: significant after Holm
    assert point.get_markeredgecolor() == "0.3" and interval.get_path_effects()  # outlined: seen on the band
    # frozen at +20 pp lies 6.7 spans (3 pp: zero to the interval's end) away: drawn at the right edge
    assert frozen.get_marker() == ">" and frozen.get_xdata()[0] == pytest.approx(ax.get_xlim()[1], rel=0.02)
    assert ax.get_xlim()[1] < 4.0  # the axis stays on the arm's scale
    assert any(t.get_text() == "F +20" for t in ax.texts)  # ... and the value is written
    (band,) = ax.collections  # the MDD around zero
    assert band.get_paths()[0].vertices[:, 0].min() == pytest.approx(-1.5)


def _forest_summary(rows: list[tuple]) -> pd.DataFrame:
    """A summary of colour_shift rows (arm, reference, contrast, delta, low, high, training_variance)."""
    return pd.DataFrame(
        [
            {"track": "t_50s", "metric": "colour_shift", "arm": a, "reference": r, "contrast": c, "mean": 0.1,
             "delta": d, "delta_low": lo, "delta_high": hi, "mdd": 0.01, "significant": False,
             "training_variance": tv}
            for a, r, c, d, lo, hi, tv in rows
        ]
    )  # fmt: skip


def test_the_answer_picture_draws_the_declared_comparisons_and_a_second_each_arm_against_the_reference(
    tmp_path,
):
    from reports.plots import plot_forest

    arms = [(f"arm{i}", "base", "reference", 0.01 * i, 0.0, 0.02 * i, "in interval") for i in range(1, 10)]
    summary = _forest_summary([*arms, ("arm1", "arm2", "declared", -0.01, -0.03, 0.01, "in interval")])
    answer, each = plot_forest(summary, "colour_shift", tmp_path, {})
    assert [answer.name, each.name] == ["forest_colour_shift.png", "forest_colour_shift_arms.png"]
    from PIL import Image

    # one row against ten: the answer is short, and ten rows stay within a 1000 px screen's remainder
    assert Image.open(answer).size[1] < 300 < Image.open(each).size[1] < 480
    only = plot_forest(_forest_summary(arms[:2]), "colour_shift", tmp_path / "b", {})
    assert [p.name for p in only] == ["forest_colour_shift.png"]


def test_forest_ticks_stay_apart_and_one_seed_intervals_are_marked_never_tested():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from reports.plots import forest_figure, forest_rows

    rows = forest_rows(
        _forest_summary(
            [
                ("svi", "base", "reference", -0.03, -0.0551, -0.0049, "1 seed"),  # excludes zero, one seed
                (
                    "img_both_and_a_name_as_long_as_a_sentence_of_words",
                    "base",
                    "reference",
                    0.004,
                    -0.001,
                    0.009,
                    "in interval",
                ),
            ]
        ),
        "colour_shift",
    )
    assert list(rows["one_seed"]) == [True, False]
    fig = forest_figure(rows, "colour_shift", {})
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "img_both_and_a_name_as_long_as_a_sentence_of_words - base",
        "svi - base (1 seed)",
    ]
    assert any("dashed, (1 seed): one seed, never tested" in t.get_text() for t in fig.texts)  # the key
    # the one-seed interval dashed over a thin grey line, the other solid
    assert [line.get_linestyle() for line in ax.get_lines()[:4]] == ["-", "--", "None", "-"]
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    assert len(boxes) >= 3
    assert all(a.x1 + 4 < b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels touch"


def test_a_few_arms_share_one_drift_axes():
    from reports.plots import drift_figure

    fig = drift_figure(_two_level_drift(["base", "full", "plain"]), ["base", "full", "plain"], "colour_shift")
    (ax,) = fig.axes
    assert _drawn(ax) == ["base (n=2×1)", "full (n=2×1)", "plain (n=2×1)"]
    assert ax.get_lines()[0].get_linestyle() == "--"  # the baseline


def test_many_arms_get_a_panel_each_beside_the_reference(tmp_path):
    from reports.colours import arm_colours
    from reports.plots import PANELS_ABOVE, drift_figure

    arms = ["base", "a", "b", "c", "d", "e"]  # more than PANELS_ABOVE
    assert len(arms) > PANELS_ABOVE
    drift = _two_level_drift(arms)
    fig = drift_figure(drift, arms, "colour_shift")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == arms[1:]
    for ax, arm in zip(shown, arms[1:]):
        assert _drawn(ax) == ["base (n=2×1)", f"{arm} (n=2×1)"]
        assert len(ax.collections) == 2  # both bands
        assert [line.get_linestyle() for line in ax.get_lines()] == ["--", "-"]  # the baseline dashed
    # each arm keeps its colour in every panel; all panels share one y scale
    colour = arm_colours(arms)  # each arm's colour in MLflow's views (reports/colours.py)
    assert len(set(colour.values())) == len(arms)
    assert {ax.get_lines()[0].get_color() for ax in shown} == {colour["base"]}
    assert [ax.get_lines()[1].get_color() for ax in shown] == [colour[a] for a in arms[1:]]
    assert len({ax.get_ylim() for ax in shown}) == 1
    # another reference arm: the panels are drawn beside it
    other = drift_figure(drift, arms, "colour_shift", reference="c")
    panels = [ax for ax in other.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["base", "a", "b", "d", "e"]
    assert all(_drawn(ax)[0] == "c (n=2×1)" for ax in panels)
    assert_png(plot_drift(drift, tmp_path)["drift_consistent_50s_colour_shift.png"])


def test_sweep_report(store, tmp_path):
    files = build_sweep_report("injection_probs", tmp_path, tracking_uri=store["uri"])
    assert set(files) == {"report.md", "report.tex", "report.html", "trials.csv", "objective_vs_params.png"}
    assert_png(files["objective_vs_params.png"])
    csv = pd.read_csv(files["trials.csv"])
    assert csv["trial"].tolist() == [1, 2, 0, 3]  # best objective first, failed trial last
    assert csv["status"].tolist() == ["FINISHED", "FINISHED", "FINISHED", "FAILED"]
    md = files["report.md"].read_text()
    ok, failed = md.split("## Failed or unfinished trials")
    lines = [ln for ln in ok.splitlines() if ln.startswith("| ") and "FINISHED" in ln]
    assert [ln.split(" | ")[0] for ln in lines] == ["| 1", "| 2", "| 0"]
    assert "**0.9000**" in lines[0]
    assert "| 3 | FAILED |" in failed and store["injection_probs"]["ids"][3] in failed
    assert "| 3 |" not in ok
    minimized = build_sweep_report("injection_probs", tmp_path / "min", store["uri"], direction="minimize")
    assert pd.read_csv(minimized["trials.csv"])["trial"].tolist() == [0, 2, 1, 3]


def test_reports_do_not_import_torch():
    """reports/ reads the metric table (scoring.specs), which must stay torch-free, and frames, never the
    MLflow store (harness/tracking/store_reader.py reads it)."""
    code = (
        "import sys, reports, reports.build, reports.frames, reports.bundle, reports.margins, reports.pages, reports.tables, "
        "reports.plots, reports.published, "
        "scoring.specs; "
        "allowed = {'benchmarks', 'scoring', 'scoring.specs'}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'svi', 'benchmarks', 'harness', 'mlflow') "
        "and m not in allowed); "
        "assert 'torch' not in sys.modules and not bad, bad"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_time_table_has_each_arms_mean_minutes_per_stage_in_stage_order():
    import pandas as pd

    from harness.base.clock import stage_table
    from reports.build import time_frame
    from reports.frames import STAGES

    runs = pd.DataFrame(
        {
            "arm": ["base", "full", "full"],
            "role": ["baseline", "arm", "arm"],
            "stage_seconds": [
                {"score": 60.0, "generate": 120.0},
                {"train": 30.0, "generate": 60.0},
                {"train": 90.0},
            ],
        }
    )
    frame = time_frame(runs, ["base", "full"])
    assert list(frame.columns) == ["arm", "units", "train", "generate", "score", "total"]
    assert frame.to_dict("records") == [
        {"arm": "base", "units": "1", "train": "0.00", "generate": "2.00", "score": "1.00", "total": "3.00"},
        {"arm": "full", "units": "2", "train": "1.00", "generate": "0.50", "score": "0.00", "total": "1.50"},
    ]
    assert time_frame(runs.assign(stage_seconds=[{}, {}, {}]), None).empty
    lines = stage_table([("base seed 0", {"generate": 90.0, "score": 30.0})], STAGES)
    assert lines[0].split() == ["unit", "generate", "score", "total"]
    assert lines[1].split() == ["base", "seed", "0", "1.50m", "0.50m", "2.00m"] and lines[2].split()[1:] == [
        "75%",
        "25%",
    ]
