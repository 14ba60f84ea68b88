"""The one place that talks to MLflow.

One MLflow experiment per declared experiment (created once, in the parent process), a parent run
per invocation and a child run per (arm, seed), owned by an `ArmRun`. Everything goes through an
explicit MlflowClient, so no global "active run" state leaks between arms. Key names come from
`reports/keys.py`, which the reports read with.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness import workspace
from reports import keys
from svi.config import ConfigError

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch
REACH_TIMEOUT_SECONDS = 5.0


_created: set[str] = set()  # SQLite stores this process has opened (their tables exist)


def client() -> MlflowClient:
    uri = workspace.tracking_uri()
    if uri.startswith("sqlite:///") and uri not in _created:
        # Two harness processes opening a new SQLite store at once would both create its tables
        # ("duplicate column name"): the first creates them under a lock, the second finds them.
        with workspace.stage_lock(Path(uri.removeprefix("sqlite:///"))):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        _created.add(uri)
    return MlflowClient(tracking_uri=uri)


def check_reachable(uri: str | None = None, timeout: float = REACH_TIMEOUT_SECONDS) -> None:
    """The tracking store answers within `timeout` seconds, else a ConfigError naming the URI.

    A server (http, https) must answer any HTTP request; a database URL must accept a connection; a
    local store must be writable. Checked before anything is logged, so a wrong MLFLOW_TRACKING_URI
    costs seconds instead of a silent hang.
    """
    uri = uri or workspace.tracking_uri()
    scheme = uri.split(":", 1)[0].lower()
    try:
        if scheme in ("http", "https"):
            import requests

            requests.get(uri.rstrip("/") + "/health", timeout=timeout)
        elif scheme.startswith(("postgresql", "mysql", "mssql")):
            import sqlalchemy

            args = {"connect_timeout": int(max(1, timeout))}
            with sqlalchemy.create_engine(uri, connect_args=args).connect():
                pass
        elif scheme == "sqlite":
            workspace.check_writable(Path(uri.removeprefix("sqlite:///")).parent)
        elif scheme == "file":
            workspace.check_writable(Path(uri.removeprefix("file://")))
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(
            f"the MLflow tracking store {uri} did not answer within {timeout:.0f} s "
            f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). Start the server or "
            "fix MLFLOW_TRACKING_URI; unset it to track into the workspace's SQLite file."
        ) from None


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
    try:
        return c.create_experiment(name, artifact_location=f"{workspace.artifact_root()}/{name}")
    except Exception:  # another process created it between the two calls
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


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


# -- the run of one arm ----------------------------------------------------------------------------


class ArmRun:
    """The MLflow child run of one ArmPlan: its tags, configuration, training curves, suites, status."""

    def __init__(self, c: MlflowClient, experiment_id: str, parent_id: str, unit):
        self.c = c
        self.seed = unit.seed
        tags = {
            "arm": unit.arm,
            "seed": str(unit.seed),
            "role": unit.role,
            "experiment": unit.experiment,
            **unit.tags,
        }
        self.run_id = start_child(c, experiment_id, parent_id, unit.run_name, tags)

    def log_config(self, cfg, config_file: Path) -> None:
        from harness.experiment import flatten

        set_tags(self.c, self.run_id, {"variant": cfg.variant or "none", "preset": cfg.model.preset})
        log_params(self.c, self.run_id, flatten(cfg.model_dump(mode="json")))
        self.c.log_artifact(self.run_id, str(config_file))

    def log_params(self, params: dict) -> None:
        log_params(self.c, self.run_id, params)

    def log_training(self, train_folder: Path, lora: Path | None = None) -> None:
        """The trainer's curves (metrics.jsonl) and, when training finished, its LoRA."""
        log_training_metrics(self.c, self.run_id, train_folder / "metrics.jsonl")
        if lora is not None:
            self.c.log_artifact(self.run_id, str(lora))

    def log_suite(self, track: str, manifest: dict, videos: Path, report: dict, scores: Path) -> None:
        """One track's inputs (dataset), videos with keyframe strips, scores, drift curves, backends."""
        set_tags(self.c, self.run_id, {keys.SUITE_DIGEST_PREFIX + track: manifest["digest"], "suite": track})
        log_dataset(self.c, self.run_id, track, manifest)
        for mp4 in sorted(videos.glob("*.mp4")):
            strip = videos / f"{mp4.stem}.keyframes.png"
            if not strip.is_file():
                keyframe_strip(mp4, strip)
            self.c.log_artifact(self.run_id, str(mp4), f"videos/{track}")
            self.c.log_artifact(self.run_id, str(strip), f"videos/{track}")
        rows = [(keys.score_key(track, m), v, 0) for m, v in report["aggregate"].items()]
        for m, curve in drift_curves(report).items():
            rows += [(keys.drift_key(track, m), v, k) for k, v in enumerate(curve)]
        log_metrics(self.c, self.run_id, rows)
        set_tags(self.c, self.run_id, {keys.backend_tag(m): b for m, b in report["backends"].items()})
        for f in sorted(scores.glob("scores.*")):
            self.c.log_artifact(self.run_id, str(f), f"scores/{track}")
        log_samples(self.c, self.run_id, track, self.seed, report)

    def log_metrics(self, rows: list[tuple[str, float, int]]) -> None:
        log_metrics(self.c, self.run_id, rows)

    def set_tags(self, tags: dict[str, str]) -> None:
        set_tags(self.c, self.run_id, tags)

    def finish(self, status: str = "FINISHED") -> None:
        finish(self.c, self.run_id, status)

    def fail(self, error: str, files: list[Path]) -> None:
        for f in files:
            if f.is_file():
                self.c.log_artifact(self.run_id, str(f))
        set_tags(self.c, self.run_id, {"error": error[:5000]})
        finish(self.c, self.run_id, "FAILED")


