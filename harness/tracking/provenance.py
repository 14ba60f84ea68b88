"""What the UI's Source, User and commit columns say of a run, and each arm's colour."""

from __future__ import annotations

import getpass
import hashlib
import os
import subprocess
from pathlib import Path

from mlflow.tracking import MlflowClient

from reports import keys


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return os.environ.get("USER") or "unknown"


def source_type() -> str:
    """JOB inside a submitit job (it sets SUBMITIT_EXECUTOR) or any SLURM job, else LOCAL (MLflow's
    SourceType names). Read from the environment: importing submitit here would cost every run."""
    return "JOB" if os.environ.get("SUBMITIT_EXECUTOR") or os.environ.get("SLURM_JOB_ID") else "LOCAL"


def source_name(c: MlflowClient, experiment_id: str, tags: dict[str, str]) -> str:
    """The command that made a run, as the UI's Source column shows it: `harness run <experiment>`, or
    `harness sweep <sweep>` for a sweep's runs (its parent has role sweep, its trials a trial tag)."""
    try:
        name = c.get_experiment(experiment_id).name
    except Exception:  # the store said no a moment ago; the column is a courtesy, not worth a failure
        name = tags.get("experiment", "?")
    command = "sweep" if tags.get("role") == "sweep" or "trial" in tags else "run"
    return f"harness {command} {name}"


def provenance(c: MlflowClient, experiment_id: str, tags: dict[str, str]) -> dict[str, str]:
    """MLflow's own provenance tags (Source, User, commit columns of the UI) of a new run."""
    commit = git_commit()
    return {
        "git_commit": commit,
        keys.SOURCE_COMMIT_TAG: commit,
        keys.SOURCE_NAME_TAG: source_name(c, experiment_id, tags),
        keys.SOURCE_TYPE_TAG: source_type(),
        keys.USER_TAG: user(),
    }


# Colours that tell lines apart on white and on dark backgrounds (Tableau 10, then 6 more).
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#8c564b",
)  # fmt: skip


def arm_color(arm: str) -> str:
    """The colour of an arm in MLflow's charts: a fixed palette entry chosen by a stable hash of its
    name (sha256, not Python's salted hash), so `full` has the same colour in every experiment."""
    return PALETTE[int.from_bytes(hashlib.sha256(arm.encode()).digest()[:8], "big") % len(PALETTE)]
