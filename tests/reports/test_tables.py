"""reports.tables: crossed-design intervals, differences against the reference arm with Holm over the
report's family, one-seed rows, noise floors, set-level and legacy cells, layouts, published rows,
writers. The interval arithmetic itself has its known answers in test_stats.py."""

import dataclasses
import math
import os

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.tracking.store_reader import load_runs, load_samples
from reports.frames import ReportError
from reports.stats import crossed_difference, crossed_mean
from reports.tables import (
    DECLARED,
    MAX_COLUMNS,
    ONE_SEED,
    ONE_SEED_NOTE,
    SUMMARY_COLUMNS,
    Cell,
    build_tables,
    column_parts,
    format_cell,
    latex_escape,
    metric_info,
    parse_comparisons,
    summarize,
    to_html,
    to_latex,
    to_markdown,
)

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(scope="module")
def variants(store):
    return load_runs("variants", store["uri"]), load_samples("variants", store["uri"])


@pytest.fixture(scope="module")
def ablation(store):
    return load_runs("ablation_eimg", store["uri"]), load_samples("ablation_eimg", store["uri"])


@pytest.fixture(scope="module")
def variant_tables(variants):
    runs, samples = variants
    return build_tables(runs, "variants", samples=samples)


def _row(table, label):
    return next(r for r in table.rows if r.label == label)


def _cell(table, label, metric):
    return _row(table, label).cells[metric]


def _joined(first, second):
    """Two parts of one table (split to fit the page) as one: the columns side by side, each row's cells
    together."""
    rows = [dataclasses.replace(r, cells={**r.cells, **_row(second, r.label).cells}) for r in first.rows]
    return dataclasses.replace(first, columns=first.columns + second.columns, rows=rows,
                               footnotes=first.footnotes + second.footnotes)  # fmt: skip


def frames(values: dict, track: str = "consistent_50s", trained: bool | None = None):
    """(runs, samples) frames of FINISHED runs from {arm: {metric: [samples, seeds] array}}; the
    first arm is the baseline. Final scores are the per-sample means. `trained`: every arm's trained
    tag (None: none, so the baseline counts as untrained and the rest as trained)."""
    runs, rows = [], []
    for i, (arm, metrics) in enumerate(values.items()):
        role = "baseline" if i == 0 else "arm"
        seeds = np.asarray(next(iter(metrics.values()))).shape[1]
        for seed in range(seeds):
            run_id = f"{arm}-{seed}"
            scores = {f"{track}/{m}": float(np.mean(np.asarray(v)[:, seed])) for m, v in metrics.items()}
            runs.append({"run_id": run_id, "arm": arm, "seed": seed, "role": role, "status": "FINISHED",
                         "trained": trained, "backends": dict.fromkeys(metrics, "vbench-weights"),
                         **scores})  # fmt: skip
            for m, v in metrics.items():
                for s, value in enumerate(np.asarray(v)[:, seed]):
                    rows.append({"arm": arm, "role": role, "seed": seed, "run_id": run_id, "status": "FINISHED",
                                 "track": track, "sample": f"s{s}", "level": "video", "window": None,
                                 "metric": m, "value": float(value), "seconds": math.nan})  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(rows)


# -- numbers -------------------------------------------------------------------------------------


def test_summary_gives_intervals_over_samples_and_excludes_failed_runs(variants):
    runs, samples = variants
    summary = summarize(runs, samples)
    assert list(summary.columns) == SUMMARY_COLUMNS
    s = summary.set_index(["track", "arm", "metric"])
    full = s.loc[("consistent_50s", "full", "subject_consistency")]
    # seeds 0.95 / 0.97 (one training run each, on every sample) plus the samples' offsets: crossed
    matrix = np.array([0.95, 0.97])[None, :] + np.linspace(-0.045, 0.045, 10)[:, None]
    crossed = crossed_mean(matrix)
    assert full["mean"] == pytest.approx(0.96) and full["basis"] == "samples"
    assert full["low"] == pytest.approx(crossed.low) and full["high"] == pytest.approx(crossed.high)
    # the seed shift shared by every sample widens it beyond the t-interval over samples
    per_sample = matrix.mean(axis=1)
    low, _ = stats.t.interval(0.95, 9, loc=per_sample.mean(), scale=stats.sem(per_sample))
    assert full["low"] < low
    assert (full["n"], full["n_samples"], full["n_seeds"]) == (20, 10, 2)
    assert full["seed_sd"] == pytest.approx(math.sqrt(2) * 0.01)  # per-seed means 0.95 and 0.97
    assert full["backend"] == "vbench-weights" and full["reference"] == "base"
    film = s.loc[("consistent_50s", "film", "subject_consistency")]  # its FAILED seed is left out
    assert film["mean"] == pytest.approx(0.90) and (film["n"], film["n_seeds"]) == (10, 1)
    assert math.isnan(film["seed_sd"])
    per_sample = 0.90 + np.linspace(-0.045, 0.045, 10)  # one seed: the t-interval over samples
    low, high = stats.t.interval(0.95, 9, loc=per_sample.mean(), scale=stats.sem(per_sample))
    assert film["low"] == pytest.approx(low) and film["high"] == pytest.approx(high)
    base = s.loc[("consistent_50s", "base", "subject_consistency")]
    assert math.isnan(base["delta"]) and not base["significant"]  # the reference is not compared with itself


