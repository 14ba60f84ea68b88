"""What the report adds to the runs: each arm's difference from the reference arm, the report as a
description."""

from __future__ import annotations

import math
import re
from pathlib import Path

from mlflow.tracking import MlflowClient

from harness.tracking import keys
from harness.tracking.lifecycle import log_metrics, set_tags
from reports.tables import from_csv_cells


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


def log_deltas(c: MlflowClient, parent_id: str, results_csv: Path) -> int:
    """Log `delta_rows` of a report's results.csv on every finished child run of `parent_id` (each
    seed of an arm gets the arm's difference, which is over its seeds), with tag
    `delta_vs_base.reference` naming the arm it is against. -> runs that got metrics."""
    import pandas as pd

    # read as text: an arm named "1" stays an arm name
    text = dict.fromkeys(("track", "arm", "metric", "reference", "contrast"), str)
    summary = from_csv_cells(pd.read_csv(results_csv, dtype=text, keep_default_na=False, na_values=[""]))
    per_arm = delta_rows(summary)
    if not per_arm:
        return 0
    reference = next((r for r in summary["reference"].dropna().unique() if r), "")
    exp_id = c.get_run(parent_id).info.experiment_id
    kids = c.search_runs(
        [exp_id], filter_string=f"tags.`{keys.PARENT_TAG}` = '{parent_id}'", max_results=5000
    )
    done = 0
    for run in kids:
        rows = per_arm.get(run.data.tags.get("arm", ""))
        if rows and run.info.status == "FINISHED":
            log_metrics(c, run.info.run_id, rows)
            set_tags(c, run.info.run_id, {keys.DELTA_REFERENCE_TAG: reference})
            done += 1
    return done


def report_note(markdown: str) -> str:
    """A report's Markdown as a run description: plots are files beside report.md, which the
    description cannot show, so each becomes a line naming its artifact."""
    return re.sub(
        r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f"*{m[1]}* (plot: `{keys.REPORT_DIR}/{m[2]}`)", markdown
    )
