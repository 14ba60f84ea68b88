"""What the report adds to the runs: each arm's difference from the reference arm, the review's summary
(the primary metric per arm and per reference, in text), the report as a description."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from harness.tracking import keys
from harness.tracking.lifecycle import log_metrics, set_tags
from reports.tables import from_csv_cells
from scoring.references import REFERENCE_ROWS, RESCORE


def delta_rows(summary) -> dict[str, list[tuple[str, float, int]]]:
    """arm -> its `delta_vs_base` metrics, from the report's summary (`reports.tables.summarize`, or
    its results.csv): the difference against the reference arm with its paired-bootstrap interval and
    n, in the report's units (VBench in percentage points). Only where the bootstrap ran (a per-sample
    metric both arms scored): set-level metrics (FVD) and runs without per-sample tables have no
    interval, and get no delta metric."""
    from reports.tables import metric_info, vs_reference

    out: dict[str, list[tuple[str, float, int]]] = {}
    for rec in vs_reference(summary).to_dict("records"):
        values = [rec.get(k) for k in ("delta", "delta_low", "delta_high", "delta_n_samples")]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            continue
        scale = metric_info(rec["metric"]).scale
        delta, low, high, n = values
        names = keys.delta_keys(rec["track"], rec["metric"])
        rows = [(names[0], delta * scale, 0), (names[1], low * scale, 0), (names[2], high * scale, 0)]
        out.setdefault(str(rec["arm"]), []).extend([*rows, (names[3], float(n), 0)])
    return out


def read_results(results_csv: Path) -> pd.DataFrame:
    """A report's results.csv as `reports.tables.summarize` gave it (names read as text: an arm named
    "1" stays an arm name)."""
    text = dict.fromkeys(("track", "arm", "metric", "reference", "contrast"), str)
    return from_csv_cells(pd.read_csv(results_csv, dtype=text, keep_default_na=False, na_values=[""]))


def _children(c: MlflowClient, parent_id: str) -> list:
    exp_id = c.get_run(parent_id).info.experiment_id
    return c.search_runs(
        [exp_id], filter_string=f"tags.`{keys.PARENT_TAG}` = '{parent_id}'", max_results=5000
    )


def base_arm(summary: pd.DataFrame) -> str | None:
    """The reference arm every other arm of a report's summary is compared with (None: none named)."""
    return next((r for r in summary["reference"].dropna().unique() if r), None)


def log_report_figures(c: MlflowClient, parent_id: str, results_csv: Path) -> None:
    """What the report adds to the runs of `parent_id`, from its results.csv read once and its children
    listed once: each arm's difference from the base (`log_deltas`) and the review's summary
    (`log_summary`)."""
    summary, runs = read_results(results_csv), _children(c, parent_id)
    log_deltas(c, summary, runs)
    log_summary(c, parent_id, summary, runs)


def log_deltas(c: MlflowClient, summary: pd.DataFrame, runs: list) -> int:
    """Log `delta_rows` of a report's summary (its results.csv) on every finished run of `runs` (a parent's
    children: each seed of an arm gets the arm's difference, which is over its seeds), with tag
    `delta_vs_base.reference` naming the arm it is against. -> runs that got metrics."""
    per_arm = delta_rows(summary)
    if not per_arm:
        return 0
    reference = base_arm(summary) or ""
    done = 0
    for run in runs:
        rows = per_arm.get(run.data.tags.get("arm", ""))
        if rows and run.info.status == "FINISHED":
            log_metrics(c, run.info.run_id, rows)
            set_tags(c, run.info.run_id, {keys.DELTA_REFERENCE_TAG: reference})
            done += 1
    return done


# -- the review's summary ----------------------------------------------------------------------------
# MLflow's charts write a value with two decimals (0.1445, 0.1457 and 0.1475 all read 0.14) and its
# table with three: the review's summary is text, in tags its table shows as columns, written with as
# many significant digits as keep every different value of a track different (SUMMARY_DIGITS at least).

