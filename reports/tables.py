"""Comparison tables with their uncertainty, from per-sample scores, in the paper's layouts.

Per track, each table of arms comes with a table of differences against the reference arm (the
baseline-role arm unless told otherwise):
    arms         mean over samples and seeds [95% interval for the crossed design], n = samples×seeds,
                 a "seed sd" row (the arm's noise floor) under an arm with several seeds, the best mean
                 in bold, and the published rows below ours ("(published)": never marked, averaged or
                 tested)
    differences  Δ = arm - reference [95% crossed-design interval], * where its Holm-adjusted p is < 0.05
                 over the report's family (every tested (arm, track, metric) difference; with a declared
                 primary metric, its differences form a family of their own) and the interval holds
                 both arms' training variance
    declared     the experiment's own comparisons between two arms (`comparisons: ["full - plain"]`),
                 computed, tested and Holm-corrected in the same families as the differences
Samples and seeds are crossed factors (one trained model per seed, shared by every sample): the
intervals are `reports/stats.py`'s variance-components intervals with Satterthwaite degrees of freedom.
A fine-tuned arm with one seed has no estimate of its training variance: its row says so and its
differences are never starred. A metric with no per-video value (FVD, a statistic of the whole set)
shows the set value without an interval, and so do runs logged before per-sample tables existed; their
footnotes say so.

Layouts (docs/method.md §9): `vbench` = Table 1's six VBench dimensions in percent; `ablation` = the
ablation's four (Sub. Cons / Back. Cons / Aest / Img); every other metric of a track goes to an extra
table. Only FINISHED runs count. Writers: Markdown, LaTeX (booktabs), HTML; `summarize` gives the raw
numbers for CSV. Names from data (arms, tracks, metrics, backends) are written as text in every format
(`reports/escape.py`), and a number is shown as what it is: NaN is the missing dash, an infinity or a
value beyond a float in display units (1e308 x 100) says so.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports import published
from reports import stats as S
from reports.escape import Words, csv_cell, csv_value, html_text, latex_text, markdown_text, plain, words
from reports.frames import (
    FINISHED,
    RUN_LEVEL,
    SAMPLE_FRAME_COLUMNS,
    VIDEO_LEVEL,
    ReportError,
    split_comparison,
    split_score_key,
    track_sort_key,
)
from scoring.specs import SPECS, MetricSpec, best_of, has_direction

LAYOUTS = ("auto", "vbench", "ablation")
NAN = float("nan")

# What a cell's numbers rest on.
PER_SAMPLE = "samples"  # per-video scores: an interval over samples, a bootstrap difference
SET = "set"  # a metric without per-video values (FVD): the set value per run, no interval
RUNS = "runs"  # runs logged without per-sample tables: each run's final score, no interval
# What a difference's interval holds of the arms' training variance (column `training_variance`).
IN_INTERVAL = "in interval"  # both arms ran several seeds: the seed component is estimated
ONE_SEED = "1 seed"  # a fine-tuned arm ran one seed: its training variance is not in the interval
UNTRAINED = "untrained"  # neither arm was trained: a seed changes only the sampling noise
ONE_SEED_NOTE = "1 seed: training variance not in the interval"
# What a summary row's difference is (column `contrast`).
VS_REFERENCE = "reference"  # the arm against the reference arm (every arm has one)
DECLARED = "declared"  # a comparison the experiment declares between two arms (`comparisons`)

SUMMARY_COLUMNS = [
    "track",
    "suite",
    "length",
    "arm",
    "role",
    "metric",
    "basis",
    "mean",
    "low",
    "high",
    "n",
    "n_samples",
    "n_seeds",
    "seed_sd",
    "reference",
    "contrast",
    "delta",
    "delta_low",
    "delta_high",
    "delta_n_samples",
    "delta_se",
    "delta_df",
    "training_variance",
    "var_sample",
    "var_seed",
    "var_residual",
    "mdd",
    "p",
    "family",
    "p_holm",
    "significant",
    "backend",
]


def csv_cells(df: pd.DataFrame) -> pd.DataFrame:
    """`df` as a report writes it to CSV: every text cell, and every column name, through
    `escape.csv_cell` (a spreadsheet shows `=cmd` as text, not as a formula); numeric and boolean
    columns as they are, so a negative number stays a number."""
    out = df.rename(columns=csv_cell)
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):  # bool is numeric here
            out[col] = out[col].map(csv_cell)
    return out


def from_csv_cells(df: pd.DataFrame) -> pd.DataFrame:
    """A frame read back from a report's CSV (results.csv) with its names as they were: `csv_cells`
    undone (`escape.csv_value`)."""
    out = df.rename(columns=csv_value)
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(csv_value)
    return out


def metric_info(name: str) -> MetricSpec:
    """Display facts of a metric (label, scale, decimals, direction: its row in the metric table,
    scoring/specs.py); unknown metrics are shown raw, 4 decimals, without a best mark."""
    return SPECS.get(name) or MetricSpec(name, "", name, 1.0, None, 4)


@dataclass
class Cell:
    mean: float  # display units; in a difference table, the arm minus the reference
    low: float = NAN  # the 95% interval in display units; NaN where there is none
    high: float = NAN
    n: str | None = None  # this cell's samples×seeds where it differs from its row's
    basis: str = PER_SAMPLE  # PER_SAMPLE | SET | RUNS
    best: bool = False
    significant: bool = False  # difference tables: Holm-adjusted p < 0.05


@dataclass
class Row:
    label: str
    source: str  # "ours" | "noise" (seed sd of the arm above) | "degenerate" | "published" | "difference"
    n: str | None  # "samples×seeds" (e.g. "4×2"), "2 runs" without per-sample scores; None if published
    cells: dict[str, Cell]
    role: str = "arm"


@dataclass
class Table:
    title: str
    track: str
    layout: str  # "vbench" | "ablation" | "other"
    columns: list[MetricSpec]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)
    kind: str = "arms"  # "arms" | "difference"
    reference: str | None = None  # the arm the differences are against

    @property
    def ours(self) -> list[Row]:
        return [r for r in self.rows if r.source == "ours"]

    @property
    def published(self) -> list[Row]:
        return [r for r in self.rows if r.source == "published"]


# -- which runs, arms and metrics ----------------------------------------------------------------


def finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == FINISHED]


def not_finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] != FINISHED]


def arm_order(runs: pd.DataFrame, declared: list[str] | None = None) -> list[str]:
    """Baseline arms first, then the declared order (when given), then the rest alphabetically."""
    arms = list(dict.fromkeys(runs["arm"]))
    baseline = set(runs.loc[runs["role"] == "baseline", "arm"])
    rank = {a: i for i, a in enumerate(declared or [])}
    return sorted(arms, key=lambda a: (a not in baseline, rank.get(a, len(rank)), a))


def reference_arm(
    runs: pd.DataFrame, declared: list[str] | None = None, reference: str | None = None
) -> str | None:
    """The arm differences are taken against: `reference`, else the first baseline-role arm, else the
    first arm in the declared order; None with fewer than two finished arms."""
    arms = arm_order(finished(runs), declared)
    if reference is not None:
        if reference not in arms:
            raise ReportError(
                f"reference arm {reference!r} has no finished run; finished arms: {', '.join(arms) or '(none)'}"
            )
        return reference
    return arms[0] if len(arms) > 1 else None


def parse_comparisons(items: list[str], arms: list[str]) -> list[tuple[str, str]]:
    """An experiment's declared comparisons ("full - plain": the arm full minus the arm plain) as
    (arm, other) pairs; a ValueError naming the item and the declared arms when one does not parse,
    names an undeclared arm, compares an arm with itself or repeats."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        a, b = split_comparison(item)
        unknown = [x for x in (a, b) if x not in arms]
        if unknown:
            raise ValueError(
                f"comparison {item!r} names arm(s) not declared: {', '.join(unknown)}; arms: {', '.join(arms)}"
            )
        if a == b:
            raise ValueError(f"comparison {item!r} compares an arm with itself")
        if (a, b) in pairs:
            raise ValueError(f"comparison {item!r} is declared twice")
        pairs.append((a, b))
    return pairs


