"""Reading and scoring the probe rollouts a training run writes (`train.probe_every`, svi/train.py).

`<train output_dir>/probes/step_N.mp4` is a short long video made with the model at training step N;
its sidecar `step_N.json` (the generator's, written last) gives each clip's frame range. A probe is
scored like a benchmark video with one window per clip, and the per-clip values reduce to one
number: the drift of that step's model. `harness sweep` prunes trials on these numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from svi.config import ConfigError

# Scored against a ground-truth video or a reference set, which probes do not have.
NEEDS_REFERENCE = ("psnr", "ssim", "fvd", "truth_distance")
REDUCTIONS = ("change", "mean", "last")


def usable_metrics() -> list[str]:
    """Registry metrics that can score a probe on its own."""
    from benchmarks.metrics import registry

    return [m for m in registry.ALL if m not in NEEDS_REFERENCE]


def backends() -> tuple[str, ...]:
    from benchmarks.metrics import registry

    return tuple(registry.BACKENDS)


def build_metric(name: str, backend: str):
    """The metric with its networks, built once per process (shared with `harness run`'s scoring)."""
    from harness.runner import scoring_metrics

    metrics, unavailable = scoring_metrics(name, backend)
    if not metrics:
        raise ConfigError(
            f"probe metric {name} (backend {backend}) cannot be built here: "
            f"{unavailable.get(name, 'unavailable')}"
        )
    if metrics[0].needs_reference_video:
        raise ConfigError(f"probe metric {name} needs a ground-truth video, which probes do not have")
    return metrics[0]


def ready_probes(folder: Path) -> list[tuple[int, Path]]:
    """(step, mp4) of the finished probes in a probes/ folder, by step. The sidecar is written after
    the video, so its presence means the video is whole."""
    out = []
    for side in Path(folder).glob("step_*.json"):
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
    from benchmarks.metrics.stream import input_image, score_video

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