def samples_table(track: str, seed: int, report: dict):
    """A scores report (`SuiteScores.to_json()`) as the per-sample table the reports recompute from.

    One row per (video, window) and per video (`stream.report_rows` without its suite row), with
    columns `keys.SAMPLE_COLUMNS` (sample = the video's stem) and one per metric. Set-level metrics
    (FVD) have no per-video value: their column is null and the run's final score is the set value.
    """
    import pandas as pd

    from benchmarks.metrics.stream import report_rows

    rows = [r for r in report_rows(report) if r["level"] != "suite"]
    table = pd.DataFrame(
        rows, columns=["level", "video", "window", "start_frame", "end_frame", *report["aggregate"]]
    )
    table = table.rename(columns={"video": "sample"}).assign(track=track, seed=int(seed))
    table["window"] = table["window"].astype("Int64")  # integers with nulls for the video rows
    metrics = list(report["aggregate"])
    table[metrics] = table[metrics].astype(float)  # None (no value) -> NaN, written as null
    return table[[*keys.SAMPLE_COLUMNS, *metrics]]


def log_samples(c: MlflowClient, run_id: str, track: str, seed: int, report: dict) -> None:
    """Log a track's per-sample table (`samples_table`) to the run as `keys.samples_artifact(track)`."""
    c.log_table(run_id, data=samples_table(track, seed, report), artifact_file=keys.samples_artifact(track))


def drift_curves(report: dict) -> dict[str, list[float | None]]:
    """metric -> per-clip mean over videos of the window values (index = clip)."""
    curves: dict[str, list[float | None]] = {}
    for name in report["aggregate"]:
        per_video = [v["window_scores"].get(name) or [] for v in report["videos"]]
        length = max((len(w) for w in per_video), default=0)
        curve = []
        for k in range(length):
            vals = [w[k] for w in per_video if k < len(w) and w[k] is not None]
            curve.append(sum(vals) / len(vals) if vals else None)
        curves[name] = curve
    return curves


def keyframe_strip(video: Path, out: Path, count: int = 8) -> Path:
    """`count` evenly spaced frames side by side (the MLflow UI previews images, not videos)."""
    import numpy as np
    from PIL import Image

    from benchmarks.metrics.stream import FrameReader

    reader = FrameReader(video)
    n = reader.num_frames
    wanted = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
    frames, pos = [], 0
    for idx in wanted:
        frames.append(reader.read(pos, idx + 1)[-1].permute(1, 2, 0).byte().numpy())
        pos = idx + 1
    reader.close()
    Image.fromarray(np.concatenate(frames, axis=1)).save(out)
    return out
