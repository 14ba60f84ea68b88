"""The identifier rule for names that become folders, file names and table cells: experiments, arms,
sweeps, tracks, samples and metrics. The workspace (harness/base/workspace.py) and the results-bundle
reader (reports/bundle.py) both apply it, so a name that could not have been declared cannot arrive
through a bundle either; and the form of a time a bundle records (`parsed_time`). No imports beyond the
standard library: every command loads this."""

from __future__ import annotations

import datetime as dt
import re

# Letters, digits, '_', '-' and '.', not starting with '.' or '-' (no hidden folders, no options, no '..').
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def is_name(name: object) -> bool:
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None and ".." not in name


def check_name(name: str, what: str = "name") -> str:
    """`name` if it is a safe identifier for a folder, else a ValueError saying what is allowed."""
    if not is_name(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ValueError(
            f"{what} {shown} is not allowed: use letters, digits, '_', '-' and '.' (at most 128, not "
            "starting with '.' or '-', no '..'), since it names a folder of the workspace"
        )
    return name


def parsed_time(value) -> dt.datetime | None:
    """`value` as an aware datetime when it is an ISO 8601 string with an offset, else None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