def test_a_constant_shift_is_the_difference_with_a_zero_width_interval(variants, variant_tables):
    """full - base is 0.15 on every sample and seed (conftest's offsets are shared by the arms)."""
    s = summarize(*variants).set_index(["track", "arm", "metric"])
    full = s.loc[("consistent_50s", "full", "subject_consistency")]
    assert full["delta"] == pytest.approx(0.15)
    assert full["delta_low"] == pytest.approx(0.15) and full["delta_high"] == pytest.approx(0.15)
    assert (
        full["delta_n_samples"] == 10 and full["significant"] and full["training_variance"] == "in interval"
    )
    diff = variant_tables[1]
    assert diff.kind == "difference" and diff.reference == "base"
    # the arm order, without the reference; film is a fine-tuned arm that ran one seed
    assert [r.label for r in diff.rows] == [f"film ({ONE_SEED_NOTE})", "full"]
    assert format_cell(
        _cell(diff, "full", "subject_consistency"), metric_info("subject_consistency"), True
    ) == ("+15.00 [+15.00, +15.00]*")
    # film ran seed 0 only, base seeds 0 and 1 (0.80 / 0.82): unpaired, base's seed component in the
    # interval ((MS_t - MS_e) / (I J) = 0.002 / 20 on 1 df), film's training variance not
    film = s.loc[("consistent_50s", "film", "subject_consistency")]
    assert film["delta"] == pytest.approx(0.09) and film["delta_se"] == pytest.approx(0.01)
    half = stats.t.ppf(0.975, 1) * 0.01
    assert (film["delta_low"], film["delta_high"]) == (pytest.approx(0.09 - half), pytest.approx(0.09 + half))
    assert film["training_variance"] == ONE_SEED and not film["significant"]


def test_identical_arms_show_no_significance_mark():
    rng = np.random.default_rng(0)
    values = rng.normal(0.8, 0.05, size=(12, 2))
    runs, samples = frames({"base": {"subject_consistency": values}, "same": {"subject_consistency": values}})
    tables = build_tables(runs, "check", samples=samples)
    cell = _cell(tables[1], "same", "subject_consistency")
    assert (cell.mean, cell.low, cell.high, cell.significant) == (0.0, 0.0, 0.0, False)
    (line,) = [ln for ln in to_markdown(tables[1]).splitlines() if ln.startswith("| same")]
    assert line == "| same | 12×2 | +0.00 [+0.00, +0.00] |"  # no significance mark


def test_a_fine_tuned_arm_with_one_seed_is_never_starred():
    base = np.array([[0.5], [0.6], [0.7], [0.8]])
    values = {"base": {"subject_consistency": base}, "arm": {"subject_consistency": base + 0.1}}
    runs, samples = frames(values)
    row = summarize(runs, samples).set_index("arm").loc["arm"]
    assert row["delta"] == pytest.approx(0.1) and row["p"] == 0.0 and not row["significant"]
    assert row["training_variance"] == ONE_SEED
    diff = build_tables(runs, samples=samples)[1]
    assert not _cell(diff, f"arm ({ONE_SEED_NOTE})", "subject_consistency").significant
    assert any(n.startswith(f"({ONE_SEED_NOTE})") for n in diff.footnotes)
    # untrained arms (two sampling strategies of the base model): the same numbers are a valid test
    untrained = summarize(*frames(values, trained=False)).set_index("arm").loc["arm"]
    assert untrained["training_variance"] == "untrained" and untrained["significant"]


