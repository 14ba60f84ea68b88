"""Inputs as MLflow datasets: a track's prompt set, an arm's training clips."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from harness.tracking import keys


def log_dataset(
    c: MlflowClient,
    run_id: str,
    name: str,
    rows: list[dict],
    digest: str,
    *,
    source: str | Path | None = None,
    context: str = "evaluation",
) -> None:
    """A table of inputs as an MLflow dataset input of the run.

    rows: one dict per item (a benchmark sample with its prompt text, a training clip with its
    caption); source: the folder they were read from (MLflow shows it as the dataset's source; without
    one MLflow would say "code"); digest: what identifies the content (MLflow keeps one dataset per
    experiment, name and digest); context: `evaluation` (a prompt set) or `training`. The rows also go
    to `datasets/<name>.json` as an MLflow table, since a dataset input keeps only schema and profile.
    """
    import warnings

    import mlflow
    import mlflow.exceptions
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    table = pd.DataFrame(rows)
    if source is not None and "://" not in str(source):
        from mlflow.data.sources import LocalArtifactDatasetSource

        source = LocalArtifactDatasetSource(str(source))  # MLflow's own guess warns: two local kinds
    with warnings.catch_warnings():
        # MLflow's hint about integer columns concerns model signatures; a logged prompt set has none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(table, source=source, name=name, digest=digest[:36])
        entity = dataset._to_mlflow_entity()  # the schema is inferred here
        c.log_table(run_id, data=table, artifact_file=f"{keys.DATASETS_DIR}/{_safe_name(name)}.json")
    tag = InputTag(key="mlflow.data.context", value=context)
    inputs = [DatasetInput(dataset=entity, tags=[tag])]
    try:
        c.log_inputs(run_id, datasets=inputs)
    except mlflow.exceptions.MlflowException as e:
        # Two sweep workers can insert the same (experiment, name, digest) at once; the loser's
        # retry finds the winner's row and only links it to this run.
        if "unique constraint" not in str(e).lower():  # SQLite's and PostgreSQL's wordings
            raise
        time.sleep(0.2)
        c.log_inputs(run_id, datasets=inputs)


def _safe_name(name: str) -> str:
    """A name as an artifact file name (MLflow refuses quotes, commas, colons, brackets, braces)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def prompt_rows(manifest: dict, prompts: dict[str, tuple[str, ...]] | None = None) -> list[dict]:
    """A prompt set's rows: the manifest's per-sample entries with the prompt text beside them
    (`prompt`: the first clip's, `prompts`: every clip's, one a line)."""
    rows = []
    for entry in manifest.get("samples", []):
        texts = (prompts or {}).get(entry["name"], ())
        rest = {k: v for k, v in entry.items() if k != "name"}
        rows.append(
            {"name": entry["name"], "prompt": texts[0] if texts else "", "prompts": "\n".join(texts), **rest}
        )
    return rows


def dataset_digest(*parts) -> str:
    """sha256 over the JSON of `parts` (rows, a manifest digest and a source), what names a dataset."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
