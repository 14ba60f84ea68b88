"""Digests and setting-by-setting comparisons of configurations: what the plan, the pipeline, the
bundles and the tracking share to say whether two things were made the same way.

    digest          a short sha256 of any JSON-able parts (stage and plan hashes)
    flatten         a nested mapping -> dotted keys (MLflow params, comparisons)
    config_changes  dotted key -> (old, new) for every setting that differs, ABSENT for a missing side
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class Absent:
    """The value of a setting one side of a comparison does not have (shown as `(absent)`, never as
    None, which a setting may hold)."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = Absent()


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """Dotted key -> (old value, new value) for every setting that differs (nested or dotted dicts). A
    key only one side has is a change (its other value ABSENT), and values are compared as the plan
    hash sees them (JSON), so 1 and 1.0, or None and a missing key, are told apart."""
    a, b = flatten(old), flatten(new)

    def seen(d: dict, k: str):
        return json.dumps(d[k], sort_keys=True, default=str) if k in d else ABSENT

    return {
        k: (a.get(k, ABSENT), b.get(k, ABSENT)) for k in sorted(set(a) | set(b)) if seen(a, k) != seen(b, k)
    }
