"""The harness's side of training probes: reading, scoring and watching them while a trial trains.

The training side (`svi/training/probes.py`) writes `<train output_dir>/probes/step_N.mp4`, a short long video
made with the model at training step N, and its sidecar `step_N.json` (the generator's, written
last), which gives each clip's frame range. Here a probe is scored like a benchmark video with one
window per clip, and the per-clip values reduce to one number: the drift of that step's model.
`ProbeWatcher` reports those numbers to MLflow and Optuna while a sweep trial trains and prunes it
when Optuna says so.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.tracking import keys
from svi.config import ConfigError

REDUCTIONS = ("change", "mean", "last")


def needs_reference(name: str) -> bool:
    """A probe has no ground-truth video, no reference set and no audio track."""
    from scoring.specs import spec

    s = spec(name)
    return s.needs_reference or s.needs_audio


def usable_metrics() -> list[str]:
    """Metrics that can score a probe on its own (torch-free: used while validating a sweep)."""
    from scoring.specs import ALL

    return [m for m in ALL if not needs_reference(m)]


def backends() -> tuple[str, ...]:
    from scoring.specs import BACKENDS

    return tuple(BACKENDS)


def build_metric(name: str, backend: str):
    """The metric with its networks, built once per process (shared with `harness run`'s scoring)."""
    from scoring.score import build_metrics

    metrics, unavailable = build_metrics([name], backend)
    if not metrics:
        raise ConfigError(
            f"probe metric {name} (backend {backend}) cannot be built here: "
            f"{unavailable.get(name, 'unavailable')}"
        )
    if needs_reference(name):
        raise ConfigError(
            f"probe metric {name} needs a ground-truth video or set, or audio, which probes do not have"
        )
    return metrics[0]


def ready_probes(folder: Path) -> list[tuple[int, Path]]:
    """(step, mp4) of the finished probes in a probes/ folder, by step. The sidecar is written after
    the video, so its presence means the video is whole."""
    out = []
    for side in Path(folder).glob("step_*.json"):  # svi.training.probes.probe_name
        video = side.with_suffix(".mp4")
        try:
            step = int(side.stem.removeprefix("step_"))
        except ValueError:
            continue
        if video.is_file():
            out.append((step, video))
    return sorted(out)


def clip_values(video: Path, metric) -> list[float | None]:
    """The metric's value on each clip of a probe (windows cut at the clip boundaries of its sidecar)."""
    from scoring.stream import input_image, score_video

    ref = input_image(video) if metric.needs_reference_image else None  # the probe's input frame
    return score_video(video, [metric], window="clip", reference_image=ref).results[metric.name].windows


def reduce_clips(values: list[float | None], reduce: str) -> float:
    """change: last clip - first clip (the drift over the rollout); mean: over clips; last: last clip.
    NaN if any clip is NaN (a diverged model)."""
    if not values or any(v is None for v in values):
        raise ValueError(f"the metric has no value for some clip (per clip: {values})")
    if any(math.isnan(v) for v in values):
        return math.nan
    if reduce == "change":
        if len(values) < 2:
            raise ValueError("reduce change needs at least 2 clips")
        return values[-1] - values[0]
    if reduce == "mean":
        return sum(values) / len(values)
    if reduce == "last":
        return values[-1]
    raise ValueError(f"unknown reduce {reduce!r}; choose one of {', '.join(REDUCTIONS)}")


def probe_value(video: Path, metric, reduce: str = "change") -> float:
    """One number for one probe: its per-clip values reduced (see `reduce_clips`)."""
    values = clip_values(video, metric)
    try:
        return reduce_clips(values, reduce)
    except ValueError as e:
        raise RuntimeError(
            f"{video}: {metric.name}: {e}; choose a probe metric that is defined on one clip"
        ) from None


# -- watching a trial while it trains ---------------------------------------------------------------


def probe_sign(metric, direction: str) -> int:
    """+1 when a higher metric value is better exactly when the study maximises, else -1: Optuna
    compares intermediate values in the study's direction."""
    return 1 if metric.higher_is_better == (direction == "maximize") else -1


class ProbeWatcher:
    """Called every second while a trial trains: scores each new probe, logs it to the trial's MLflow
    run as probe/<metric> (step = training step), reports it to Optuna, and raises `pruned(...)`
    when the pruner says so."""

    def __init__(self, trial, metric, sign: int, reduce: str, describe: str, pruned):
        self.trial, self.metric, self.sign, self.reduce = trial, metric, sign, reduce
        self.describe, self.pruned = describe, pruned  # pruned(message, tags) -> the exception to raise
        self.seen: set[int] = set()
        self.run_id: str | None = None
        self.key = keys.probe_key(metric.name)

    def __call__(self, run_id: str, train_dir: Path) -> None:
        from harness import tracking
        from svi.training.probes import PROBE_DIR

        if run_id != self.run_id:
            self.run_id = run_id
            self.trial.set_user_attr("mlflow_run_id", run_id)  # also known if the trial is pruned
        for step, video in ready_probes(train_dir / PROBE_DIR):
            if step in self.seen:
                continue
            self.seen.add(step)
            value = probe_value(video, self.metric, self.reduce)
            tracking.log_metrics(tracking.client(), run_id, [(self.key, value, step)])
            self.trial.report(self.sign * value, step)
            if self.trial.should_prune():
                raise self.pruned(
                    f"pruned at training step {step}: {self.key} = {value:.6g} ({self.describe})",
                    {"pruned": "true", "pruned_step": str(step), "pruned_value": f"{value:.6g}"},
                )


# -- watching a trial while it generates (multi-fidelity: a losing trial stops before its videos end) ----


def partial_value(video, metric, reduce: str, folder: Path) -> float:
    """`probe_value` of a video still being generated (a `VideoState`): its segments so far joined into
    one mp4 in `folder`, with a sidecar of its clips so far."""
    import json

    from svi.video_io import concat_segments

    segments = [video.parts / f"seg_{c['index']:05d}.mp4" for c in video.clips]
    out = folder / f"{video.out_path.stem}.mp4"
    concat_segments(segments, out)
    side = {"clips": video.clips, "num_frames": video.written, "metadata": video.job.metadata or {}}
    out.with_suffix(".json").write_text(json.dumps(side))
    return probe_value(out, metric, reduce)


class GenerationWatcher:
    """Called after every generation round of a trial's videos: every `every` clips, the probe metric
    on each video's clips so far (reduced as the training probes are), its mean over the videos logged
    as probe/<metric> and reported to Optuna at step `offset` + 1, 2, ... (after the training probes'
    steps), and `pruned(...)` raised when the pruner says so. Successive halving over clips: a trial
    that drifts more than the others stops with its videos part-way, its intermediate values kept."""

    def __init__(
        self, trial, metric, sign: int, reduce: str, describe: str, pruned, *, offset: int, every: int
    ):
        self.trial, self.metric, self.sign, self.reduce = trial, metric, sign, reduce
        self.describe, self.pruned = describe, pruned
        self.offset, self.every = offset, every
        self.seen: set[tuple[str, int]] = set()
        self.key = keys.probe_key(metric.name)

    def __call__(self, run_id: str, track: str, videos: list) -> None:
        import tempfile

        from harness import tracking

        clips = min(v.next_clip for v in videos)  # clips every video of the round has
        if clips < 2 or clips % self.every or (track, clips) in self.seen:
            return
        self.seen.add((track, clips))
        with tempfile.TemporaryDirectory() as tmp:
            values = [partial_value(v, self.metric, self.reduce, Path(tmp)) for v in videos]
        value = sum(values) / len(values)
        step = self.offset + len(self.seen)
        tracking.log_metrics(tracking.client(), run_id, [(self.key, value, step)])
        self.trial.report(self.sign * value, step)
        if self.trial.should_prune():
            raise self.pruned(
                f"pruned while generating {track} at clip {clips}: {self.key} = {value:.6g} ({self.describe})",
                {"pruned": "true", "pruned_step": str(step), "pruned_value": f"{value:.6g}",
                 "pruned_clip": str(clips)},
            )  # fmt: skip