SUMMARY_DIGITS, MOST_DIGITS = 4, 9


@dataclass(frozen=True)
class SummaryRow:
    """One arm's or reference's line of the summary of one track (display units)."""

    track: str
    name: str  # the arm, or the reference's kind
    kind: str  # keys.KIND_BASE | KIND_ARM | KIND_REFERENCE
    cell: object  # reports.tables.Cell: the mean, its 95% interval, n
    delta: object | None = None  # the arm minus the base (its Cell), arms only


def summary_rows(summary: pd.DataFrame, reference_means: pd.DataFrame, metric: str) -> list[SummaryRow]:
    """The summary of `metric` on every track: the arms as the report's summary has them (results.csv:
    the mean with its crossed-design interval, n = samples×seeds; each arm's difference from the base
    with its interval and the samples compared), then the references (`reports.margins.reference_means`:
    the mean over their videos with its t-interval), in REFERENCE_ROWS' order; the evaluator's rescore
    is no reference and is left out."""
    from reports import tables as T

    scale = T.metric_info(metric).scale

    def cell(rec: dict, names: tuple[str, ...] = ("mean", "low", "high"), **more) -> object:
        return T.Cell(*(rec[k] * scale for k in names), **more)

    rows = []
    arms = T.vs_reference(summary)
    for rec in arms[arms["metric"] == metric].to_dict("records"):
        if not _finite(rec.get("mean")):
            continue
        n = rec.get("delta_n_samples")
        delta = (
            cell(
                rec,
                ("delta", "delta_low", "delta_high"),
                n=str(int(n)) if _finite(n) else None,
                significant=str(rec.get("significant")) == "True",
            )
            if _finite(rec.get("delta"))
            else None
        )
        kind = keys.KIND_BASE if rec["arm"] == rec.get("reference") else keys.KIND_ARM
        shown = cell(rec, n=T.n_text(rec["n_samples"], rec["n_seeds"]), basis=rec["basis"])
        rows.append(SummaryRow(rec["track"], str(rec["arm"]), kind, shown, delta))
    refs = reference_means[(reference_means["metric"] == metric) & (reference_means["arm"] != RESCORE)]
    rank = {kind: i for i, kind in enumerate(REFERENCE_ROWS)}
    refs = refs.assign(rank=refs["arm"].map(lambda a: rank.get(a, len(rank))))
    for rec in refs.sort_values(["rank", "arm"], kind="stable").to_dict("records"):
        if _finite(rec.get("mean")):
            basis = T.PER_SAMPLE if _finite(rec.get("low")) else T.SET
            shown = cell(rec, n=f"{int(rec['n'])} videos", basis=basis)
            rows.append(SummaryRow(rec["track"], str(rec["arm"]), keys.KIND_REFERENCE, shown))
    return rows


