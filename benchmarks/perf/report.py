"""Shared output of the performance scripts: one JSON document on stdout, optionally to a file."""

from __future__ import annotations

import json
import platform


def machine() -> dict:
    import torch

    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }


def emit(result: dict, out: str | None = None) -> None:
    """Print `result` (with the machine description added) as JSON, and write it to `out` if given."""
    text = json.dumps({**result, "host": machine()}, indent=2)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
