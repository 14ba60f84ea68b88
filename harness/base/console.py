"""What the harness tells the person running it: one prefixed line per event, flushed at once, with
any password masked (harness/base/redact.py)."""

from __future__ import annotations


def say(msg: str) -> None:
    from harness.base.redact import scrub

    print(f"[harness] {scrub(msg)}", flush=True)
