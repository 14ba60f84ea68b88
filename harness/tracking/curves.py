"""Training curves: the trainer's metrics.jsonl forwarded to MLflow (reduced over the replay
memory's slots), live while training runs, and MLflow's system metrics."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from harness.base import workspace
from harness.tracking import keys
from harness.tracking.lifecycle import log_metrics


def reduce_slots(rec: dict, capacity: int | None = None) -> dict[str, float]:
    """One metrics.jsonl row as MLflow gets it: per-slot replay-memory values (`memory/<bank>/<stat>/
    slot_<i>`, 50 slots x 2 stats x 2 banks in the official setting) replaced by their min, mean and
    max over the slots, and each bank's fill as a fraction of its slots x `capacity` (when given).
    Numbers only; `step` is left to the caller. The per-slot values stay in metrics.jsonl."""
    out: dict[str, float] = {}
    slots: dict[tuple[str, str], list[float]] = {}
    for k, v in rec.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        m = keys.PER_SLOT.match(k)
        if m is None:
            out[k] = v
        else:
            slots.setdefault((m["bank"], m["stat"]), []).append(float(v))
    for (bank, stat), values in slots.items():
        values = [v for v in values if math.isfinite(v)]
        if values:
            stats = {"min": min(values), "mean": sum(values) / len(values), "max": max(values)}
            out.update({keys.slot_key(bank, stat, how): stats[how] for how in keys.SLOT_REDUCTIONS})
        if stat == "fill" and capacity and f"{bank}/fill" in out:
            # every slot reports its fill, empty ones too: their number is the bank's slot count
            out[keys.fill_fraction_key(bank)] = out[f"{bank}/fill"] / (len(slots[bank, stat]) * capacity)
    return out


def log_training_metrics(
    c: MlflowClient, run_id: str, metrics_file: Path, capacity: int | None = None
) -> None:
    """Forward the trainer's metrics.jsonl (loss, grad norm, replay memory statistics reduced over
    the slots: `reduce_slots`) per step."""
    if not metrics_file.is_file():
        return
    rows = []
    for line in metrics_file.read_text().splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the last line of a trainer stopped while writing it
                continue
            step = rec.pop("step")
            rows += [(k, v, step) for k, v in reduce_slots(rec, capacity).items()]
    log_metrics(c, run_id, rows)


class CurveForwarder:
    """Forwards the trainer's metrics.jsonl (rank 0's loss, grad norm, replay-memory statistics reduced
    over their slots by `reduce_slots`) to the run while training runs, in batches of at most one call
    per `every_seconds`.

    Only complete lines are read, from where the last read stopped. Rows that cannot be sent (the store
    is unreachable) stay pending and go with the next call, so the curves catch up and training never
    waits for tracking. A resumed trainer rewrites the steps after its checkpoint: steps at or below the
    last one forwarded are not sent twice (a resume reproduces them exactly).
    """

    def __init__(
        self,
        c: MlflowClient,
        run_id: str,
        metrics_file: Path,
        every_seconds: float = 10.0,
        capacity: int | None = None,
    ):
        self.c, self.run_id, self.path, self.every = c, run_id, metrics_file, every_seconds
        self.capacity = capacity  # replay-memory entries per slot: fill fractions (`reduce_slots`)
        self.offset = 0
        self.last_step = -1
        self.pending: list[tuple[str, float, int]] = []
        self.last_sent = 0.0
        self.failures = 0

    def _read_new(self) -> None:
        if not self.path.is_file():
            return
        size = self.path.stat().st_size
        if size < self.offset:  # truncated by a resume: read again, skipping steps already sent
            self.offset = 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
        self.offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            step = rec.pop("step", None)
            if not isinstance(step, int) or step <= self.last_step:
                continue
            self.last_step = step
            self.pending += [(k, v, step) for k, v in reduce_slots(rec, self.capacity).items()]

    def poll(self, final: bool = False) -> None:
        """Send what is new; `final`: now, and raise if the store still refuses (the stage's end)."""
        if not final and time.monotonic() - self.last_sent < self.every:
            return
        self.last_sent = time.monotonic()
        self._read_new()
        if not self.pending:
            return
        try:
            log_metrics(self.c, self.run_id, self.pending)
            self.pending = []
        except Exception:
            self.failures += 1
            if final:
                raise


class SystemMetrics:
    """MLflow's system metrics (CPU, memory, disk, network; GPU where pynvml sees one) on `run_id` while
    a stage runs, sampled every `seconds` on this host (the node that runs the arm's rank 0)."""

    def __init__(self, run_id: str, seconds: float = 10.0):
        import logging

        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no start/stop chatter
        self.monitor = SystemMetricsMonitor(
            run_id, sampling_interval=seconds, resume_logging=True, tracking_uri=workspace.tracking_uri()
        )

    def __enter__(self) -> SystemMetrics:
        try:
            self.monitor.start()
        except Exception:  # monitoring must never stop the work it watches
            self.monitor = None
        return self

    def __exit__(self, *exc) -> None:
        if self.monitor is not None:
            try:
                self.monitor.finish()
            except Exception:
                pass