# differences of one arm against the baseline, sample by sample: a t-test p of about 0.03
HOLM_DIFFS = np.array([0.9, -0.4, 1.3, 0.2, -0.7, 1.1, 0.5, 1.6, -0.2, 0.8, 0.3, 1.0]) / 100
FIVE = ["subject_consistency", "background_consistency", "aesthetic_quality", "imaging_quality",
        "motion_smoothness"]  # fmt: skip


def _holm_case(metrics, arms=("arm",), primary=None):
    base = np.full((12, 1), 0.5)
    values = {"base": dict.fromkeys(metrics, base)}
    for arm in arms:
        values[arm] = dict.fromkeys(metrics, base + HOLM_DIFFS[:, None])
    runs, samples = frames(values, trained=False)
    summary = summarize(runs, samples, layout="vbench", primary=primary)
    tables = build_tables(runs, layout="vbench", samples=samples, primary=primary)
    return summary[summary["arm"] != "base"], tables


def test_holm_over_the_family_of_the_report():
    """p ~ 0.03 is significant alone; five metrics (or two arms) with that p are not (Holm)."""
    alone, alone_tables = _holm_case(FIVE[:1])
    p = alone["p"].iloc[0]
    assert p == pytest.approx(stats.ttest_1samp(HOLM_DIFFS, 0).pvalue)
    assert 0.01 < p < 0.05 and alone["p_holm"].iloc[0] == p and alone["significant"].iloc[0]
    assert _cell(alone_tables[1], "arm", "subject_consistency").significant
    together, together_tables = _holm_case(FIVE)
    assert together["p"].tolist() == pytest.approx([p] * 5)
    assert together["p_holm"].tolist() == pytest.approx([min(1.0, 5 * p)] * 5)
    assert not together["significant"].any() and set(together["family"]) == {"all"}
    assert not any(c.significant for c in _row(together_tables[1], "arm").cells.values())
    assert "over the report's family (5 tested differences)" in " ".join(together_tables[1].footnotes)
    two_arms, _ = _holm_case(FIVE[:1], arms=("arm", "other"))  # the family spans arms too
    assert two_arms["p_holm"].tolist() == pytest.approx([2 * p] * 2)


def test_a_declared_primary_metric_is_a_family_of_its_own():
    summary, tables = _holm_case(FIVE, primary="subject_consistency")
    s = summary.set_index("metric")
    p = s.loc["subject_consistency", "p"]
    assert s.loc["subject_consistency", "family"] == "primary" and s.loc["subject_consistency", "p_holm"] == p
    assert s.loc["subject_consistency", "significant"]
    assert (s.drop("subject_consistency")["family"] == "secondary").all()
    assert s.drop("subject_consistency")["p_holm"].tolist() == pytest.approx([4 * p] * 4)
    notes = " ".join(tables[1].footnotes)
    assert "1 tested differences of the primary metric(s); 4 tested differences of the secondary" in notes


def test_declared_comparisons_are_tested_and_tabled_in_the_same_family():
    """An experiment's `comparisons` ("full - plain") give the crossed-design difference of the two
    arms, paired by seed, in the Holm family of every other tested difference, and a table of their own."""
    rng = np.random.default_rng(3)
    base = rng.normal(0.5, 0.05, size=(8, 3))
    plain = base + rng.normal(0.01, 0.01, size=(8, 3))
    full = plain + 0.02 + rng.normal(0, 0.005, size=(8, 3))
    values = {
        "base": {"colour_shift": base},
        "plain": {"colour_shift": plain},
        "full": {"colour_shift": full},
    }
    runs, samples = frames(values)
    pairs = [("full", "plain"), ("plain", "base")]  # the second is already an arm against the reference
    s = summarize(runs, samples, primary="colour_shift", comparisons=pairs)
    declared = s[s["contrast"] == DECLARED]
    assert declared[["arm", "reference"]].values.tolist() == [["full", "plain"]]
    row = declared.iloc[0]
    as_series = {
        a: samples[samples["arm"] == a].set_index(["sample", "seed"])["value"] for a in ("plain", "full")
    }
    want = crossed_difference(as_series["plain"], as_series["full"])
    assert row["delta"] == pytest.approx(0.02 + (full - plain - 0.02).mean())
    assert (row["delta"], row["delta_low"], row["delta_high"]) == pytest.approx(
        (want.mean, want.low, want.high)
    )
    # one family of the primary metric: 2 arms against base + 1 declared comparison
    primary = s[s["p"].notna()]
    assert len(primary) == 3 and set(primary["family"]) == {"primary"}
    ps = primary["p"].to_numpy()
    assert primary["p_holm"].max() <= 1 and primary["p_holm"].min() == pytest.approx(3 * ps.min())
    # the arms' rows and the reference table are as without the comparisons
    plainly = summarize(runs, samples, primary="colour_shift")
    assert len(s) == len(plainly) + 1
    tables = build_tables(runs, samples=samples, primary="colour_shift", comparisons=pairs)
    assert [t.title for t in tables] == [
        "consistent_50s: other metrics",
        "consistent_50s: other metrics, difference vs base (Δ)",
        "consistent_50s: other metrics, declared comparisons (Δ)",
    ]
    assert [r.label for r in tables[0].rows if r.source == "ours"] == ["base", "full", "plain"]  # once each
    assert [r.label for r in tables[2].rows] == ["full - plain"]
    assert _cell(tables[2], "full - plain", "colour_shift").mean == pytest.approx(row["delta"])
    assert "the first arm minus the second" in tables[2].footnotes[0]


