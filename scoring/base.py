"""The streaming interface every metric implements.

A video is never loaded whole. The runner (`scoring/stream.py`) reads it in chunks of
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

Per-frame values: a `PerFrameMetric` (the aesthetic, imaging, consistency and motion-smoothness
dimensions) is built from a value per frame that its accumulator reports as it computes it
(`Accumulator.emit`). Metrics derived from those values (the drift protocols, `drift_protocols.py`)
join the metric's pass over a video (`PerFrameMetric.join`) instead of running its network again:
every metric reading the pass feeds it the same frames, and each frame reaches the network once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scoring.specs import MetricSpec, spec


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
    # The video's file, where the runner reads one: the energy score finds the sample's other draws
    # beside it (scoring/energy.py `draw_paths`).
    path: Path | None = None


@dataclass
class VideoResult:
    """One video's outcome for one metric.

    value: the per-video score (None if undefined, e.g. a 1-frame video for a consistency metric).
    weight: how much the video counts when the reference aggregates by frames or pairs (else 1).
    windows: the per-window values in order (the drift curve), None where a window had no value. The
      runner takes them from `end_window`, or from `finish` for an accumulator that knows them only
      once it has seen the whole video (`Accumulator.windows_at_finish`).
    extra: what a set-level aggregate needs (e.g. FVD features [N, 400]).
    """

    value: float | None
    weight: float = 1.0
    windows: list[float | None] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


class Accumulator:
    """Per-video state of one metric. Subclasses implement update / end_window / finish.

    An accumulator may also report the per-frame values it computes (`emit`) to listeners that derive
    other metrics from them in the same pass (`listen`).
    """

    listeners: tuple[Callable[[torch.Tensor, torch.Tensor], None], ...] = ()
    # True: the per-window values are those `finish` returns, not `end_window`'s (non_repetition: a
    # window's frames against every earlier frame, whose features may still be in the network's batch)
    windows_at_finish: bool = False

    def listen(self, listener: Callable[[torch.Tensor, torch.Tensor], None]) -> None:
        """Call listener(frames, values) with every per-frame value computed from now on: frames [K]
        int64 frame indices in the video, values [K] (a score per frame) or [K, D] (a feature per frame)."""
        self.listeners = (*self.listeners, listener)

    def emit(self, frames: torch.Tensor, values: torch.Tensor) -> None:
        for listener in self.listeners:
            listener(frames, values)

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
        raise AttributeError(f"{self.attr} is stated in scoring/specs.py, not on the metric")


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
    over_draws = _SpecFact(lambda s: s.over_draws)  # the energy scores: a video and its other draws beside it
    backend: str = "reference"  # which feature extractor produced the numbers (weights, random, toy)

    def new_video(self, info: VideoInfo) -> Accumulator:
        raise NotImplementedError

    def aggregate(self, results: list[VideoResult]) -> float | None:
        """Mean of the defined per-video values (the default of most VBench dimensions)."""
        values = [r.value for r in results if r.value is not None]
        return sum(values) / len(values) if values else None


class SharedPass:
    """One accumulator of a `PerFrameMetric` over one video, read by several metrics (the metric itself
    and the drift protocols built on it). Each reader feeds it the frames it is given, from its own
    position; frames the accumulator has already seen are skipped, so each frame is computed once."""

    def __init__(self, acc: Accumulator, info: VideoInfo) -> None:
        self.acc, self.info = acc, info
        self.readers: set[str] = set()
        self.seen = 0  # frames given to the accumulator
        self._result: VideoResult | None = None

    def feed(self, frames: torch.Tensor, start: int, reference: torch.Tensor | None = None) -> None:
        """Frames [T, 3, H, W] that start at frame `start` of the video; those already seen are skipped."""
        if start > self.seen:
            raise ValueError(f"{self.info.name}: frames must arrive in order (at {self.seen}, got {start})")
        skip = self.seen - start
        if skip < frames.shape[0]:
            self.acc.update(frames[skip:], reference=None if reference is None else reference[skip:])
            self.seen += frames.shape[0] - skip

    def finish(self) -> VideoResult:
        """The accumulator's result, computed once for every reader."""
        if self._result is None:
            self._result = self.acc.finish()
        return self._result


class _OwnReader(Accumulator):
    """A `PerFrameMetric`'s own accumulator for the runner: its values, read through the shared pass."""

    def __init__(self, shared: SharedPass) -> None:
        self.shared = shared
        self.position = 0  # frames given to this reader

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        self.shared.feed(frames, self.position, reference)
        self.position += frames.shape[0]

    def end_window(self) -> float | None:
        if self.shared.seen != self.position:
            raise RuntimeError(
                f"the metrics reading {self.shared.info.name!r} in one pass must get the same frames"
            )
        return self.shared.acc.end_window()

    def finish(self) -> VideoResult:
        return self.shared.finish()


class PerFrameMetric(Metric):
    """A metric computed from a value per frame that its accumulator reports (`Accumulator.emit`).

    Metrics derived from those values (`drift_protocols.py`) join its pass over a video (`join`), so
    its network runs once per frame however many of them are scored together. Subclasses implement
    `new_accumulator` (what `new_video` was) and `span_value`.

    frame_reach: (before, after): how many frames before and after frame i its value depends on
      (motion smoothness: the two even neighbours a predicted odd frame is interpolated from), so that
      a span of frames takes only the values computed from frames inside it.
    """

    frame_reach: tuple[int, int] = (0, 0)

    def new_accumulator(self, info: VideoInfo) -> Accumulator:
        raise NotImplementedError

    def span_value(self, values: torch.Tensor) -> float | None:
        """The metric's value of a span of frames scored as a video of its own, from the per-frame values
        emitted for the span's frames, in order ([K] or [K, D]); None when the span has too few."""
        raise NotImplementedError

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _OwnReader(self.join(info, self.name))

    def join(self, info: VideoInfo, reader: str) -> SharedPass:
        """The pass over video `info` that metric `reader` reads: the one under way for this same
        VideoInfo object when `reader` has not joined it yet, else a new pass."""
        current: SharedPass | None = self.__dict__.get("_pass")
        if current is None or current.info is not info or reader in current.readers:
            current = self._pass = SharedPass(self.new_accumulator(info), info)
        current.readers.add(reader)
        return current


def weighted_mean(results: list[VideoResult]) -> float | None:
    """sum(value * weight) / sum(weight): the frame- or pair-weighted aggregate."""
    num = sum(r.value * r.weight for r in results if r.value is not None)
    den = sum(r.weight for r in results if r.value is not None)
    return num / den if den else None