def _finite(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def decimals(value: float, digits: int) -> int:
    """The decimals that write `value` with `digits` significant digits (none below the point where its
    integer part has more)."""
    if not _finite(value) or value == 0:
        return digits - 1
    return max(0, digits - 1 - math.floor(math.log10(abs(value))))


def _text(value: float, digits: int, signed: bool = False) -> str:
    from reports.tables import number_text

    return number_text(value, f"{'+' if signed else ''}.{decimals(value, digits)}f")


def distinct_digits(values: list[float], signed: bool = False) -> int:
    """The significant digits, SUMMARY_DIGITS at least, at which every two different values are written
    differently (MOST_DIGITS at most)."""
    different = sorted({v for v in values if _finite(v)})
    for digits in range(SUMMARY_DIGITS, MOST_DIGITS):
        if len({_text(v, digits, signed) for v in different}) == len(different):
            return digits
    return MOST_DIGITS


def summary_texts(rows: list[SummaryRow], metric: str) -> dict[str, dict[str, str]]:
    """name (arm or reference) -> its summary tags: per track, 'mean [low, high] (n=...)' and, for an
    arm, its difference from the base '+d [low, high] (n=...)' (`*`: significant after Holm); each
    track's means (and differences) with `distinct_digits` significant digits."""
    from reports import tables as T

    info = T.metric_info(metric)
    out: dict[str, dict[str, str]] = {}
    for track in dict.fromkeys(r.track for r in rows):
        mine = [r for r in rows if r.track == track]
        digits = distinct_digits([r.cell.mean for r in mine])
        apart = distinct_digits([r.delta.mean for r in mine if r.delta is not None], signed=True)
        mean_key, delta_key = keys.summary_keys(track, metric)
        for r in mine:
            tags = out.setdefault(r.name, {})
            tags[mean_key] = T.format_cell(r.cell, replace(info, decimals=decimals(r.cell.mean, digits)))
            if r.delta is not None:
                shown = replace(info, decimals=decimals(r.delta.mean, apart))
                tags[delta_key] = T.format_cell(r.delta, shown, signed=True)
    return out


def review_order(names: list[str], runs: list) -> dict[str, int]:
    """arm or reference -> its place in the review: `names` first (the base, the report's arms, the
    references in REFERENCE_ROWS' order), then the other arms by name, then the other references."""
    others = sorted(
        {r.data.tags.get("arm", "") for r in runs} - set(names),
        key=lambda a: (any(r.data.tags.get("role") == keys.REFERENCE_ROLE for r in runs if r.data.tags.get("arm") == a), a),
    )  # fmt: skip
    return {name: i for i, name in enumerate([*dict.fromkeys(names), *others])}


def log_summary(c: MlflowClient, parent_id: str, summary: pd.DataFrame, children: list) -> int:
    """The review's summary on every finished run of `children` (those of `parent_id`) but the rescore:
    tag `kind` (the base, an arm, a reference: no model), the metric `review_order` (the base, the arms,
    the references) and, where the parent names a primary metric (`harness.primary`), its
    `summary_texts` on each track. The arms' numbers are the report's (`summary`, its results.csv), the
    references' are read from their per-sample tables. -> runs tagged."""
    from harness.tracking.store_reader import samples_of
    from reports.margins import reference_means
    from reports.tables import vs_reference

    runs = [r for r in children if r.info.status == "FINISHED" and r.data.tags.get("arm") != RESCORE]
    primary = c.get_run(parent_id).data.tags.get(keys.PRIMARY_TAG)
    refs = [r for r in runs if r.data.tags.get("role") == keys.REFERENCE_ROLE]
    samples = samples_of(c, refs) if primary and refs else pd.DataFrame()
    means = reference_means(samples) if len(samples) else pd.DataFrame(columns=["track", "arm", "metric"])
    rows = summary_rows(summary, means, primary) if primary else []
    texts = summary_texts(rows, primary) if rows else {}
    base = base_arm(summary)
    present = {r.data.tags.get("arm") for r in refs}
    first = [base] if base else []
    arms = vs_reference(summary)["arm"].astype(str)
    order = review_order([*first, *arms, *(k for k in REFERENCE_ROWS if k in present)], runs)
    for run in runs:
        arm, role = run.data.tags.get("arm", ""), run.data.tags.get("role")
        kind = (
            keys.KIND_REFERENCE
            if role == keys.REFERENCE_ROLE
            else keys.KIND_BASE
            if arm == base
            else keys.KIND_ARM
        )
        set_tags(c, run.info.run_id, {keys.KIND_TAG: kind, **texts.get(arm, {})})
        log_metrics(c, run.info.run_id, [(keys.REVIEW_ORDER, float(order[arm]), 0)])
    return len(runs)


def report_note(markdown: str) -> str:
    """A report's Markdown as a run description: plots are files beside report.md, which the
    description cannot show, so each becomes a line naming its artifact."""
    return re.sub(
        r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f"*{m[1]}* (plot: `{keys.REPORT_DIR}/{m[2]}`)", markdown
    )
