"""The MLflow child run of one (arm, seed) unit, and the per-sample tables the reports recompute from."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from harness.base.redact import scrub
from harness.tracking import keys
from harness.tracking.curves import CurveForwarder, log_training_metrics
from harness.tracking.datasets import dataset_digest, log_dataset, prompt_rows
from harness.tracking.lifecycle import (
    finish,
    finish_quietly,
    log_metrics,
    log_params,
    set_note,
    set_tags,
    start_child,
)
from harness.tracking.liveness import Heartbeat
from svi.config import TRAIN_ONLY_SECTIONS

# TRAIN_ONLY_SECTIONS (harness/declare/plan.py): an untrained arm does not log them as params, so its row in
# the UI does not claim a LoRA rank or learning rate it never used.


class ArmRun:
    """The MLflow child run of one ArmPlan: its tags, configuration, training curves, suites, status.

    `description` becomes the run's description in the UI (`runner.arm_description`)."""

    def __init__(self, c: MlflowClient, experiment_id: str, parent_id: str, unit, description: str = ""):
        self.c = c
        self.seed = unit.seed
        self.arm = unit.arm
        self.trains = unit.train
        self.capacity: int | None = None  # replay-memory entries per slot, from the configuration
        tags = {
            "arm": unit.arm,
            "seed": str(unit.seed),
            "role": unit.role,
            keys.TRAINED_TAG: str(unit.trained_weights).lower(),
            "experiment": unit.experiment,
            **unit.tags,
        }
        self.run_id = start_child(c, experiment_id, parent_id, unit.run_name, tags)
        if description:
            set_note(c, self.run_id, description)
        self.heartbeat = Heartbeat(c, self.run_id)
        self.curves: CurveForwarder | None = None

    def log_config(self, cfg, config_file: Path) -> None:
        from harness.base.hashing import flatten

        set_tags(self.c, self.run_id, {"variant": cfg.variant or "none", "preset": cfg.model.preset})
        params = flatten(cfg.model_dump(mode="json"))
        if not self.trains:
            params = {k: v for k, v in params.items() if k.split(".", 1)[0] not in TRAIN_ONLY_SECTIONS}
        log_params(self.c, self.run_id, {keys.ARM_PARAM: self.arm, **params})
        self.capacity = cfg.memory.capacity
        self.c.log_artifact(self.run_id, str(config_file))

    def log_params(self, params: dict) -> None:
        log_params(self.c, self.run_id, params)

    def log_training_set(self, root: str | Path, rows: list[dict]) -> None:
        """The clips this arm trains on (path, caption) as a dataset input with context `training`."""
        root = Path(root)
        log_dataset(
            self.c,
            self.run_id,
            root.name,
            rows,
            dataset_digest(rows, str(root)),
            source=root,
            context="training",
        )

    def live_curves(self, train_folder: Path) -> CurveForwarder:
        """The forwarder of this run's training curves; call its `poll()` while training runs."""
        self.curves = CurveForwarder(
            self.c, self.run_id, train_folder / "metrics.jsonl", capacity=self.capacity
        )
        return self.curves

    def log_training(self, train_folder: Path, lora: Path | None = None) -> None:
        """The trainer's curves (what the live forwarder has not sent yet, or all of metrics.jsonl for
        a training that was skipped), metrics.jsonl itself (the per-slot replay-memory values MLflow
        gets only reduced) and, when training finished, its LoRA."""
        metrics = train_folder / "metrics.jsonl"
        if self.curves is not None:
            self.curves.poll(final=True)
        else:
            log_training_metrics(self.c, self.run_id, metrics, self.capacity)
        if metrics.is_file():
            self.c.log_artifact(self.run_id, str(metrics), keys.TRAIN_METRICS_ARTIFACT)
        if lora is not None:
            self.c.log_artifact(self.run_id, str(lora))

    def log_suite(
        self,
        track: str,
        manifest: dict,
        videos: Path,
        report: dict,
        scores: Path,
        *,
        source: Path | None = None,
        prompts: dict[str, tuple[str, ...]] | None = None,
        review: Path | None = None,
        clock=None,
    ) -> None:
        """One track's inputs (dataset: `source` is the benchmark's track folder, `prompts` each
        sample's prompt text), videos with labelled keyframe strips, per-clip images and a preview
        (written into `review`, default the arm's `review/` folder), scores (also in percent where the
        report shows percent), drift curves, backends. `clock` (harness/base/clock.py) is given the seconds
        of the review media and of the rest, the logging."""
        from harness.base.clock import StageClock

        clock = clock or StageClock()
        with clock("log"):
            self._log_inputs(track, manifest, videos, source, prompts)
        mp4s = sorted(videos.glob("*.mp4"))
        with clock("review_media"):
            self._log_review(track, mp4s, review or videos.parent.parent / "review")
        with clock("log"):
            self._log_scores(track, report, scores)

    def _log_inputs(self, track, manifest, videos, source, prompts) -> None:
        set_tags(self.c, self.run_id, {keys.SUITE_DIGEST_PREFIX + track: manifest["digest"]})
        rows = prompt_rows(manifest, prompts)
        digest = dataset_digest(manifest["digest"], str(source) if source else None)
        log_dataset(self.c, self.run_id, track, rows, digest, source=source)
        for mp4 in sorted(videos.glob("*.mp4")):
            self.c.log_artifact(self.run_id, str(mp4), f"videos/{track}")

    def _log_scores(self, track: str, report: dict, scores: Path) -> None:
        log_metrics(self.c, self.run_id, suite_metric_rows(track, report["aggregate"], drift_curves(report)))
        set_tags(self.c, self.run_id, {keys.backend_tag(m): b for m, b in report["backends"].items()})
        for f in sorted(scores.glob("scores.*")):
            self.c.log_artifact(self.run_id, str(f), f"scores/{track}")
        log_samples(self.c, self.run_id, track, self.seed, report)

    def _log_review(self, track: str, mp4s: list[Path], review: Path) -> None:
        """Keyframe strips (beside each video), one image per clip (`log_image`, step = clip) and the
        track's preview at the artifact root. A video that cannot be read for review leaves a warning,
        not a failed arm: the scores are what the run is for."""
        from harness.tracking import media

        try:
            for mp4 in mp4s:
                frames = media.keyframes(mp4)
                strip = mp4.with_suffix(".keyframes.png")
                if not media.up_to_date([strip], [mp4]):
                    media.keyframe_strip(frames, strip)
                self.c.log_artifact(self.run_id, str(strip), f"videos/{track}")
                key = keys.image_key(track, mp4.stem)
                for f in frames:
                    image = media.enlarge(f.frame, media.REVIEW_SHORT_SIDE)
                    self.c.log_image(self.run_id, image, key=key, step=f.step, synchronous=True)
            if mp4s:
                out = [review / keys.preview_name(track, ext) for ext in (".mp4", ".gif")]
                if not media.up_to_date(out, mp4s):
                    media.suite_preview(mp4s, *out)
                for f in out:
                    self.c.log_artifact(self.run_id, str(f))
        except Exception as e:  # noqa: BLE001 - any decoder or encoder error
            from harness.base.console import say

            say(f"{self.arm} seed {self.seed}: {track}: review media not logged ({type(e).__name__}: {e})")

    def log_metrics(self, rows: list[tuple[str, float, int]]) -> None:
        log_metrics(self.c, self.run_id, rows)

    def set_tags(self, tags: dict[str, str]) -> None:
        set_tags(self.c, self.run_id, tags)

    def finish(self, status: str = "FINISHED") -> None:
        self.heartbeat.stop()
        finish(self.c, self.run_id, status)

    def fail(self, error: str, files: list[Path]) -> None:
        """Mark the run FAILED with `error` (a tag) and `files` (artifacts), logging what it can: a
        failure path must not raise (on a full disk the artifact store may refuse), or the run would
        stay RUNNING until the next invocation reaps it."""
        self.heartbeat.stop()
        for f in files:
            try:
                if f.is_file():
                    self.c.log_artifact(self.run_id, str(f))
            except Exception:  # noqa: BLE001 - the status matters more than the attachment
                pass
        try:
            set_tags(self.c, self.run_id, {"error": scrub(error)[:5000]})
        except Exception:  # noqa: BLE001
            pass
        finish_quietly(self.c, self.run_id, "FAILED")


