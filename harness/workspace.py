"""The workspace: everything a run writes lives under one root, HARNESS_HOME (default ./workspace).

mlflow.db, artifacts/            MLflow's store (unless MLFLOW_TRACKING_URI points elsewhere)
optuna.db                        sweeps
runs/<experiment>/<arm>/seed<k>/{train, videos, scores}
data/, cache/
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from svi.files import atomic_write_text


def home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()


def arm_dir(experiment: str, arm: str, seed: int) -> Path:
    return home() / "runs" / experiment / arm / f"seed{seed}"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set (a team server), else SQLite in the workspace."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    home().mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home() / 'mlflow.db'}"


def artifact_root() -> str:
    return (home() / "artifacts").as_uri()


# -- stage markers: a stage is done when its folder holds stage.json with the matching hash -------


def stage_done(folder: Path, digest: str) -> bool:
    marker = folder / "stage.json"
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text())
    return info.get("hash") == digest and info.get("status") == "done"


def mark_stage(folder: Path, digest: str, **info) -> None:
    _write_marker(folder, {"hash": digest, "status": "done", **info})


def open_stage(folder: Path, digest: str, force: bool = False, claim: bool = False) -> bool:
    """Before a stage runs: True when it is already done for this configuration. Otherwise the folder
    is emptied if forced or if it holds another configuration's work. With `claim`, the folder is then
    marked as this configuration's (status running), so that work cut short by a kill is recognised
    as stale too, and a changed configuration never resumes from it (pretraining's state files)."""
    old = stage_hash_of(folder)
    if force or (old is not None and old != digest):
        shutil.rmtree(folder, ignore_errors=True)
    elif stage_done(folder, digest):
        return True
    if claim:
        _write_marker(folder, {"hash": digest, "status": "running"})
    return False


def _write_marker(folder: Path, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "stage.json", json.dumps(info, indent=2))


def stage_hash_of(folder: Path) -> str | None:
    marker = folder / "stage.json"
    return json.loads(marker.read_text()).get("hash") if marker.is_file() else None