def test_comparisons_are_checked_against_the_declared_arms():
    arms = ["base", "full", "plain"]
    assert parse_comparisons(["full - plain", "plain - base"], arms) == [("full", "plain"), ("plain", "base")]
    for bad, says in [
        ("full-plain", "not of the form"),
        ("full - ghost", "not declared: ghost"),
        ("full - full", "with itself"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_comparisons([bad], arms)
    with pytest.raises(ValueError, match="declared twice"):
        parse_comparisons(["full - plain", "full - plain"], arms)


def test_noise_floor_rows_under_arms_with_several_seeds(variant_tables):
    main = variant_tables[0]
    assert [r.label for r in main.rows[:5]] == ["base", "base: seed sd", "film", "full", "full: seed sd"]
    noise = _row(main, "full: seed sd")
    assert noise.source == "noise" and noise.n == "2 seeds"
    assert noise.cells["subject_consistency"].mean == pytest.approx(math.sqrt(2))  # percent
    assert "noise floor" in " ".join(main.footnotes)


def test_a_set_level_metric_has_no_interval(variant_tables):
    other, other_diff = variant_tables[4], variant_tables[5]
    fvd = _cell(other, "full", "fvd")
    assert fvd.basis == "set" and fvd.mean == pytest.approx(310.0) and math.isnan(fvd.low)
    assert format_cell(fvd, metric_info("fvd")) == "310.0 (set)"
    assert any(n.startswith("(set): FVD has no per-video value") for n in other.footnotes)
    delta = _cell(other_diff, "full", "fvd")
    assert delta.mean == pytest.approx(-200.0) and not delta.significant and math.isnan(delta.low)
    assert "not in the Holm family" in " ".join(other_diff.footnotes)


def test_runs_without_per_sample_tables_fall_back_to_their_final_scores(store):
    runs, samples = load_runs("legacy", store["uri"]), load_samples("legacy", store["uri"])
    assert len(samples.attrs["without_samples"]) == 5 and set(samples["level"]) == {"run"}
    main, diff = build_tables(runs, "legacy", samples=samples)[:2]
    full = _cell(main, "full", "subject_consistency")
    assert full.basis == "runs" and full.mean == pytest.approx(96.0) and math.isnan(full.low)
    assert _row(main, "full").n == "2 runs" and _row(main, "no_eimg").n == "1 run"
    assert any(
        n.startswith("(runs): base, full, no_eimg logged no per-sample scores") for n in main.footnotes
    )
    assert _cell(diff, "full", "subject_consistency").mean == pytest.approx(15.0)
    assert not any(c.significant for r in diff.rows for c in r.cells.values())


def test_reference_arm(variants):
    runs, samples = variants
    s = summarize(runs, samples, reference="full").set_index(["track", "arm", "metric"])
    assert s.loc[("consistent_50s", "base", "subject_consistency"), "delta"] == pytest.approx(-0.15)
    with pytest.raises(ReportError, match="reference arm 'nope' has no finished run; finished arms: base"):
        summarize(runs, samples, reference="nope")


# -- layouts -------------------------------------------------------------------------------------


def test_vbench_layout(variant_tables):
    tables = variant_tables
    assert [t.title for t in tables] == [  # six VBench columns: two tables of three, that fit the page
        "consistent_50s: VBench dimensions, 1 of 2 (%)",
        "consistent_50s: VBench dimensions, 1 of 2, difference vs base (Δ, percentage points)",
        "consistent_50s: VBench dimensions, 2 of 2 (%)",
        "consistent_50s: VBench dimensions, 2 of 2, difference vs base (Δ, percentage points)",
        "consistent_50s: other metrics",
        "consistent_50s: other metrics, difference vs base (Δ)",
        "creative_50s: VBench dimensions (%)",  # four of them: one table
        "creative_50s: VBench dimensions, difference vs base (Δ, percentage points)",
    ]
    assert all(len(t.columns) <= MAX_COLUMNS for t in tables)
    main = _joined(tables[0], tables[2])
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
    assert [r.label for r in main.published] == [
        "Wan 2.1 (published)",
        "FramePack (published)",
        "SVI-Shot (published)",
        # Deep Forcing's Table 1 (VBench-Long, 60 s, MovieGen prompts), its own source in its note
        "LongLive (published)",
        "Rolling Forcing (published)",
        "Self Forcing (published)",
        "Deep Forcing (training-free) (published)",
    ]
    assert _cell(main, "LongLive (published)", "dynamic_degree").mean == 43.49
    notes = " ".join(main.footnotes)
    assert "(published): SVI paper" in notes and "(published): Deep Forcing paper (arXiv:2512.05081)" in notes
    assert [r.n for r in main.ours] == ["10×2", "10×1", "10×2"]
    assert _cell(main, "full", "subject_consistency").mean == pytest.approx(96.0)  # percent
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
    assert all(t.published == [] for t in tables if t.kind == "difference")  # published rows are never tested
    other = tables[4]
    assert [c.name for c in other.columns] == ["psnr", "fvd"] and not other.published  # the paper's order
    assert _cell(other, "full", "fvd").best and _cell(other, "full", "psnr").best  # fvd: lower is better
    assert "PSNR (dB): vbench-weights; FVD: random-init" in other.footnotes[0]
    creative = tables[6]
    assert [r.label for r in creative.published][:3] == [
        "Wan 2.1 (published)",
        "SVI-Film (published)",
        "SVI-Shot (published)",
    ]


def test_a_table_wider_than_the_page_is_split_by_what_its_metrics_measure():
    few = ["psnr", "ssim", "colour_shift"]
    assert column_parts(few, "colour_shift") == [("", few)]  # it fits: one table, the metric table's order
    many = ["psnr", "ssim", "fvd", "colour_shift", "sharpness_loss", "truth_distance", "delta_drift_aesthetic",
            "delta_drift_imaging", "vde_imaging", "vde_motion", "vde_aesthetic", "vde_background", "vde_subject",
            "subject_coherence", "background_coherence", "sync_c", "sync_d"]  # fmt: skip
    parts = column_parts(many, "colour_shift")  # the 17 "other metrics" of a long-video experiment
    assert parts[0] == ("drift", ["colour_shift", "sharpness_loss", "truth_distance"])  # the primary's first
    assert [name for name, _ in parts] == ["drift", "fidelity", "FVD", "drift protocols 1/2",
                                           "drift protocols 2/2", "coherence", "sync"]  # fmt: skip
    assert parts[3][1] == ["delta_drift_aesthetic", "delta_drift_imaging", "vde_imaging", "vde_motion"]
    assert all(len(m) <= MAX_COLUMNS for _, m in parts)
    assert sorted(m for _, ms in parts for m in ms) == sorted(many)  # every metric once


def test_declared_arm_order(variants):
    runs, samples = variants
    main, diff = build_tables(runs, "variants", declared=["full", "film"], samples=samples)[:2]
    assert [r.label for r in main.ours] == ["base", "full", "film"]  # the baseline stays first
    assert [r.label for r in diff.rows] == ["full", f"film ({ONE_SEED_NOTE})"]


def test_ablation_layout(ablation):
    runs, samples = ablation
    tables = build_tables(runs, "ablation_eimg", samples=samples)
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
    other = tables[2]
    assert [c.name for c in other.columns] == ["dynamic_degree", "motion_smoothness", "psnr", "fvd"]
    assert build_tables(runs, "ablation_eimg", layout="vbench", samples=samples)[0].layout == "vbench"
    with pytest.raises(ValueError, match="unknown layout"):
        build_tables(runs, layout="wide", samples=samples)


# -- writers -------------------------------------------------------------------------------------


def test_writers(variant_tables):
    main, diff = variant_tables[:2]
    md = to_markdown(main)
    shown = format_cell(_cell(main, "full", "subject_consistency"), metric_info("subject_consistency"))
    assert f"| **{shown}** |" in md and shown.startswith("96.00 [")
    assert "| base | 10×2 | 81.00 [" in md
    assert "| *full: seed sd* | 2 seeds | 1.41 |" in md
    assert "| SVI-Shot (published) | – | 98.13 |" in md
    assert md.index("| full |") < md.index("(published) |")
    assert "Backend: Sub. Cons, Back. Cons, Aest: vbench-weights." in md
    assert "95% interval for the crossed design" in md
    diff_md = to_markdown(diff)
    assert "| full | 10×2 | +15.00 [+15.00, +15.00]* |" in diff_md
    assert "Satterthwaite degrees of freedom" in diff_md and "Holm-adjusted p < 0.05" in diff_md
    tex = to_latex(main)
    assert r"\toprule" in tex and r"\bottomrule" in tex and rf"\textbf{{{shown}}}" in tex
    assert r"\caption{consistent\_50s: VBench dimensions, 1 of 2 (\%)}" in tex and r"10$\times$2" in tex
    assert r"\emph{SVI-Shot (published)}" in tex
    assert r"$\Delta$" in to_latex(diff)
    html = to_html(main)
    assert f"<td><b>{shown}</b></td>" in html and '<tbody class="published">' in html
    assert '<tbody class="difference">' in to_html(diff)


def test_format_cell_and_escape():
    info = metric_info("subject_consistency")
    assert format_cell(Cell(96.0, 95.0, 97.0), info) == "96.00 [95.00, 97.00]"
    assert format_cell(Cell(96.0, 95.0, 97.0, n="3×2"), info) == "96.00 [95.00, 97.00] (n=3×2)"
    assert format_cell(Cell(90.0), info) == "90.00"
    assert format_cell(Cell(1.2, 0.4, 2.0, significant=True), info, signed=True) == "+1.20 [+0.40, +2.00]*"
    assert format_cell(Cell(-0.5, -1.25, 0.25), info, signed=True) == "-0.50 [-1.25, +0.25]"
    assert format_cell(Cell(310.0, basis="set"), metric_info("fvd")) == "310.0 (set)"
    assert format_cell(None, info) == "–"
    assert latex_escape("no_eimg & 50% #1 {x}") == r"no\_eimg \& 50\% \#1 \{x\}"
    assert metric_info("new_metric").higher_is_better is None  # unknown: shown, never ranked


def test_drift_metrics_are_labelled_and_the_lowest_is_best():
    """Drift metrics come from the metric table: lower is better, so the lowest mean is marked. A runs
    frame alone (no per-sample scores) gives each run's final score without an interval."""
    drift = ("colour_shift", "sharpness_loss", "truth_distance")

    def run(arm, role, values):
        scores = {f"consistent_50s/{m}": v for m, v in zip(drift, values)}
        return {"arm": arm, "seed": 0, "role": role, "status": "FINISHED", "backends": {}, **scores}

    runs = pd.DataFrame([run("base", "baseline", (0.08, 0.30, 0.20)), run("full", "arm", (0.02, 0.05, 0.10))])
    table, diff = build_tables(runs, "variants")
    assert [c.name for c in table.columns] == list(drift)
    assert all(_cell(table, "full", m).best and not _cell(table, "base", m).best for m in drift)
    md = to_markdown(table)
    assert "Colour shift ↓" in md and "Truth distance ↓" in md and "**0.0200 (runs)**" in md
    assert _cell(diff, "full", "colour_shift").mean == pytest.approx(-0.06)


def test_published_rows_beside_stand_in_networks_are_marked_not_comparable():
    values = {"base": {"sync_c": np.full((4, 2), 0.02)}, "svi": {"sync_c": np.full((4, 2), 0.03)}}
    runs, samples = frames(values, track="conditional_talk_300s")
    official = build_tables(runs, samples=samples)[0]
    assert [r.label for r in official.published] == ["SVI-Talk (published)"]
    runs["backends"] = [{"sync_c": "toy-syncnet"}] * len(runs)
    toy = build_tables(runs, samples=samples)[0]
    assert [r.label for r in toy.published] == ["SVI-Talk (published; not comparable)"]
    assert "Not comparable: our numbers here come from stand-in networks" in " ".join(toy.footnotes)
    runs["backends"] = [{"sync_c": "syncnet_v2+opencv-haar"}] * len(runs)  # not the reference S3FD
    assert build_tables(runs, samples=samples)[0].published[0].label.endswith("(published; not comparable)")
