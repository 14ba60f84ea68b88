"""The parameter stamp every toy-world writer leaves beside a finished set.

A writer records its parameters in `PARAMS_FILE` last, after every file of the set is written, so a
set whose stamp matches the parameters asked for is complete and kept, and an interrupted one (no
stamp, or another's) is written again.
"""

from __future__ import annotations

import json
from pathlib import Path

PARAMS_FILE = "toyworld.json"


def params_match(path: Path, params: dict) -> bool:
    """Whether the stamp at `path` records exactly `params` (False when missing or unreadable)."""
    try:
        return json.loads(path.read_text()) == params
    except (FileNotFoundError, json.JSONDecodeError):
        return False
