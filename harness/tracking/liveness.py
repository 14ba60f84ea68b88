"""Runs whose process vanished: heartbeats, the reaping of stale runs, the parents of submitted jobs."""

from __future__ import annotations

import os
import socket
import threading
import time

from mlflow.tracking import MlflowClient

from harness.tracking.lifecycle import finish, set_tags

# A RUNNING run refreshes its heartbeat tag every HEARTBEAT_SECONDS; one silent for STALE_SECONDS
# (several missed beats: a tracking server that is briefly down must not get live runs failed) is
# taken for dead. Environment overrides exist for tests and for clusters with slow stores.
HEARTBEAT_SECONDS = float(os.environ.get("HARNESS_HEARTBEAT_SECONDS", 60))


STALE_SECONDS = float(os.environ.get("HARNESS_STALE_SECONDS", 10 * 60))


HEARTBEAT_TAG, HOST_TAG, PID_TAG, PID_START_TAG = (
    "harness.heartbeat",
    "harness.host",
    "harness.pid",
    "harness.pid_start",
)


FAILURE_TAG = "failure"


class Heartbeat:
    """A daemon thread that stamps `run_id` with the time every `HEARTBEAT_SECONDS`, beside the host and
    process that own it, so `reap_stale` can tell a live run from one whose process was SIGKILLed or
    whose node was lost. A failed stamp (the server is briefly unreachable) is skipped, not raised."""

    def __init__(self, c: MlflowClient, run_id: str, every_seconds: float | None = None):
        import psutil

        self.c, self.run_id = c, run_id
        self.every = every_seconds or HEARTBEAT_SECONDS
        me = psutil.Process()
        set_tags(
            c,
            run_id,
            {
                HOST_TAG: socket.gethostname(),
                PID_TAG: str(me.pid),
                PID_START_TAG: f"{me.create_time():.2f}",
                HEARTBEAT_TAG: f"{time.time():.0f}",
            },
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.c.set_tag(self.run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
            except Exception:  # the next beat tries again; only a long silence marks the run stale
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _process_gone(tags: dict[str, str]) -> bool:
    """The run's owner ran on this host and its process no longer exists (same PID, same start time)."""
    import psutil

    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    try:
        p = psutil.Process(int(tags[PID_TAG]))
        return abs(p.create_time() - float(tags.get(PID_START_TAG, p.create_time()))) > 1.0
    except (psutil.NoSuchProcess, ValueError):
        return True


def stale_reason(tags: dict[str, str], now: float | None = None) -> str | None:
    """Why a RUNNING run with these tags is dead, or None while it may be alive (or never beat)."""
    if HEARTBEAT_TAG not in tags:
        return None  # runs written before heartbeats, and parents waiting on jobs they do not watch
    if _process_gone(tags):
        return f"its process {tags[PID_TAG]} on {tags[HOST_TAG]} is gone"
    silent = (now or time.time()) - float(tags[HEARTBEAT_TAG])
    if silent > STALE_SECONDS:
        return f"no heartbeat for {silent / 60:.0f} min (last from {tags.get(HOST_TAG, '?')})"
    return None


def reap_stale(c: MlflowClient, experiment_id: str) -> list[str]:
    """Mark FAILED every RUNNING run of the experiment whose process vanished without marking it (SIGKILL,
    node loss), with tag `failure` saying why. -> the run ids marked. Called by `run` and `report`."""
    marked = []
    runs = c.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000)
    for run in runs:
        reason = stale_reason(run.data.tags)
        if reason is None:
            continue
        try:
            set_tags(c, run.info.run_id, {FAILURE_TAG: f"stale: {reason}"})
            finish(c, run.info.run_id, "FAILED")
            marked.append(run.info.run_id)
        except Exception:  # another process reaped it first
            continue
    return marked


def settle_submitted(c: MlflowClient, experiment_id: str) -> list[str]:
    """Finish the parents of `harness run --no-wait` (tag harness.awaiting=jobs) whose jobs have all
    ended: every job's child run exists and none is RUNNING. -> the parent run ids finished."""
    done = []
    parents = c.search_runs(
        [experiment_id],
        filter_string="attributes.status = 'RUNNING' and tags.`harness.awaiting` = 'jobs'",
        max_results=1000,
    )
    for p in parents:
        jobs = [j for j in p.data.tags.get("harness.run.jobs", "").split(",") if j]
        kids = c.search_runs(
            [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{p.info.run_id}'", max_results=5000
        )
        units = {(k.data.tags.get("arm"), k.data.tags.get("seed")) for k in kids}
        if len(units) >= len(jobs) and all(k.info.status != "RUNNING" for k in kids):
            set_tags(c, p.info.run_id, {"harness.awaiting": "done"})
            finish(c, p.info.run_id, "FINISHED")
            done.append(p.info.run_id)
    return done
