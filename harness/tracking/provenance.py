"""What the UI's Source, User and commit columns say of a run (each arm's colour: reports/colours.py)."""

from __future__ import annotations

import getpass
import os

from mlflow.tracking import MlflowClient

from harness.base.git import commit as git_commit  # re-exported by harness.tracking
from harness.tracking import keys


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
