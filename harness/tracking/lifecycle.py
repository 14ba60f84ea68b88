"""Runs opened, described, logged to and finished: the calls every other part goes through."""

from __future__ import annotations

import math
import time

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness.tracking import keys
from harness.tracking.provenance import provenance
from reports.colours import arm_color

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch


def start_parent(c: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> str:
    tags = {"role": "parent", **tags}
    run = c.create_run(experiment_id, run_name=name, tags={**provenance(c, experiment_id, tags), **tags})
    return run.info.run_id


def start_child(c: MlflowClient, experiment_id: str, parent_id: str, name: str, tags: dict[str, str]) -> str:
    tags = {"mlflow.parentRunId": parent_id, **tags}
    if "arm" in tags:  # the colour of its group in the review view, which groups by GROUP_BY_TAG's tag
        group = tags.get(keys.GROUP_BY_TAG, "arm")
        tags.setdefault(group, tags["arm"])
        tags.setdefault(keys.RUN_COLOR_TAG, arm_color(tags["arm"], group))
    return c.create_run(
        experiment_id, run_name=name, tags={**provenance(c, experiment_id, tags), **tags}
    ).info.run_id


NOTE_LIMIT = 7900  # MLflow keeps 8000 characters of a run tag; the rest of a long note is cut here


def set_note(c: MlflowClient, run_id: str, text: str, more: str = "") -> None:
    """A run's description (the UI's Description, Markdown). Cut to what MLflow keeps, saying where the
    whole text is (`more`) when it is cut."""
    if len(text) > NOTE_LIMIT:
        tail = f"\n\n*(cut here; {more or 'the rest is not shown'})*"
        text = text[: NOTE_LIMIT - len(tail)] + tail
    c.set_tag(run_id, keys.NOTE_TAG, text)


def set_experiment_note(c: MlflowClient, experiment_id: str, text: str) -> None:
    c.set_experiment_tag(experiment_id, keys.NOTE_TAG, text[:19000])  # experiment tags keep 20000


def log_params(c: MlflowClient, run_id: str, params: dict) -> None:
    items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
    for i in range(0, len(items), 90):  # MLflow: at most 100 params per batch
        c.log_batch(run_id, params=items[i : i + 90])


def log_metrics(c: MlflowClient, run_id: str, rows: list[tuple[str, float, int]]) -> None:
    """rows of (key, value, step); None and NaN values are skipped (MLflow rejects them)."""

    now = int(time.time() * 1000)
    items = [
        Metric(k, float(v), now, int(s)) for k, v, s in rows if v is not None and math.isfinite(float(v))
    ]
    for i in range(0, len(items), BATCH):
        c.log_batch(run_id, metrics=items[i : i + BATCH])


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def finish(c: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    c.set_terminated(run_id, status=status)


def finish_quietly(c: MlflowClient, run_id: str, status: str) -> bool:
    """`finish`, on a failure path: a store that refuses (a full disk, a lost server) is said in one
    line instead of raised over the error being handled; the next `run` or `report` reaps the run
    (its heartbeat has stopped). -> whether the status was written."""
    try:
        finish(c, run_id, status)
        return True
    except Exception as e:  # noqa: BLE001
        from harness.base.console import say

        say(f"run {run_id} could not be marked {status} ({type(e).__name__}); the next run or report will")
        return False
