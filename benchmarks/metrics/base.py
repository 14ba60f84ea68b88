"""The streaming interface every metric implements.

A video is never loaded whole. The runner (`benchmarks/metrics/stream.py`) reads it in chunks of
consecutive frames and feeds one `Accumulator` per (metric, video):

    acc = metric.new_video(info)            # VideoInfo: fps, frame count, size, reference image, audio
    acc.update(frames)                      # [T, 3, H, W] float32 in [0, 255], in order; any T >= 1
    acc.update(frames, reference=gt)        # metrics against a ground-truth video get its frames too
    value = acc.end_window()                # closes the current window -> its value (the drift curve)
    ...                                     # more updates and windows
    result = acc.finish()                   # VideoResult: the video's value and what aggregation needs

and the suite value is `metric.aggregate([results of every video])`, computed exactly as the
metric's reference implementation aggregates (frame-weighted for the consistency dimensions, a mean
of per-video values for most others, a set statistic for FVD).

A window is one generated clip or a fixed number of seconds; the runner decides where windows end.
Frames reach `update` as float 0-255 RGB, the way VBench reads them; each metric does its own
resizing and normalisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from benchmarks.metrics.specs import MetricSpec, spec


@dataclass
class VideoInfo:
    name: str
    fps: float
    num_frames: int
    height: int
    width: int
    # The input image of an image-to-video sample ([3, H, W] float 0-255), for the I2V dimensions.
    reference_image: torch.Tensor | None = None
    # The video's soundtrack ([S] float32 mono in [-1, 1] at audio_rate Hz), for Sync-C / Sync-D.
    audio: torch.Tensor | None = None
    audio_rate: int = 16000


@dataclass
class VideoResult:
    """One video's outcome for one metric.

    value: the per-video score (None if undefined, e.g. a 1-frame video for a consistency metric).
    weight: how much the video counts when the reference aggregates by frames or pairs (else 1).
    windows: the per-window values in order (the drift curve), None where a window had no value.
    extra: what a set-level aggregate needs (e.g. FVD features [N, 400]).
    """

    value: float | None
    weight: float = 1.0
    windows: list[float | None] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Accumulator:
    """Per-video state of one metric. Subclasses implement update / end_window / finish."""

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        raise NotImplementedError

    def end_window(self) -> float | None:
        raise NotImplementedError

    def finish(self) -> VideoResult:
        raise NotImplementedError


class _SpecFact:
    """A metric fact read from the metric's row in the spec table (`specs.py`) by its `name`, on the
    class and on instances; read-only, so the fact stays stated once."""

    def __init__(self, read: Callable[[MetricSpec], object]) -> None:
        self.read = read

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj, owner=None):
        return self.read(spec(owner.name if obj is None else obj.name))

    def __set__(self, obj, value) -> None:
        raise AttributeError(f"{self.attr} is stated in benchmarks/metrics/specs.py, not on the metric")


class Metric:
    """A scoring dimension: makes accumulators and aggregates their results over a suite.

    Direction and needs come from the metric's row in the spec table (`specs.py`), by `name`.
    """

    name: str = "metric"
    spec = _SpecFact(lambda s: s)
    higher_is_better = _SpecFact(lambda s: s.higher_is_better)
    needs_reference_video = _SpecFact(lambda s: s.needs_reference_video)  # PSNR/SSIM: vs a ground truth
    needs_reference_image = _SpecFact(lambda s: s.needs_input_image)  # i2v_*: vs the input image
    needs_reference_set = _SpecFact(lambda s: s.needs_reference_set)  # FVD: vs a set of real videos
    needs_audio = _SpecFact(lambda s: s.needs_audio)  # Sync-C/D: the video's soundtrack (VideoInfo.audio)
    backend: str = "reference"  # which feature extractor produced the numbers (weights, random, toy)

    def new_video(self, info: VideoInfo) -> Accumulator:
        raise NotImplementedError

    def aggregate(self, results: list[VideoResult]) -> float | None:
        """Mean of the defined per-video values (the default of most VBench dimensions)."""
        values = [r.value for r in results if r.value is not None]
        return sum(values) / len(values) if values else None


def weighted_mean(results: list[VideoResult]) -> float | None:
    """sum(value * weight) / sum(weight): the frame- or pair-weighted aggregate."""
    num = sum(r.value * r.weight for r in results if r.value is not None)
    den = sum(r.weight for r in results if r.value is not None)
    return num / den if den else None
