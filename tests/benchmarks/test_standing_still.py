"""benchmarks/toyworld/standing_still.py: an arm beside its degenerate references, from a bundle."""

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.toyworld.standing_still import main, markdown, standing_still

ROOT = Path(__file__).resolve().parents[2]


def _scores():
    rows = []
    for arm, sc, cs in (("base", 0.74, 0.14), ("frozen", 1.0, 0.0002), ("loop", 0.81, 0.0037)):
        for sample in ("s0", "s1"):
            rows.append((arm, 0, "t", sample, "video", None, "subject_consistency", sc))
            rows.append((arm, 0, "t", sample, "video", None, "colour_shift", cs))
    table = pd.DataFrame(
        rows, columns=["arm", "seed", "track", "sample", "level", "window", "metric", "value"]
    )
    units = [{"arm": "base", "role": "baseline"}] + [
        {"arm": k, "role": "reference"} for k in ("frozen", "loop")
    ]
    return table, units


def test_an_arm_beside_its_references_with_its_margin():
    table, units = _scores()
    rows = {
        r["metric"]: r
        for r in standing_still(table, units, "t", "base", ["subject_consistency", "colour_shift"])
    }
    assert rows["subject_consistency"]["frozen"] == 1.0 and rows["subject_consistency"]["best"] == "frozen"
    assert rows["subject_consistency"]["margin"] == pytest.approx(0.74 - 1.0)
    assert rows["colour_shift"]["margin"] == pytest.approx(0.0002 - 0.14)
    text = markdown(list(rows.values()), "base")
    values, margins = text.split("\n\n")  # two tables that fit the docs' column
    assert "| Sub. Cons ↑ (%) | 74.00 | 100.00 | 81.00 |" in values
    assert "| Colour shift ↓ | 0.1400 | 0.0002 | 0.0037 |" in values
    assert "| Sub. Cons ↑ (%) | -26.00 (frozen wins) |" in margins
    assert "| Colour shift ↓ | -0.1398 (frozen wins) |" in margins


def test_the_scoring_guide_table_is_the_scripts_output_on_the_committed_bundle(capsys):
    """docs/guides/scoring.md's table of what standing still scores is generated from toy world 2's demo
    bundle, results/world2/ablation_eimg."""
    assert main([str(ROOT / "results" / "world2" / "ablation_eimg"), "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    assert table in (ROOT / "docs" / "guides" / "scoring.md").read_text(), (
        "docs/guides/scoring.md: paste `python -m benchmarks.toyworld standing_still results/world2/ablation_eimg --markdown`"
    )


def test_a_bundle_without_references_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
