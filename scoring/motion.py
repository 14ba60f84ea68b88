"""VBench's motion and quality dimensions whose models are pluggable (docs/method.md §8).

- dynamic_degree: optical flow between frames kept every round(fps / 8); per pair, the mean of the
  top 5% flow magnitudes; a video is dynamic when at least round(4 N / 16) pairs exceed
  6 * min(H, W) / 256 (N sampled frames); the suite value is the fraction of dynamic videos.
- motion_smoothness: a frame interpolator predicts every odd frame from its even neighbours;
  per video (255 - MAE on uint8 between predicted and real odd frames) / 255; mean over videos.
- imaging_quality: a no-reference quality model (MUSIQ-SPAQ in VBench) per frame, longer side
  resized to 512 if larger, input in [0, 1]; mean over frames and videos, divided by 100 at the end.

imaging_quality and motion_smoothness emit a value per frame (`base.PerFrameMetric`): the MUSIQ score
of each frame, and the mean absolute error of each predicted odd frame, which depends on the frames
before and after it (`frame_reach` (1, 1)); the drift protocols (`drift_protocols.py`) score spans of
the video from them without running the model again. A span's motion smoothness takes the
predictions whose three frames lie inside it; the triplets are the video's (even frames predict odd
ones), so a span starting at an odd frame uses the other parity than VBench scoring those frames as a
clip would (which would interpolate the frames again).

The models are callables, so the formulas are tested on crafted inputs and any backend (VBench's
RAFT / AMT-S / MUSIQ weights, or a toy-world model) plugs in:
    FlowFn:    (a [N, 3, H, W], b [N, 3, H, W]) float 0-255 -> flow [N, 2, H, W] in pixels
    InterpFn:  (a, b) float 0-255 -> the frame midway [N, 3, H, W] float 0-255
    QualityFn: frames [N, 3, H, W] in [0, 1] -> scores [N] (MUSIQ scale, 0-100)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from scoring.base import Accumulator, Metric, PerFrameMetric, VideoInfo, VideoResult

FlowFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
InterpFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
QualityFn = Callable[[torch.Tensor], torch.Tensor]


# -- dynamic degree --------------------------------------------------------------------------------


def sample_interval(fps: float) -> int:
    """Keep every round(fps / 8)-th frame (at least every frame)."""
    return max(1, round(fps / 8))


def dynamic_threshold(height: int, width: int) -> float:
    return 6.0 * min(height, width) / 256.0


def dynamic_count(num_sampled_frames: int) -> int:
    return round(4 * num_sampled_frames / 16.0)


def top_flow_magnitude(flow: torch.Tensor, fraction: float = 0.05) -> torch.Tensor:
    """Mean of the largest `fraction` of per-pixel flow magnitudes. flow [N, 2, H, W] -> [N]."""
    mag = flow.float().pow(2).sum(dim=1).sqrt().flatten(1)  # [N, H*W]
    k = max(1, int(mag.shape[1] * fraction))
    return mag.topk(k, dim=1).values.mean(dim=1)


class _DynamicAccumulator(Accumulator):
    def __init__(self, flow_fn: FlowFn, info: VideoInfo, batch: int):
        self.flow_fn, self.batch = flow_fn, batch
        self.every = sample_interval(info.fps)
        self.thres = dynamic_threshold(info.height, info.width)
        self.seen = 0  # frames received
        self.sampled = 0  # frames kept
        self.prev: torch.Tensor | None = None  # last kept frame [3, H, W]
        self.scores: list[float] = []
        self.window: list[float] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        idx = [i for i in range(frames.shape[0]) if (self.seen + i) % self.every == 0]
        self.seen += frames.shape[0]
        kept = frames[idx]  # [k, 3, H, W]
        if not len(kept):
            return
        self.sampled += len(kept)
        seq = kept if self.prev is None else torch.cat([self.prev[None], kept])
        self.prev = kept[-1]
        for s in range(0, seq.shape[0] - 1, self.batch):
            a, b = seq[s : s + self.batch], seq[s + 1 : s + 1 + self.batch]
            a = a[: b.shape[0]]
            mags = top_flow_magnitude(self.flow_fn(a, b)).tolist()
            self.scores += mags
            self.window += mags

    def end_window(self) -> float | None:
        value = sum(self.window) / len(self.window) if self.window else None
        self.window = []
        return value

    def finish(self) -> VideoResult:
        if not self.scores:
            return VideoResult(None, 0.0)
        moving = sum(s > self.thres for s in self.scores)
        dynamic = moving >= dynamic_count(self.sampled)
        return VideoResult(
            float(dynamic),
            extra={"pairs_over_threshold": moving, "pairs": len(self.scores), "threshold": self.thres},
        )


class DynamicDegree(Metric):
    name = "dynamic_degree"

    def __init__(self, flow_fn: FlowFn, backend: str, batch: int = 8):
        self.flow_fn, self.backend, self.batch = flow_fn, backend, batch

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _DynamicAccumulator(self.flow_fn, info, self.batch)


# -- motion smoothness -----------------------------------------------------------------------------


class _SmoothnessAccumulator(Accumulator):
    """Frames 0, 2, 4, ... are inputs; 1, 3, 5, ... are predicted and compared."""

    def __init__(self, interp_fn: InterpFn, batch: int):
        self.interp_fn, self.batch = interp_fn, batch
        self.seen = 0
        self.tail: torch.Tensor | None = None  # frames not yet used: [t, 3, H, W], t <= 2
        self.abs_sum = 0.0  # sum of |pred - real| over compared pixels (uint8 scale)
        self.count = 0
        self.win_sum, self.win_count = 0.0, 0

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        seq = frames if self.tail is None else torch.cat([self.tail, frames])
        start = self.seen - (0 if self.tail is None else self.tail.shape[0])  # video index of seq[0]
        self.seen += frames.shape[0]
        first_even = start % 2  # offset in seq of the first even-indexed frame
        evens = list(range(first_even, seq.shape[0] - 2, 2))  # triplets (e, e+1, e+2) fully inside seq
        for s in range(0, len(evens), self.batch):
            ids = torch.tensor(evens[s : s + self.batch])
            pred = self.interp_fn(seq[ids], seq[ids + 2])
            # VBench converts the prediction with clip + astype(uint8): truncation, not rounding.
            pred_u8 = pred.clamp(0, 255).floor()
            real_u8 = seq[ids + 1].clamp(0, 255).round().to(torch.uint8).float()
            diff = (pred_u8 - real_u8).abs()  # [k, 3, H, W]
            self.emit(start + ids + 1, diff.mean(dim=(1, 2, 3)).double())  # per predicted frame
            self.abs_sum += float(diff.sum())
            self.count += diff.numel()
            self.win_sum += float(diff.sum())
            self.win_count += diff.numel()
        keep_from = evens[-1] + 2 if evens else first_even
        self.tail = seq[keep_from:].clone()

    def end_window(self) -> float | None:
        value = (255.0 - self.win_sum / self.win_count) / 255.0 if self.win_count else None
        self.win_sum, self.win_count = 0.0, 0
        return value

    def finish(self) -> VideoResult:
        if not self.count:
            return VideoResult(None, 0.0)
        return VideoResult((255.0 - self.abs_sum / self.count) / 255.0)


class MotionSmoothness(PerFrameMetric):
    name = "motion_smoothness"
    frame_reach = (1, 1)  # a predicted frame depends on its two neighbours

    def __init__(self, interp_fn: InterpFn, backend: str, batch: int = 4):
        self.interp_fn, self.backend, self.batch = interp_fn, backend, batch

    def new_accumulator(self, info: VideoInfo) -> Accumulator:
        return _SmoothnessAccumulator(self.interp_fn, self.batch)

    def span_value(self, values: torch.Tensor) -> float | None:
        """values [K]: mean absolute error (uint8 scale) of each predicted frame in the span."""
        return (255.0 - float(values.double().mean())) / 255.0 if values.numel() else None


# -- imaging quality -------------------------------------------------------------------------------


def limit_longer_side(frames: torch.Tensor, longest: int = 512) -> torch.Tensor:
    """Resize [N, 3, H, W] so the longer side is at most `longest` (VBench's 'longer' mode)."""
    h, w = frames.shape[-2:]
    if max(h, w) <= longest:
        return frames
    scale = longest / max(h, w)
    size = (int(h * scale), int(w * scale))
    # VBench: transforms.Resize(..., antialias=False) on tensors, i.e. plain bilinear
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=False)


