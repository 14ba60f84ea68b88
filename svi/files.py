"""Crash-safe files for resumable runs.

Whole files are written to `<name>.tmp` beside the target and moved into place with `os.replace`,
so a reader (or a resumed run) sees either the old file or the new one, never half of one.
Metric logs are JSON lines: appended one record at a time, and truncated on resume.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` in one step."""
    tmp = _tmp(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """`torch.save(obj, path)`, replacing `path` in one step."""
    import torch  # here, not at the top: the harness's workspace module uses this file without torch

    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def to_cpu(tree: Any) -> Any:
    """A state (nested dicts, lists and tensors) with every tensor on the CPU, so that a state file
    written on a GPU loads anywhere."""
    import torch

    if isinstance(tree, torch.Tensor):
        return tree.cpu()
    if isinstance(tree, dict):
        return {k: to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_cpu(v) for v in tree)
    return tree


def append_jsonl(path: Path, record: dict) -> None:
    """Append `record` as one JSON line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_jsonl(path: Path, drop: Callable[[dict], bool]) -> int:
    """Rewrite `path` without the records for which `drop(record)` is true (e.g. those a resumed run
    is about to redo). Blank lines are skipped; a missing file is left missing.

    A line that is not JSON is a record a crash or a full disk cut short (an append-only log's torn
    tail): it is dropped too. -> the number of such lines, for the caller to report."""
    if not path.is_file():
        return 0
    keep, torn = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            torn += 1
            continue
        if not drop(record):
            keep.append(line)
    atomic_write_text(path, "".join(ln + "\n" for ln in keep))
    return torn
