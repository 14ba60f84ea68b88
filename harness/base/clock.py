"""Where a unit's wall time goes: seconds per stage, summed over its tracks, so every run can say what
dominates (issue: the main job at the speed of the machine). The stages, in the order a unit meets
them, are reports/frames.py's STAGES; each is logged as `time/<stage>` on the unit's MLflow run."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class StageClock:
    """Wall seconds per stage of one unit; `with clock("score"): ...` adds to that stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def stage_table(rows: list[tuple[str, dict[str, float]]], stages: tuple[str, ...]) -> list[str]:
    """Console lines: one per (label, seconds per stage), minutes per stage and in all, then the
    share of the whole that each stage took."""
    shown = [s for s in stages if any(s in sec for _, sec in rows)]
    if not shown:
        return []
    width = max(12, *(len(label) for label, _ in rows))
    head = f"  {'unit':{width}s}" + "".join(f" {s:>12s}" for s in shown) + f" {'total':>9s}"
    lines = [head]
    totals = dict.fromkeys(shown, 0.0)
    for label, sec in rows:
        cells = "".join(f" {sec.get(s, 0.0) / 60:11.2f}m" for s in shown)
        lines.append(f"  {label:{width}s}{cells} {sum(sec.values()) / 60:8.2f}m")
        for s in shown:
            totals[s] += sec.get(s, 0.0)
    whole = sum(totals.values()) or 1.0
    lines.append(f"  {'share':{width}s}" + "".join(f" {100 * totals[s] / whole:11.0f}%" for s in shown))
    return lines