class _QualityAccumulator(Accumulator):
    def __init__(self, quality_fn: QualityFn, batch: int):
        self.quality_fn, self.batch = quality_fn, batch
        self.scores: list[float] = []
        self.window: list[float] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        for s in range(0, frames.shape[0], self.batch):
            x = limit_longer_side(frames[s : s + self.batch]) / 255.0
            vals = self.quality_fn(x).float().tolist()
            first = len(self.scores)
            self.emit(torch.arange(first, first + len(vals)), torch.tensor(vals, dtype=torch.float64))
            self.scores += vals
            self.window += vals

    def end_window(self) -> float | None:
        value = sum(self.window) / len(self.window) / 100.0 if self.window else None
        self.window = []
        return value

    def finish(self) -> VideoResult:
        # VBench divides the mean over frames and videos by 100 once, at the end. The mean is linear,
        # so dividing each video's mean equals that; the raw mean stays in extra.
        if not self.scores:
            return VideoResult(None, 0.0)
        raw = sum(self.scores) / len(self.scores)
        return VideoResult(raw / 100.0, extra={"musiq_mean": raw, "frames": len(self.scores)})


class ImagingQuality(PerFrameMetric):
    name = "imaging_quality"

    def __init__(self, quality_fn: QualityFn, backend: str, batch: int = 8):
        self.quality_fn, self.backend, self.batch = quality_fn, backend, batch

    def new_accumulator(self, info: VideoInfo) -> Accumulator:
        return _QualityAccumulator(self.quality_fn, self.batch)

    def span_value(self, values: torch.Tensor) -> float | None:
        """values [K]: the MUSIQ score (0-100) of each frame in the span."""
        return float(values.double().mean()) / 100.0 if values.numel() else None
