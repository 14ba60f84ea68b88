"""The workspace: everything a run writes lives under one root, HARNESS_HOME (default ./workspace).

mlflow.db, artifacts/            MLflow's store (unless MLFLOW_TRACKING_URI points elsewhere)
optuna.db                        sweeps
runs/<experiment>/<arm>/seed<k>/{train, videos, scores}
reports/<name>/, jobs/<experiment>/<parent run>/ (owner only: job files)
data/, cache/ (cache/torch_extensions: DeepSpeed's and torch's build cache)

Names from experiment and sweep files become folder names, so they are identifiers (`check_name`),
and every folder the harness builds from them is checked to lie inside HARNESS_HOME (`path`): a
shared or downloaded experiment file cannot write outside the workspace.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from reports.identifiers import NAME_PATTERN, check_name  # noqa: F401 (re-exported)
from svi.config import ConfigError
from svi.files import atomic_write_text


def home() -> Path:
    return Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()


def path(*parts: str | Path) -> Path:
    """HARNESS_HOME / parts, refused (ConfigError) unless it resolves inside HARNESS_HOME."""
    root = home()
    target = root.joinpath(*map(str, parts)).resolve()
    if not target.is_relative_to(root):
        shown = "/".join(map(str, parts))
        raise ConfigError(f"{shown!r} would lie outside the workspace {root}; names may not climb out of it")
    return target


def private_dir(folder: Path) -> Path:
    """`folder`, created readable by its owner only (it will hold files that may carry a secret)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    return folder


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
    return path("runs", experiment, arm, f"seed{seed}")


def report_dir(name: str) -> Path:
    return path("reports", name)


def build_cache() -> Path:
    """Where torch and DeepSpeed compile their extensions (TORCH_EXTENSIONS_DIR of the children)."""
    return path("cache", "torch_extensions")


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


def read_marker(folder: Path) -> dict | None:
    """The stage record of `folder`, or None when there is none. An unreadable record (a crash or a
    full disk cut it short) is said once and removed: the stage counts as not done and runs again,
    resuming from whatever its folder holds."""
    from harness.base.console import say

    marker = folder / "stage.json"
    if not marker.is_file():
        return None
    try:
        info = json.loads(marker.read_text())
        if not isinstance(info, dict):
            raise ValueError(f"a JSON {type(info).__name__}, not an object")
        return info
    except (OSError, UnicodeDecodeError, ValueError) as e:
        say(f"{marker} is unreadable ({type(e).__name__}: {e}): the stage counts as not done")
        with contextlib.suppress(OSError):
            marker.unlink()
        return None


def stage_done(folder: Path, digest: str) -> bool:
    info = read_marker(folder)
    return info is not None and info.get("hash") == digest and info.get("status") == "done"


def mark_stage(folder: Path, digest: str, **info) -> None:
    _write_marker(folder, {"hash": digest, "status": "done", **info})


def open_stage(
    folder: Path, digest: str, force: bool = False, claim: bool = False, keep: bool = False
) -> bool:
    """Before a stage runs: True when it is already done for this configuration. Otherwise the folder
    is emptied if forced or if it holds another configuration's work (unless `keep`: the caller has
    judged that work resumable). With `claim`, the folder is then marked as this configuration's
    (status running), so that work cut short by a kill is recognised as stale too, and a changed
    configuration never resumes from it (pretraining's state files). `force` never reads the record."""
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        info = read_marker(folder)
        old = None if info is None else info.get("hash")
        if old is not None and old != digest and not keep:
            shutil.rmtree(folder, ignore_errors=True)
        elif old == digest and info.get("status") == "done":
            return True
    if claim:
        claim_stage(folder, digest)
    return False


def claim_stage(folder: Path, digest: str, **info) -> None:
    """Mark `folder` as this configuration's work in progress (status running)."""
    _write_marker(folder, {"hash": digest, "status": "running", **info})


def _write_marker(folder: Path, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "stage.json", json.dumps(info, indent=2))


def stage_hash_of(folder: Path) -> str | None:
    info = read_marker(folder)
    return None if info is None else info.get("hash")


# -- a full disk: one clear message ----------------------------------------------------------------


FULL_BYTES = 1 << 20  # less free space than this on the workspace's disk: full, whatever the error says


def disk_full(error: BaseException, where: Path | None = None) -> OSError | None:
    """The "no space left" error behind `error` (itself, its cause or context, or a child's log line
    naming it), or None. Some writers report a full disk in their own words (torch.save: "unexpected
    pos"), so an OSError or RuntimeError while the disk holding `where` (default HARNESS_HOME) has
    almost no space left counts too."""
    if isinstance(error, (OSError, RuntimeError)):
        try:
            if shutil.disk_usage(where or home()).free < FULL_BYTES:
                return OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            pass
    seen = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return e
        if "No space left on device" in str(e) or "Disk quota exceeded" in str(e):
            return OSError(errno.ENOSPC, "No space left on device")
        e = e.__cause__ or e.__context__
    return None


def disk_full_message(error: OSError, where: Path | None = None) -> str:
    place = error.filename or where or home()
    return (
        f"the disk is full ({error.strerror or 'No space left on device'}) writing {place}: free space "
        f"there (`df -h {home()}` shows it) or set HARNESS_HOME to a larger disk, then run the same "
        "command again: finished stages are kept"
    )


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
    from harness.base.console import say

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
