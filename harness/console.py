"""What the harness tells the person running it: one prefixed line per event, flushed at once."""

from __future__ import annotations


def say(msg: str) -> None:
    print(f"[harness] {msg}", flush=True)