def suite_metric_rows(
    track: str, aggregate: dict[str, float | None], curves: dict[str, list[float | None]]
) -> list[tuple[str, float | None, int]]:
    """A track's metrics as (key, value, step) rows: its final scores, again in percent where the report
    shows percent, the drift curves (step = clip) and the clip index, the drift charts' x axis."""
    from scoring.specs import SPECS

    rows = [(keys.score_key(track, m), v, 0) for m, v in aggregate.items()]
    for m, v in aggregate.items():
        if m in SPECS and SPECS[m].scale == 100.0 and v is not None:
            rows.append((keys.percent_key(track, m), v * 100.0, 0))
    clips = 0
    for m, curve in curves.items():
        rows += [(keys.drift_key(track, m), v, k) for k, v in enumerate(curve)]
        clips = max(clips, len(curve))
    rows += [
        (keys.CLIP_KEY, k, k) for k in range(clips)
    ]  # the drift charts' x axis (harness/tracking/review.py)
    return rows


def log_table(c: MlflowClient, run_id: str, track: str, table) -> None:
    """Log a track's per-sample table (columns keys.SAMPLE_COLUMNS, then one per metric) to the run as
    `keys.samples_artifact(track)`, what the reports recompute their intervals from."""
    import warnings

    with warnings.catch_warnings():  # MLflow's hint about integer columns concerns model signatures
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        c.log_table(run_id, data=table, artifact_file=keys.samples_artifact(track))


def samples_table(track: str, seed: int, report: dict):
    """A scores report (`SuiteScores.to_json()`) as the per-sample table the reports recompute from.

    One row per (video, window) and per video (`stream.report_rows` without its suite row), with
    columns `keys.SAMPLE_COLUMNS` (sample = the video's stem) and one per metric. Set-level metrics
    (FVD) have no per-video value: their column is null and the run's final score is the set value.
    """
    import pandas as pd

    from scoring.stream import report_rows

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
    log_table(c, run_id, track, samples_table(track, seed, report))


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
