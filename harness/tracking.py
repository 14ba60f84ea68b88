"""The one place that talks to MLflow.

One MLflow experiment per declared experiment (created once, in the parent process), a parent run
per invocation and a child run per (arm, seed). Everything goes through an explicit MlflowClient,
so no global "active run" state leaks between arms.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness import workspace

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch


def client() -> MlflowClient:
    return MlflowClient(tracking_uri=workspace.tracking_uri())


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def ensure_experiment(c: MlflowClient, name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return c.create_experiment(name, artifact_location=f"{workspace.artifact_root()}/{name}")


def start_parent(c: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> str:
    run = c.create_run(
        experiment_id, run_name=name, tags={"role": "parent", "git_commit": git_commit(), **tags}
    )
    return run.info.run_id


def start_child(c: MlflowClient, experiment_id: str, parent_id: str, name: str, tags: dict[str, str]) -> str:
    tags = {"mlflow.parentRunId": parent_id, "git_commit": git_commit(), **tags}
    return c.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def log_params(c: MlflowClient, run_id: str, params: dict) -> None:
    items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
    for i in range(0, len(items), 90):  # MLflow: at most 100 params per batch
        c.log_batch(run_id, params=items[i : i + 90])


def log_metrics(c: MlflowClient, run_id: str, rows: list[tuple[str, float, int]]) -> None:
    """rows of (key, value, step); None and NaN values are skipped (MLflow rejects them)."""
    import math
    import time

    now = int(time.time() * 1000)
    items = [
        Metric(k, float(v), now, int(s)) for k, v, s in rows if v is not None and math.isfinite(float(v))
    ]
    for i in range(0, len(items), BATCH):
        c.log_batch(run_id, metrics=items[i : i + BATCH])


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_training_metrics(c: MlflowClient, run_id: str, metrics_file: Path) -> None:
    """Forward the trainer's metrics.jsonl (loss, grad norm, replay memory statistics) per step."""
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
            rows += [(k, v, step) for k, v in rec.items() if isinstance(v, (int, float))]
    log_metrics(c, run_id, rows)


def log_dataset(c: MlflowClient, run_id: str, name: str, manifest: dict) -> None:
    """The prompt set as an MLflow dataset input, identified by its manifest's sha256 digest."""
    import time
    import warnings

    import mlflow
    import mlflow.exceptions
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    table = pd.DataFrame(manifest.get("samples", []))
    with warnings.catch_warnings():
        # MLflow's hint about integer columns concerns model signatures; a logged prompt set has none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(table, name=name, digest=manifest["digest"][:36])
    tag = InputTag(key="mlflow.data.context", value="evaluation")
    inputs = [DatasetInput(dataset=dataset._to_mlflow_entity(), tags=[tag])]
    try:
        c.log_inputs(run_id, datasets=inputs)
    except mlflow.exceptions.MlflowException as e:
        # Two sweep workers can insert the same (experiment, name, digest) at once; the loser's
        # retry finds the winner's row and only links it to this run.
        if "UNIQUE constraint" not in str(e):
            raise
        time.sleep(0.2)
        c.log_inputs(run_id, datasets=inputs)


def finish(c: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    c.set_terminated(run_id, status=status)