def vs_reference(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows of each arm against the reference arm (without the declared comparisons;
    a results.csv written before they existed has only these)."""
    if "contrast" not in summary:
        return summary
    return summary[summary["contrast"] != DECLARED]


def is_ablation(experiment: str | None, arms: list[str]) -> bool:
    """Ablation experiments: named ablation* or with arms that remove an error type (no_e*)."""
    return bool(experiment and experiment.startswith("ablation")) or any(a.startswith("no_e") for a in arms)


def resolve_layout(layout: str, experiment: str | None, runs: pd.DataFrame) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        return "ablation" if is_ablation(experiment, list(runs["arm"].unique())) else "vbench"
    return layout


def _metric_order(metrics) -> list[str]:
    known = [m for m in SPECS if m in metrics]
    return known + sorted(m for m in metrics if m not in SPECS)


def table_metrics(present, layout: str) -> tuple[list[str], list[str]]:
    """A track's metrics split into the main table's (the layout's columns) and the other table's."""
    main_metrics = published.ABLATION_FOUR if layout == "ablation" else published.VBENCH_SIX
    main = [m for m in main_metrics if m in present]
    return main, _metric_order(set(present) - set(main))


# The most metric columns one table has: beside the arm's name and n, four cells with their intervals
# fit the documentation's text column (about 690 px at 1400 px; tests/test_site_layout.py checks it).
MAX_COLUMNS = 4
# Short names of the metric groups (scoring/specs.py), in a split table's title.
GROUP_NAMES = {
    "vbench": "VBench", "i2v": "VBench-I2V", "psnr_ssim": "fidelity", "sync": "sync", "fvd": "FVD",
    "drift": "drift", "drift_protocols": "drift protocols", "coherence": "coherence", "guards": "guards",
}  # fmt: skip


def column_parts(metrics: list[str], primary: str | None = None) -> list[tuple[str, list[str]]]:
    """A table's metrics -> [(part name, metrics)]: [("", metrics)] when they fit one table (at most
    MAX_COLUMNS), else one part per metric group (scoring/specs.py: what the metrics measure), the
    primary metric's group first and the primary first in it, a group wider than MAX_COLUMNS in
    near-equal parts ("drift protocols 1/2")."""
    if len(metrics) <= MAX_COLUMNS:
        return [("", metrics)]
    groups: dict[str, list[str]] = {}
    for m in sorted(metrics, key=lambda m: m != primary):  # stable: the metric table's order otherwise
        groups.setdefault(metric_info(m).group or "other", []).append(m)
    parts = []
    for group, names in groups.items():
        n = math.ceil(len(names) / MAX_COLUMNS)
        size = math.ceil(len(names) / n)
        for i in range(n):
            label = GROUP_NAMES.get(group, group) + (f" {i + 1}/{n}" if n > 1 else "")
            parts.append((label, names[i * size : (i + 1) * size]))
    return parts


def run_samples(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs frame's final scores as `runs.load_samples` rows of level 'run' (no per-sample values):
    what the tables fall back to when no per-sample tables were read."""
    rows = []
    for rec in runs.to_dict("records"):
        for col, value in rec.items():
            parts = split_score_key(col)
            if parts is None or value is None or pd.isna(value):
                continue
            rows.append(
                {
                    "arm": rec["arm"],
                    "role": rec.get("role", "arm"),
                    "seed": rec.get("seed"),
                    "run_id": rec.get("run_id", f"{rec['arm']}-{rec.get('seed')}"),
                    "status": rec.get("status", FINISHED),
                    "track": parts[0],
                    "sample": None,
                    "level": RUN_LEVEL,
                    "window": None,
                    "metric": parts[3],
                    "value": float(value),
                    "seconds": NAN,
                }
            )
    return pd.DataFrame(rows, columns=SAMPLE_FRAME_COLUMNS)


# -- statistics per arm and per difference -------------------------------------------------------


@dataclass
class ArmValues:
    """One arm's values of one (track, metric)."""

    basis: str
    matrix: pd.DataFrame | None  # [samples, seeds] per-video values (PER_SAMPLE), NaN where missing
    per_run: pd.Series  # seed -> the run's final score (SET, RUNS)
    n_samples: int | None  # videos the arm scored on the track (None without per-sample tables)

    def series(self) -> pd.Series:
        """The per-sample values indexed by (sample, seed), as `stats.crossed_difference` takes them."""
        return self.matrix.stack().rename("value")


def _arm_values(rows: pd.DataFrame, videos: int | None) -> ArmValues | None:
    """rows: one arm's `load_samples` rows of one (track, metric); videos: how many samples the arm
    has per-sample rows for on the track (any metric), None when it logged no per-sample table there:
    a metric with a table but no per-video value is set-level, one without a table is a legacy run."""
    video = rows[(rows["level"] == VIDEO_LEVEL) & rows["value"].notna()]
    per_run = rows[(rows["level"] == RUN_LEVEL) & rows["value"].notna()].groupby("seed")["value"].mean()
    if not video.empty:
        matrix = video.groupby(["sample", "seed"])["value"].mean().unstack("seed")
        return ArmValues(PER_SAMPLE, matrix, per_run, int(matrix.shape[0]))
    if per_run.empty:
        return None
    return ArmValues(SET if videos else RUNS, None, per_run, videos)


def _arm_stats(v: ArmValues) -> dict:
    if v.basis == PER_SAMPLE:
        est = S.crossed_mean(v.matrix.to_numpy(dtype=float))
        seeds = int(v.matrix.notna().any().sum())
        return {
            "basis": v.basis,
            "mean": float(np.nanmean(v.matrix.mean(axis=1))),  # every sample, each its seeds averaged
            "low": est.low,
            "high": est.high,
            "n": int(v.matrix.count().sum()),
            "n_samples": v.n_samples,
            "n_seeds": seeds,
            "seed_sd": S.seed_spread(v.matrix.to_numpy()),
        }
    values = v.per_run.to_numpy(dtype=float)
    return {
        "basis": v.basis,
        "mean": float(values.mean()),
        "low": NAN,
        "high": NAN,
        "n": len(values),
        "n_samples": v.n_samples,
        "n_seeds": len(values),
        "seed_sd": S.seed_spread(values[None, :]),
    }


def training_variance(ref_seeds: int, arm_seeds: int, ref_trained: bool, arm_trained: bool) -> str:
    """What a difference's interval holds of the training variance (IN_INTERVAL, ONE_SEED, UNTRAINED)."""
    if not (ref_trained or arm_trained):
        return UNTRAINED
    if (ref_trained and ref_seeds < 2) or (arm_trained and arm_seeds < 2):
        return ONE_SEED
    return IN_INTERVAL


def _difference(
    ref: ArmValues, arm: ArmValues, ref_mean: float, arm_mean: float, trained: tuple[bool, bool]
) -> dict:
    """arm - ref: the crossed-design interval over their common samples, else the difference of means."""
    if ref.basis == arm.basis == PER_SAMPLE:
        common = ref.matrix.index.intersection(arm.matrix.index)
        if len(common):
            d = S.crossed_difference(ref.series(), arm.series())
            seeds = (int(ref.matrix.notna().any().sum()), int(arm.matrix.notna().any().sum()))
            c = d.components
            return {
                "delta": d.mean,
                "delta_low": d.low,
                "delta_high": d.high,
                "delta_n_samples": d.n_samples,
                "delta_se": d.se,
                "delta_df": d.df,
                "training_variance": training_variance(*seeds, *trained),
                "var_sample": c.sample,
                "var_seed": c.seed,
                "var_residual": c.residual,
                "mdd": S.mdd(c, d.n_samples, d.n_seeds),
                "p": d.p,
            }
    return {
        "delta": arm_mean - ref_mean,
        "delta_low": NAN,
        "delta_high": NAN,
        "delta_n_samples": NAN,
        "p": NAN,
    }


def _backend(runs: pd.DataFrame, arm: str, metric: str) -> str:
    """The `metric_backend.<metric>` tags of the arm's finished runs; '; '-joined when they differ."""
    done = finished(runs)
    found = {
        b.get(metric, "unknown") for b in done.loc[done["arm"] == arm, "backends"] if isinstance(b, dict)
    }
    return "; ".join(sorted(found)) or "unknown"


def summarize(
    runs: pd.DataFrame,
    samples: pd.DataFrame | None = None,
    declared: list[str] | None = None,
    *,
    experiment: str | None = None,
    layout: str = "auto",
    reference: str | None = None,
    primary: str | None = None,
    comparisons: list[tuple[str, str]] | None = None,
    hypotheses: list[dict] | None = None,
) -> pd.DataFrame:
    """Raw numbers per (track, arm, metric) over FINISHED runs, on the logged scale.

    runs: `load_runs`' frame (roles, backends); samples: `load_samples`' frame (default: the runs'
    final scores only, which gives no intervals). Columns (SUMMARY_COLUMNS): track, suite, length,
    arm, role, metric; basis (samples | set | runs); mean, low, high (95% crossed-design interval, NaN
    without per-sample values); n (values: samples×seeds, or runs), n_samples, n_seeds; seed_sd (the
    noise floor, NaN for one seed); reference (the arm differences are against); contrast
    (VS_REFERENCE, or DECLARED: a row of `comparisons`, (arm, other) pairs, whose reference is the
    other arm; the pairs that are already an arm against the reference arm are not repeated); delta = arm -
    reference, delta_low, delta_high (95% crossed-design interval), delta_n_samples, delta_se,
    delta_df (Satterthwaite), training_variance (IN_INTERVAL | ONE_SEED | UNTRAINED), var_sample,
    var_seed, var_residual (the difference's variance components), mdd (minimum detectable difference
    at 80% power for this n), p (t test), family (primary | secondary | all), p_holm (Holm within the
    family), significant (p_holm < 0.05 and the training variance not left out); backend. The
    reference arm's own rows have no difference. `primary`: the declared primary metric (its
    differences are a family of their own).
    """
    layout = resolve_layout(layout, experiment, runs)
    samples = run_samples(runs) if samples is None else samples
    # per-window rows are the drift plots'; the tables read the per-video and per-run ones
    done = samples[(samples["status"] == FINISHED) & samples["level"].isin([VIDEO_LEVEL, RUN_LEVEL])]
    order = arm_order(runs, declared)
    ref = reference_arm(runs, declared, reference)
    videos = done[done["level"] == VIDEO_LEVEL].groupby(["track", "arm"])["sample"].nunique().to_dict()
    trained = trained_arms(runs)
    roles = {
        a: "baseline" if (runs.loc[runs["arm"] == a, "role"] == "baseline").any() else "arm" for a in order
    }
    rank = {m: i for i, m in enumerate(SPECS)}
    pairs = sorted(
        set(zip(done["track"], done["metric"])),
        key=lambda tm: (track_sort_key(tm[0]), rank.get(tm[1], len(rank)), tm[1]),
    )
    # each (track, metric)'s rows and each arm's among them, split once (a boolean mask over every row
    # for each pair and arm took most of a page's time); groupby keeps the rows in their order
    by_pair = dict(tuple(done.groupby(["track", "metric"], sort=False, dropna=False)))
    out = []
    for track, metric in pairs:
        sub = by_pair[(track, metric)]
        by_arm = dict(tuple(sub.groupby("arm", sort=False, dropna=False)))
        values = {a: _arm_values(by_arm.get(a, sub.iloc[:0]), videos.get((track, a))) for a in order}
        arm_stats = {a: _arm_stats(v) for a, v in values.items() if v is not None}
        _, suite, length, _ = split_score_key(f"{track}/{metric}")
        for arm, st in arm_stats.items():
            row = {"track": track, "suite": suite, "length": length, "arm": arm, "metric": metric, **st}
            row["role"] = roles[arm]
            row["reference"], row["contrast"] = ref, VS_REFERENCE
            if ref is not None and arm != ref and ref in arm_stats:
                row.update(
                    _difference(
                        values[ref], values[arm], arm_stats[ref]["mean"], st["mean"],
                        (trained.get(ref, True), trained.get(arm, True)),
                    )
                )  # fmt: skip
            row["backend"] = _backend(runs, arm, metric)
            out.append(row)
        for arm, other in comparisons or []:
            if other == ref or arm not in arm_stats or other not in arm_stats:
                continue  # already in the reference rows, or an arm with nothing finished
            row = {"track": track, "suite": suite, "length": length, "arm": arm, "metric": metric}
            row.update(arm_stats[arm], role=roles[arm], reference=other, contrast=DECLARED)
            row["backend"] = _backend(runs, arm, metric)
            row.update(
                _difference(
                    values[other], values[arm], arm_stats[other]["mean"], arm_stats[arm]["mean"],
                    (trained.get(other, True), trained.get(arm, True)),
                )
            )  # fmt: skip
            out.append(row)
    df = pd.DataFrame(out, columns=SUMMARY_COLUMNS)
    return _with_holm(df, primary, hypotheses)


def trained_arms(runs: pd.DataFrame) -> dict[str, bool]:
    """arm -> whether it was fine-tuned: the runs' `trained` tag, else (runs logged before the tag) its
    role (a baseline is the untuned base model)."""
    out = {}
    for arm, rows in runs.groupby("arm"):
        tags = rows["trained"].dropna() if "trained" in rows else pd.Series(dtype=object)
        out[arm] = bool(tags.iloc[0]) if len(tags) else bool((rows["role"] != "baseline").any())
    return out


REGISTERED, EXPLORATORY = "pre-registered", "exploratory"
DIFFERENCE_COLUMNS = (
    "delta", "delta_low", "delta_high", "delta_n_samples", "delta_se", "delta_df", "var_sample", "var_seed",
    "var_residual", "mdd", "p", "p_holm",
)  # fmt: skip


def blinded(summary: pd.DataFrame) -> pd.DataFrame:
    """`summary` with every difference, its test and its components blanked (NaN) and nothing marked:
    what a pre-registered experiment shows before its last unit is in (a fixed-n stopping rule)."""
    out = summary.copy()
    for column in DIFFERENCE_COLUMNS:
        if column in out:
            out[column] = np.nan
    out["significant"] = False
    return out


PREREGISTERED_FAMILY = "preregistered"


def hypothesis_name(comparison: str, metric: str, track: str | None = None) -> str:
    """How a registration names a hypothesis ("full - plain on colour_shift (creative_100s)"): written
    by `harness plan --preregister`, read back by the report's planner check."""
    return f"{comparison} on {metric}" + (f" ({track})" if track else "")


def registered_rows(df: pd.DataFrame, hypotheses: list[dict]) -> dict[int, str]:
    """Row index -> direction of every tested difference a hypothesis names (its comparison, metric
    and track, or every track)."""
    out = {}
    for h in hypotheses:
        arm, other = split_comparison(h["comparison"])
        mask = (df["arm"] == arm) & (df["reference"] == other) & (df["metric"] == h["metric"])
        if h.get("track"):
            mask &= df["track"] == h["track"]
        for i in df.index[mask & df["p"].notna()]:
            out[i] = h.get("direction", "two-sided")
    return out


def _with_holm(
    df: pd.DataFrame, primary: str | None = None, hypotheses: list[dict] | None = None
) -> pd.DataFrame:
    """family, p_holm and significant: Holm over every tested difference of the report (each arm,
    track and metric), or, with a declared primary metric, over its differences and over the rest
    (secondary) separately. A difference whose interval leaves out a fine-tuned arm's training
    variance (one seed) is shown with its p but never marked. With pre-registered `hypotheses`
    (harness/declare/preregistration.py), the differences they name form a family of their own
    (PREREGISTERED_FAMILY), tested one-sided where they state a direction (column `direction`), and
    every row says whether it is pre-registered or exploratory (column `registration`)."""
    df = df.copy()
    df["family"] = "all" if primary is None else np.where(df["metric"] == primary, "primary", "secondary")
    if hypotheses:
        named = registered_rows(df, hypotheses)
        df["registration"], df["direction"] = EXPLORATORY, "two-sided"
        for i, direction in named.items():
            df.loc[i, ["family", "registration", "direction"]] = [PREREGISTERED_FAMILY, REGISTERED, direction]
            df.loc[i, "p"] = S.directed_p(
                df.at[i, "delta"], df.at[i, "delta_se"], df.at[i, "delta_df"], direction
            )
    df["p_holm"] = np.nan
    for _, idx in df.groupby("family").groups.items():
        df.loc[idx, "p_holm"] = S.holm(df.loc[idx, "p"].to_numpy(dtype=float))
    df["significant"] = (df["p_holm"] < S.ALPHA) & (df["training_variance"] != ONE_SEED)  # NaN: False
    return df


# -- tables --------------------------------------------------------------------------------------


def n_text(n_samples, n_seeds) -> str:
    """'4×2' (samples × seeds), or '2 runs' where the samples are unknown."""
    if n_samples is None or pd.isna(n_samples):
        return f"{int(n_seeds)} run{'s' if int(n_seeds) != 1 else ''}"
    return f"{int(n_samples)}×{int(n_seeds)}"


def _mark_best(rows: list[Row], columns: list[MetricSpec]) -> None:
    for info in columns:
        if not has_direction(info.name):
            continue
        # compare what the reader sees, so two means that print the same are both marked
        shown = {id(r): round(r.cells[info.name].mean, info.decimals) for r in rows if info.name in r.cells}
        if len(shown) < 2:
            continue
        top = best_of(info.name, shown)
        if top is None:
            continue
        best = shown[top]
        for r in rows:
            if shown.get(id(r)) == best:
                r.cells[info.name].best = True


def _backend_note(summary: pd.DataFrame, columns: list[MetricSpec]) -> str:
    """Which backend produced each column; per arm where the arms differ."""
    groups: dict[str, list[str]] = {}
    for info in columns:
        sub = summary[summary["metric"] == info.name]
        per_arm = dict(zip(sub["arm"], sub["backend"]))
        kinds = set(per_arm.values())
        if len(kinds) == 1:
            key = next(iter(kinds))
        else:
            key = ", ".join(
                f"{b} ({', '.join(a for a, x in per_arm.items() if x == b)})" for b in sorted(kinds)
            )
        groups.setdefault(key, []).append(info.label)
    parts = [f"{', '.join(labels)}: {backend}" for backend, labels in groups.items()]
    note = "Backend: " + "; ".join(parts) + "."
    if any(";" in b for b in summary["backend"]):
        note += " Warning: some arms average seeds scored with different backends; rescore them with one."
    return plain(note)  # metric labels, backend and arm names; our words here have no markup


def _published_rows(
    table: published.PublishedTable, columns: list[MetricSpec], comparable: bool
) -> list[Row]:
    names = {c.name for c in columns}
    tag = "published" if comparable else "published; not comparable"
    rows = []
    for prow in table.rows:
        cells = {m: Cell(v) for m, v in prow.values.items() if m in names}
        if cells:
            rows.append(Row(f"{prow.label} ({tag})", "published", None, cells))
    return rows


def _published_note(table: published.PublishedTable, comparable: bool) -> str:
    note = (
        f"(published): {table.source}, {table.where}, as printed there; not produced by this harness, "
        "not averaged, ranked or tested with our rows; the paper's lengths and backends may differ from this run's."
    )
    if not comparable:
        note += (
            " Not comparable: our numbers here come from stand-in networks (toy-world or random-init) or "
            "another face detector (Haar for S3FD), not the published networks: different scales."
        )
    return note


# Backends whose scores are not on the published networks' scale: stand-in networks (toy-world, random
# init) and Sync-C/D with OpenCV's Haar face detector instead of the reference's S3FD.
NOT_COMPARABLE = ("toy", "random", "haar")


def comparable_backends(backends) -> bool:
    """Whether scores from these backends are on the published networks' scale."""
    return not any(mark in str(b) for b in backends for mark in NOT_COMPARABLE)


def _row_n(cells: list[str]) -> str | None:
    """The n most of a row's cells have (the row's n column); cells that differ show their own."""
    return Counter(cells).most_common(1)[0][0] if cells else None


def _labels(sub: pd.DataFrame, basis: str) -> str:
    names = _metric_order(set(sub.loc[sub["basis"] == basis, "metric"]))
    return ", ".join(metric_info(m).label for m in names)


def _basis_notes(sub: pd.DataFrame) -> list[str]:
    notes: list[str] = []
    if (sub["basis"] == SET).any():
        notes.append(
            plain(
                f"(set): {_labels(sub, SET)} has no per-video value (a statistic of the whole set of videos): "
                "the cell is the set value, averaged over seeds where there are several, without an interval."
            )
        )
    if (sub["basis"] == RUNS).any():
        notes.append(
            words(
                "(runs): {} logged no per-sample scores (runs from before the harness logged them): the cell "
                "is the mean of the runs' final scores, without an interval. Re-run `harness run` (finished "
                "stages are skipped) to log them.",
                ", ".join(sorted(set(sub.loc[sub["basis"] == RUNS, "arm"]))),
            )
        )
    return notes


def _arms_table(title, track, layout, metrics, sub, order, pubs, degenerate=None) -> Table:
    """One track's arms; `pubs`: the published tables shown below them (None entries skipped);
    `degenerate(track, columns)`: the degenerate references' rows, shown below the arms."""
    columns = [metric_info(m) for m in metrics]
    rows: list[Row] = []
    for arm in (a for a in order if a in set(sub["arm"])):
        arm_rows = sub[sub["arm"] == arm]
        ns = {r.metric: n_text(r.n_samples, r.n_seeds) for r in arm_rows.itertuples()}
        row_n = _row_n(list(ns.values()))
        cells, noise = {}, {}
        for rec in arm_rows.itertuples():
            scale = metric_info(rec.metric).scale
            n = ns[rec.metric] if ns[rec.metric] != row_n else None
            cells[rec.metric] = Cell(
                scaled(rec.mean, scale), scaled(rec.low, scale), scaled(rec.high, scale), n, rec.basis
            )
            if not math.isnan(rec.seed_sd):
                noise[rec.metric] = Cell(scaled(rec.seed_sd, scale))
        rows.append(Row(arm, "ours", row_n, cells, arm_rows["role"].iloc[0]))
        if noise:
            seeds = int(arm_rows["n_seeds"].max())
            rows.append(Row(f"{arm}: seed sd", "noise", f"{seeds} seeds", noise, arm_rows["role"].iloc[0]))
    _mark_best([r for r in rows if r.source == "ours"], columns)
    notes: list[str] = [_backend_note(sub, columns)]
    if any(c.scale == 100.0 for c in columns):
        notes.append("VBench dimensions in percent (logged on 0-1, x100).")
    if (sub["basis"] == PER_SAMPLE).any():
        notes.append(
            "Cells: mean over samples (prompts / scenes) and seeds [95% interval for the crossed design: "
            "samples and seeds crossed, variance components with Satterthwaite degrees of freedom; with one "
            "seed, the t-interval over samples]; n = samples×seeds; the best mean of our rows in bold."
        )
    if any(r.source == "noise" for r in rows):
        notes.append(
            "seed sd: the standard deviation over seeds of the arm's mean over samples, its seed-to-seed "
            "noise floor: a difference smaller than it is within what changing the seed alone does."
        )
    for m in metrics:
        if metric_info(m).binary and (sub.loc[sub["metric"] == m, "basis"] == PER_SAMPLE).any():
            notes.append(
                words(
                    "{} is 0 or 1 per video: its mean is the fraction of videos scoring 1 and its t-interval "
                    "is approximate.",
                    metric_info(m).label,
                )
            )
    notes += _basis_notes(sub)
    refs = degenerate(track, columns) if degenerate is not None else []
    if refs:
        rows += refs
        notes.append(
            "(no model): the degenerate references, videos made with no model (frozen: the input image held; "
            "loop: the baseline's first clip repeated; pingpong: played forward and back; truth: the true "
            "continuation); mean over their videos, never marked, averaged or tested."
        )
    comparable = comparable_backends(sub["backend"])
    for pub in (p for p in pubs if p is not None):
        pub_rows = _published_rows(pub, columns, comparable)
        if pub_rows:
            rows += pub_rows
            notes.append(_published_note(pub, comparable))
    return Table(title, track, layout, columns, rows, notes)


def _difference_cell(rec, ref_basis: str) -> Cell:
    """One metric's difference in display units; untested cells carry the basis that left them untested."""
    scale = metric_info(rec.metric).scale
    basis = PER_SAMPLE
    if pd.isna(rec.p):
        basis = rec.basis if rec.basis != PER_SAMPLE else ref_basis
    cell = Cell(
        scaled(rec.delta, scale), scaled(rec.delta_low, scale), scaled(rec.delta_high, scale), basis=basis
    )
    cell.significant = bool(rec.significant)
    return cell


def _difference_table(
    title,
    track,
    layout,
    metrics,
    sub,
    pairs: list[tuple[str, str]],
    family_size: dict,
    declared: bool = False,
) -> Table | None:
    """One row per (arm, other) of `pairs`: arm minus other, per metric; None when nothing can be
    compared. `sub`: the summary's rows of the track and metrics; `declared`: the pairs are the
    experiment's declared comparisons (rows named "arm - other"), else each arm against the reference
    arm (rows named by the arm). family_size: family name -> number of tested differences in it (the
    whole report's)."""
    columns = [metric_info(m) for m in metrics]
    own = vs_reference(sub)
    kind = DECLARED if declared else VS_REFERENCE
    diffs = sub[(sub["contrast"] == kind) & sub["delta"].notna()]
    rows: list[Row] = []
    compared = []
    for arm, other in pairs:
        arm_rows = diffs[(diffs["arm"] == arm) & (diffs["reference"] == other)]
        if arm_rows.empty:
            continue
        compared.append(arm_rows)
        other_rows = own[own["arm"] == other].set_index("metric")
        ns = {}
        for rec in arm_rows.itertuples():
            if pd.notna(rec.p):
                seeds = max(rec.n_seeds, other_rows.at[rec.metric, "n_seeds"])
                ns[rec.metric] = n_text(rec.delta_n_samples, seeds)
        row_n = _row_n(list(ns.values())) or DASH
        cells = {}
        for rec in arm_rows.itertuples():
            cells[rec.metric] = _difference_cell(rec, other_rows.at[rec.metric, "basis"])
            if ns.get(rec.metric, row_n) != row_n:
                cells[rec.metric].n = ns[rec.metric]
        label = f"{arm} - {other}" if declared else arm
        one_seed = (arm_rows["training_variance"] == ONE_SEED).any()
        rows.append(Row(f"{label} ({ONE_SEED_NOTE})" if one_seed else label, "difference", row_n, cells))
    if not rows:
        return None
    diffs = pd.concat(compared)
    tested = diffs[diffs["p"].notna()]
    ref = None if declared else pairs[0][1]
    units = (
        " in the columns' display units"
        + (" (VBench: percentage points)" if any(c.scale == 100.0 for c in columns) else "")
        + (": the mean over samples and seeds of the difference." if len(tested) else ".")
    )
    notes: list[str] = [
        "Δ = the first arm minus the second, for each comparison the experiment declares (`comparisons`)" + units
        if declared else words("Δ = arm - {} (the reference arm)" + units, ref),
        "↑ columns: Δ > 0 favours the " + ("first arm" if declared else "arm") + "; ↓ columns: Δ < 0 does.",
    ]  # fmt: skip
    if len(tested):
        families = sorted(set(tested["family"]))
        named = "; ".join(
            f"{family_size[f]} tested differences" + ("" if f == "all" else f" of the {f} metric(s)")
            for f in families
        )
        notes.insert(
            1,
            "[low, high]: 95% interval for the crossed design (samples and seeds crossed: one trained model "
            "per seed, shared by every sample): variance components with Satterthwaite degrees of freedom, "
            "paired by seed where both arms ran the same seeds. "
            f"*: Holm-adjusted p < {S.ALPHA:g} (two-sided t test) over the report's family ({named}). "
            "n = samples compared × most seeds per sample.",
        )
    if (tested["training_variance"] == ONE_SEED).any():
        notes.append(
            f"({ONE_SEED_NOTE}): a fine-tuned arm with one seed has no estimate of how much its result moves "
            "from one training run to the next, so its interval covers only the samples' variation and its "
            "differences are not marked; run more seeds to test them."
        )
    if len(tested) < len(diffs):
        notes.append(
            "(set) / (runs): the difference of the values above, without an interval or a test (not in the "
            "Holm family): there are no per-sample scores."
        )
    return Table(title, track, layout, columns, rows, notes, kind="difference", reference=ref)


def build_tables(
    runs: pd.DataFrame,
    experiment: str | None = None,
    layout: str = "auto",
    declared: list[str] | None = None,
    with_published: bool = True,
    *,
    samples: pd.DataFrame | None = None,
    reference: str | None = None,
    summary: pd.DataFrame | None = None,
    primary: str | None = None,
    comparisons: list[tuple[str, str]] | None = None,
    degenerate=None,
) -> list[Table]:
    """The comparison tables of one experiment: per track a main table (vbench or ablation layout)
    and, when the track has other metrics, an extra table; each followed by its differences against
    the reference arm and by the experiment's declared `comparisons` ((arm, other) pairs). `summary`
    (from `summarize` with the same arguments) saves recomputing it."""
    layout = resolve_layout(layout, experiment, runs)
    if summary is None:
        summary = summarize(
            runs,
            samples,
            declared,
            layout=layout,
            reference=reference,
            primary=primary,
            comparisons=comparisons,
        )
    order = arm_order(runs, declared)
    family_size = summary[summary["p"].notna()].groupby("family").size().to_dict()
    ref = reference_arm(runs, declared, reference)
    against_ref = [(a, ref) for a in order if a != ref]
    tables = []

    def differences(
        title: str, track: str, table_layout: str, metrics: list[str], part: pd.DataFrame
    ) -> None:
        units = "Δ" if table_layout == "other" else "Δ, percentage points"
        for pairs, declared_pairs, what in (
            (against_ref, False, f"difference vs {ref}"),
            (comparisons or [], True, "declared comparisons"),
        ):
            table = _difference_table(
                f"{title}, {what} ({units})", track, table_layout, metrics, part, pairs, family_size,
                declared=declared_pairs,
            )  # fmt: skip
            tables.extend([table] if table is not None else [])

    for track in sorted(summary["track"].unique(), key=track_sort_key):
        suite = split_score_key(f"{track}/x")[1]
        sub = summary[summary["track"] == track]
        main, other = table_metrics(set(sub["metric"]), layout)
        if main:
            if layout == "ablation":
                pubs, name = [published.ABLATION], "error-injection ablation"
            else:
                long_video = published.long_video_rows() if suite in published.TABLE1 else None
                pubs, name = [published.vbench_rows(suite), long_video], "VBench dimensions"
            parts = column_parts(main, primary)
            for j, (_, metrics) in enumerate(parts):
                part = sub[sub["metric"].isin(metrics)]
                title = f"{track}: {name}" + (f", {j + 1} of {len(parts)}" if len(parts) > 1 else "")
                tables.append(
                    _arms_table(f"{title} (%)", track, layout, metrics, vs_reference(part), order,
                                pubs if with_published else [], degenerate)
                )  # fmt: skip
                differences(title, track, layout, metrics, part)
        for label, metrics in column_parts(other, primary) if other else []:
            pubs = [published.conditional_rows(suite)] if with_published else []
            part = sub[sub["metric"].isin(metrics)]
            title = f"{track}: other metrics" + (f": {label}" if label else "")
            tables.append(
                _arms_table(title, track, "other", metrics, vs_reference(part), order, pubs, degenerate)
            )
            differences(title, track, "other", metrics, part)
    return tables


# -- writers -------------------------------------------------------------------------------------

DASH = "–"  # no value (NaN, a metric the arm was not scored on): only ever what is missing
OVERFLOW = "overflow"
FIXED_BELOW = 1e15  # from here a number is written with an exponent: 1e308 in fixed point is 309 digits
BASIS_MARK = {PER_SAMPLE: "", SET: " (set)", RUNS: " (runs)"}


class Overflow(float):
    """A display value beyond the floats: finite as logged, infinite once scaled (1e308 x 100). In any
    arithmetic it is the infinity it became; `number_text` shows it as "overflow", not as "inf"."""


def scaled(value: float, scale: float) -> float:
    """`value` (logged scale) x `scale` (display units): NaN stays NaN, an infinity stays one, and a
    finite value whose product leaves the floats is an Overflow."""
    out = float(value) * scale  # a Python float: overflows to inf without numpy's warning
    return Overflow(out) if math.isinf(out) and math.isfinite(value) else out


def p_text(p: float | None) -> str:
    """A p-value as prose quotes it: two decimals from 0.1 up, three below (a p near the 5% line, 0.054
    or 0.046, never reads as the line's 0.05), four where three would still round onto the line, and
    "< 0.001" below 0.001 (never a bare 0.000, which reads as certainty); None and NaN are the missing
    DASH."""
    if p is None or math.isnan(p):
        return DASH
    if p < 0.001:
        return "< 0.001"
    text = format(p, ".2f" if p >= 0.1 else ".3f")
    on_the_line = text == format(S.ALPHA, ".3f") and not math.isclose(p, S.ALPHA)
    if on_the_line:  # rounded onto the 5% line: four decimals say which side of it p lies
        text = format(p, ".4f")
    return text


def number_text(value: float | None, fmt: str) -> str:
    """A number as shown, in the format spec `fmt` ('.2f', '+.2f' for a signed difference): None and
    NaN are the missing DASH; an infinity is 'inf' ('-inf', '+inf' when signed) and an Overflow
    'overflow' ('-overflow'), never the dash; from FIXED_BELOW on, with an exponent ('1.00e+20')."""
    if value is None or math.isnan(value):
        return DASH
    sign = "-" if value < 0 else ("+" if fmt.startswith("+") else "")
    if isinstance(value, Overflow):
        return sign + OVERFLOW
    if math.isinf(value):
        return sign + "inf"
    if abs(value) >= FIXED_BELOW and fmt.endswith("f"):
        return format(value, fmt[:-1] + "e")
    return format(value, fmt)


def format_cell(cell: Cell | None, info: MetricSpec, signed: bool = False) -> str:
    """'87.03 [86.10, 87.96]'; '+1.20 [+0.40, +2.00]*' for a significant difference (signed=True);
    '310.0 (set)' without an interval; ' (n=3×2)' where the cell's n differs from its row's. A missing
    value (None, NaN) is DASH; infinite and overflowing values are said (`number_text`), in the
    interval too."""
    if cell is None or math.isnan(cell.mean):
        return DASH
    fmt = f"{'+' if signed else ''}.{info.decimals}f"
    text = number_text(cell.mean, fmt)
    if not (math.isnan(cell.low) or math.isnan(cell.high)):
        text += f" [{number_text(cell.low, fmt)}, {number_text(cell.high, fmt)}]"
    text += BASIS_MARK.get(cell.basis, "")
    if cell.significant:
        text += "*"
    if cell.n is not None:
        text += f" (n={cell.n})"
    return text


def _text(table: Table, row: Row, info: MetricSpec) -> str:
    return format_cell(row.cells.get(info.name), info, signed=table.kind == "difference")


def _is_best(row: Row, info: MetricSpec) -> bool:
    cell = row.cells.get(info.name)
    return cell is not None and cell.best


def arrow(info: MetricSpec, up: str, down: str) -> str:
    return {True: f" {up}", False: f" {down}", None: ""}[info.higher_is_better]


def _n_text(row: Row) -> str:
    return row.n if row.n is not None else DASH


# What each writer does with each part of a table: titles, row labels and column labels hold names
# (arms, tracks, metrics) and are escaped whole (`reports/escape.py`); cells and n are numbers and
# our marks (intervals in brackets, * for significance, bold for the best), written as they are
# (Markdown: with `|` escaped); footnotes are our words, a `Words` footnote with names in it.


def _markdown_note(note: str) -> str:
    return note.markdown if isinstance(note, Words) else note.replace("|", "\\|")


def to_markdown(table: Table) -> str:
    def esc(text: str) -> str:  # a cell of numbers and marks
        return text.replace("|", "\\|")

    header = ["Arm", "n"] + [markdown_text(c.label) + arrow(c, "↑", "↓") for c in table.columns]
    lines = [
        f"**{markdown_text(table.title)}**",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|",
    ]
    for row in table.rows:
        cells = []
        for c in table.columns:
            text = esc(_text(table, row, c))
            cells.append(f"**{text}**" if _is_best(row, c) else text)
        label = markdown_text(row.label)
        label = f"*{label}*" if row.source in ("noise", "degenerate") else label
        lines.append("| " + " | ".join([label, esc(_n_text(row)), *cells]) + " |")
    lines.append("")
    lines += [f"{_markdown_note(note)}  " for note in table.footnotes]
    return "\n".join(lines) + "\n"


# Our symbols, in math mode (the utf8 input encoding has none of them).
_LATEX_SYMBOLS = {
    "±": r"$\pm$",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "–": "--",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def latex_escape(text: str) -> str:
    """Our words and numbers for LaTeX, with any names in them: the specials escaped as
    `escape.latex_text` does and our symbols in math mode; brackets (intervals) as written."""
    return "".join(_LATEX_SYMBOLS.get(ch) or (ch if ch in "[]" else latex_text(ch)) for ch in text)


def latex_name(text: str) -> str:
    """A name, or a label or title made of names, for LaTeX: `escape.latex_text` (brackets braced: a
    row's first cell) with our symbols in math mode."""
    return "".join(_LATEX_SYMBOLS.get(ch) or latex_text(ch) for ch in text)


def to_latex(table: Table) -> str:
    ncols = 2 + len(table.columns)
    header = ["Arm", "$n$"] + [
        latex_name(c.label) + arrow(c, r"$\uparrow$", r"$\downarrow$") for c in table.columns
    ]
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        rf"\caption{{{latex_name(table.title)}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{l{'r' * (ncols - 1)}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    for i, row in enumerate(table.rows):
        if row.source in ("published", "degenerate") and (i == 0 or table.rows[i - 1].source != row.source):
            lines.append(r"\midrule")
        cells = []
        for c in table.columns:
            text = latex_escape(_text(table, row, c))
            cells.append(rf"\textbf{{{text}}}" if _is_best(row, c) else text)
        label = latex_name(row.label)
        if row.source in ("published", "noise", "degenerate"):
            label = rf"\emph{{{label}}}"
        lines.append(" & ".join([label, latex_escape(_n_text(row)), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\par\smallskip"]
    lines += [rf"{{\footnotesize {latex_escape(note)}\par}}" for note in table.footnotes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


# rows grouped into <tbody> sections, in this order; a noise row stays with the arms above it
_HTML_GROUPS = (
    ("ours", ("ours", "noise")),
    ("degenerate", ("degenerate",)),
    ("published", ("published",)),
    ("difference", ("difference",)),
)


def to_html(table: Table) -> str:
    e = html_text
    head = "".join(f"<th>{e(c.label + arrow(c, '↑', '↓'))}</th>" for c in table.columns)
    parts = [
        f'<table class="results {table.kind}">',
        f"<caption>{e(table.title)}</caption>",
        f"<thead><tr><th>Arm</th><th>n</th>{head}</tr></thead>",
    ]
    for group, sources in _HTML_GROUPS:
        rows = [r for r in table.rows if r.source in sources]
        if not rows:
            continue
        parts.append(f'<tbody class="{group}">')
        for row in rows:
            tds = []
            for c in table.columns:
                text = e(_text(table, row, c))
                tds.append(f"<td><b>{text}</b></td>" if _is_best(row, c) else f"<td>{text}</td>")
            label = f"<i>{e(row.label)}</i>" if row.source == "noise" else e(row.label)
            parts.append(f"<tr><th>{label}</th><td>{e(_n_text(row))}</td>{''.join(tds)}</tr>")
        parts.append("</tbody>")
    parts.append("</table>")
    parts += [f'<p class="note">{e(note)}</p>' for note in table.footnotes]
    return "\n".join(parts) + "\n"
