"""reports.tables: mean ± std over finished seeds, layouts, best marking, published rows, writers."""

import math
import os

import pytest

from reports.runs import load_runs
from reports.tables import (
    build_tables,
    format_cell,
    latex_escape,
    metric_info,
    summarize,
    to_html,
    to_latex,
    to_markdown,
)

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(scope="module")
def variants(store):
    return load_runs("variants", store["uri"])


@pytest.fixture(scope="module")
def ablation(store):
    return load_runs("ablation_eimg", store["uri"])


def _cell(table, label, metric):
    return next(r for r in table.rows if r.label == label).cells[metric]


def test_summary_excludes_failed_runs(variants):
    s = summarize(variants).set_index(["track", "arm", "metric"])
    full = s.loc[("consistent_50s", "full", "subject_consistency")]
    assert full["mean"] == pytest.approx(0.96) and full["std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert full["n"] == 2 and full["backend"] == "vbench-weights"
    film = s.loc[("consistent_50s", "film", "subject_consistency")]
    assert (
        film["mean"] == pytest.approx(0.90) and film["n"] == 1 and math.isnan(film["std"])
    )  # FAILED seed out
    assert s.loc[("consistent_50s", "base", "fvd"), "backend"] == "random-init"


def test_vbench_layout(variants):
    tables = build_tables(variants, "variants")
    assert [t.title for t in tables] == [
        "consistent_50s: VBench dimensions (%)",
        "consistent_50s: other metrics",
        "creative_50s: VBench dimensions (%)",
    ]
    main = tables[0]
    assert [c.label for c in main.columns] == [
        "Sub. Cons",
        "Back. Cons",
        "Aest",
        "Img",
        "Dyn. Deg",
        "Motion Sm.",
    ]
    # baseline first, then alphabetical; ours above the published rows
    assert [r.label for r in main.ours] == ["base", "film", "full"]
    assert [r.label for r in main.rows[3:]] == [
        "Wan 2.1 (published)",
        "FramePack (published)",
        "SVI-Shot (published)",
    ]
    assert [r.n for r in main.ours] == [2, 1, 2]
    full_sc = _cell(main, "full", "subject_consistency")
    assert full_sc.mean == pytest.approx(96.0) and full_sc.std == pytest.approx(1.41421, abs=1e-4)  # percent
    # best per column among our rows only (SVI-Shot's published 98.13 is higher but never marked)
    best = {c.name: [r.label for r in main.ours if r.cells[c.name].best] for c in main.columns}
    assert best == {
        "subject_consistency": ["full"],
        "background_consistency": ["film"],
        "aesthetic_quality": ["full"],
        "imaging_quality": ["full"],
        "dynamic_degree": ["base"],
        "motion_smoothness": ["full"],
    }
    assert not any(c.best for r in main.published for c in r.cells.values())
    assert _cell(main, "SVI-Shot (published)", "subject_consistency").mean == 98.13
    other = tables[1]
    assert [c.name for c in other.columns] == ["psnr", "fvd"] and not other.published  # the paper's order
    assert _cell(other, "full", "fvd").best and _cell(other, "full", "psnr").best  # fvd: lower is better
    assert _cell(other, "full", "fvd").mean == pytest.approx(310.0)  # not scaled
    assert "FVD, PSNR (dB): random-init" in other.footnotes[0] or "FVD: random-init" in other.footnotes[0]
    creative = tables[2]
    assert [r.label for r in creative.published] == [
        "Wan 2.1 (published)",
        "SVI-Film (published)",
        "SVI-Shot (published)",
    ]


def test_declared_arm_order(variants):
    main = build_tables(variants, "variants", declared=["full", "film"])[0]
    assert [r.label for r in main.ours] == ["base", "full", "film"]  # the baseline stays first


def test_ablation_layout(ablation):
    tables = build_tables(ablation, "ablation_eimg")
    main = tables[0]
    assert main.layout == "ablation" and [c.label for c in main.columns] == [
        "Sub. Cons",
        "Back. Cons",
        "Aest",
        "Img",
    ]
    assert [r.label for r in main.ours] == ["base", "full", "no_eimg"]
    assert [r.label for r in main.published][:2] == ["Wan 2.1 (published)", "w/o E_img (published)"]
    assert _cell(main, "full (published)", "imaging_quality").mean == 71.22
    other = tables[1]
    assert [c.name for c in other.columns] == ["dynamic_degree", "motion_smoothness", "psnr", "fvd"]
    assert build_tables(ablation, "ablation_eimg", layout="vbench")[0].layout == "vbench"
    with pytest.raises(ValueError, match="unknown layout"):
        build_tables(ablation, layout="wide")


def test_writers(variants):
    main = build_tables(variants, "variants")[0]
    md = to_markdown(main)
    assert "| base | 2 | 81.00 ± 1.41 |" in md
    assert "| **96.00 ± 1.41** |" in md and "| **99.00** |" in md  # film's one seed: no ± part
    assert "| SVI-Shot (published) | – | 98.13 |" in md
    assert md.index("| full |") < md.index("(published) |")
    assert "Backend: Sub. Cons, Back. Cons, Aest, Img, Dyn. Deg, Motion Sm.: vbench-weights." in md
    tex = to_latex(main)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\textbf{96.00 $\pm$ 1.41}" in tex
    assert r"\caption{consistent\_50s: VBench dimensions (\%)}" in tex
    assert r"\emph{SVI-Shot (published)}" in tex
    html = to_html(main)
    assert "<td><b>96.00 ± 1.41</b></td>" in html and '<tbody class="published">' in html


def test_format_cell_and_escape():
    from reports.tables import Cell

    info = metric_info("subject_consistency")
    assert format_cell(Cell(96.0, 1.4142, 2), info, 2) == "96.00 ± 1.41"
    assert format_cell(Cell(96.0, 1.4142, 2), info, 3) == "96.00 ± 1.41 (n=2)"
    assert format_cell(Cell(90.0, float("nan"), 1), info, 1) == "90.00"
    assert format_cell(None, info, 1) == "–"
    assert latex_escape("no_eimg & 50% #1 {x}") == r"no\_eimg \& 50\% \#1 \{x\}"
    assert metric_info("new_metric").higher_is_better is None  # unknown: shown, never ranked


def test_drift_metrics_are_labelled_and_the_lowest_is_best():
    """Drift metrics come from the metric table: lower is better, so the lowest mean is marked."""
    import pandas as pd

    drift = ("colour_shift", "sharpness_loss", "truth_distance")

    def run(arm, role, values):
        scores = {f"consistent_50s/{m}": v for m, v in zip(drift, values)}
        return {"arm": arm, "seed": 0, "role": role, "status": "FINISHED", "backends": {}, **scores}

    runs = pd.DataFrame([run("base", "baseline", (0.08, 0.30, 0.20)), run("full", "arm", (0.02, 0.05, 0.10))])
    (table,) = build_tables(runs, "variants")
    assert [c.name for c in table.columns] == list(drift)
    assert all(_cell(table, "full", m).best and not _cell(table, "base", m).best for m in drift)
    md = to_markdown(table)
    assert "Colour shift ↓" in md and "Truth distance ↓" in md and "**0.0200**" in md
