"""`harness export EXPERIMENT`: an experiment's results from the tracking store into a results bundle
(reports/bundle.py) that is committed with the code, and from which its report is rebuilt anywhere.

What the store holds (each unit's final and per-sample scores, its training curves) goes into the
bundle's tables; what the workspace holds beside it (each unit's stage records and backbone record)
and what the declaration says (each arm's resolved configuration, the arm order, the primary metric)
into its manifest. Host names and times go under `provenance`, the one part that differs between two
exports of the same results.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pandas as pd

from harness import tracking, workspace
from harness.experiment import Experiment
from reports.bundle import CURVE_COLUMNS, build_report_from, write_bundle
from reports.runs import load_runs, load_samples

CURVE_KEYS = ("train/loss", "train/grad_norm")  # what a bundle keeps of each training's curves
STAGES = ("train", "videos", "scores")


def training_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """CURVE_KEYS of every finished trained unit, from the store's metric histories."""
    c = tracking.client()
    rows = []
    for rec in runs[runs["status"] == "FINISHED"].to_dict("records"):
        for key in CURVE_KEYS:
            for m in c.get_metric_history(rec["run_id"], key):
                rows.append(
                    {
                        "arm": rec["arm"],
                        "seed": int(rec["seed"]),
                        "key": key,
                        "step": m.step,
                        "value": m.value,
                    }
                )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def stage_records(exp: Experiment, arm: str, seed: int) -> dict:
    """The unit's stage hashes (every stage.json under its folder) and backbone record, where the
    workspace still holds them."""
    folder = workspace.arm_dir(exp.name, arm, seed)
    out: dict = {}
    for marker in sorted(folder.rglob("stage.json")):
        info = workspace.read_marker(marker.parent) or {}
        out[str(marker.parent.relative_to(folder))] = {"hash": info.get("hash"), "status": info.get("status")}
    backbone = folder / "train" / "backbone.json"
    record = {"stages": out}
    if backbone.is_file():
        record["backbone"] = json.loads(backbone.read_text())
    return record


def export(exp: Experiment, source: Path, to: Path, parent_run_id: str | None = None) -> dict[str, Path]:
    """Write `exp`'s latest run (or `parent_run_id`) from the tracking store into the bundle `to`, its
    report built from the bundle alone. -> the files written."""
    uri = workspace.tracking_uri()
    runs = load_runs(exp.name, uri, parent_run_id)
    samples = load_samples(exp.name, uri, runs.attrs["parent_run_id"])
    units = {}
    for rec in runs.to_dict("records"):
        if pd.notna(rec["seed"]):
            units[f"{rec['arm']}/seed{int(rec['seed'])}"] = stage_records(exp, rec["arm"], int(rec["seed"]))
    extra = {
        "arm_order": list(exp.arms),
        "primary": exp.primary,
        "declaration": exp.model_dump(mode="json"),
        "arms": {arm: exp.arm_config(arm, source).model_dump(mode="json") for arm in exp.arms},
        "stage_records": units,
        "harness_commit": tracking.git_commit(),
        "provenance": {"host": socket.gethostname(), "parent_run_id": runs.attrs["parent_run_id"]},
    }
    files = write_bundle(to, exp.name, runs, samples, curves=training_curves(runs), extra=extra)
    files.update(build_report_from(to))
    return files
