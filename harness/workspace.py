"""The workspace: everything a run writes lives under one root, HARNESS_HOME (default ./workspace).

mlflow.db, artifacts/            MLflow's store (unless MLFLOW_TRACKING_URI points elsewhere)
optuna.db                        sweeps
runs/<experiment>/<arm>/seed<k>/{train, videos, scores}
data/, cache/
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from svi.config import ConfigError
from svi.files import atomic_write_text


def home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()


def check_writable(folder: Path | None = None) -> Path:
    """`folder` (default HARNESS_HOME) exists (created if needed) and can be written, else a
    ConfigError saying what to do."""
    root = folder or home()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise ConfigError(
            f"{root} cannot be written ({type(e).__name__}: {e.strerror or e}). Set HARNESS_HOME (the "
            "workspace) or MLFLOW_TRACKING_URI to a place you can write, e.g. HARNESS_HOME=$HOME/svi-workspace"
        ) from None
    return root


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


# -- locks: one holder per stage folder ------------------------------------------------------------

LOCK_POLL_SECONDS = 1.0
_local = threading.local()  # .held: lock files this thread holds -> depth (a holder may re-enter)


def lock_path(folder: Path) -> Path:
    """Beside the folder, not in it: a stage that empties its folder keeps its lock."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.lock"


@contextlib.contextmanager
def stage_lock(folder: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold the lock of `folder` (an OS file lock, so it dies with its holder) for the block.

    The lock file records the holder's PID, host and start time. A second holder waits (saying whom
    for) or, with wait=False, gets a ConfigError naming the holder. A lock left by a process that
    died is free at once (the kernel drops it), and the next holder takes it over.
    """
    from harness.console import say

    path = lock_path(folder)
    key = str(path.resolve())
    _held = _local.__dict__.setdefault("held", {})
    if key in _held:  # re-entered by its holder
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _read_holder(path)
                if not wait:
                    raise ConfigError(
                        f"{folder} is in use by {holder}; wait for it to finish or stop it"
                    ) from None
                if not told:
                    say(f"waiting for {folder}: in use by {holder} (Ctrl-C to stop waiting)")
                    told = True
                time.sleep(LOCK_POLL_SECONDS)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        info = {}
    if not info:
        return "another process"
    return f"PID {info.get('pid')} on {info.get('host')} since {info.get('since')}"
