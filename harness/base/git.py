"""Asking git: the commit the harness runs from, and what a registration check needs from `git log`.

The one module outside the runners (harness/run/launch.py, harness/run/jobs.py, sweeps/) that starts a process,
and only `git`, waiting for its answer (tests/test_layering.py states the rule).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def git(args: list[str], cwd: Path | None = None, timeout_seconds: float = 30) -> str | None:
    """`git ARGS` in `cwd` -> its stripped output; None when git is missing, fails or times out."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout_seconds)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def commit() -> str:
    """The commit of the harness's own code ("unknown" outside a git checkout)."""
    return git(["rev-parse", "HEAD"], cwd=PACKAGE_DIR, timeout_seconds=10) or "unknown"
