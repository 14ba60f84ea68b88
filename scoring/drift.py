"""Direct drift measures: how far later windows (generated clips) move from the first one, in pixels.

No network is involved, so these work for every backend; they matter most in the toy world, where
the true scene is known and colour, sharpness and the true continuation are direct evidence of drift.

- colour_shift: the RMS over R, G, B of the difference between a window's mean colour and the first
  window's, on the [0, 1] scale: |m_k - m_0|_2 / sqrt(3). A uniform +0.1 offset gives 0.1; the maximum
  is 1 (black vs white). The mean colour catches global casts, fading and darkening (the usual
  autoregressive colour drift); it is blind to changes that keep the mean (two objects swapping
  colours), which the consistency dimensions see instead.
- sharpness_loss: sharpness = mean squared Laplacian (4-neighbour kernel, valid pixels only) of the
  BT.601 luma in [0, 1], pooled over the window's frames; the value is 1 - S_k / S_0. 0 means as sharp
  as the first window, 1 means flat, negative means sharper (e.g. noise or ringing). None when the
  first window is flat (S_0 = 0).
- truth_distance: mean absolute error in [0, 1] against the ground-truth continuation
  (`update(frames, reference=gt)`, as PSNR), averaged over the window's frames.

All three: lower is better. Windows are the drift curve; the first window is the reference of the
first two, so their curve starts at exactly 0.

Per-video value:
- colour_shift, sharpness_loss: the mean over the windows after the first (the mean height of the
  drift curve; a steadily drifting video scores about half its last window). A video with a single
  window has no drift to measure: value None (this includes every clip of the VBench-Long protocol,
  which scores 2-second clips on their own). `extra["last_window"]` keeps the end point.
- truth_distance: the mean over all compared frames (every window has a ground truth, the first too);
  it is a `fidelity.PairedMetric`, so it shares PSNR's and SSIM's per-frame accumulator.
The suite value is the mean of per-video values (the base `Metric.aggregate`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult
from scoring.fidelity import PairedMetric

BACKEND_DIRECT = "direct"  # weight-free pixel statistics, the same for every backend
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


# ----------------------------------------------------------------------------------------------
# Pure formulas (known-answer tested)


def _check_frames(frames: torch.Tensor) -> None:
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"expected RGB frames [T, 3, H, W], got {tuple(frames.shape)}")


def rgb_sum(frames: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Sum of RGB in [0, 1] over all pixels of frames [T, 3, H, W] (float 0-255) -> ([3] float64, pixels)."""
    _check_frames(frames)
    total = frames.double().sum(dim=(0, 2, 3)) / 255.0  # [3]
    return total, frames.shape[0] * frames.shape[2] * frames.shape[3]


def mean_rgb(frames: torch.Tensor) -> torch.Tensor:
    """Mean colour of frames [T, 3, H, W] float 0-255 -> [3] float64 in [0, 1]."""
    total, pixels = rgb_sum(frames)
    return total / pixels


def colour_shift(reference_rgb: torch.Tensor, rgb: torch.Tensor) -> float:
    """RMS over channels of the difference of two mean colours [3] in [0, 1]: |a - b|_2 / sqrt(3)."""
    return float((rgb.double() - reference_rgb.double()).pow(2).mean().sqrt())


def laplacian_energy_sum(frames: torch.Tensor) -> tuple[float, int]:
    """Sum of squared Laplacians of the luma in [0, 1] over the valid pixels -> (sum, pixel count)."""
    _check_frames(frames)
    if min(frames.shape[-2:]) < 3:
        raise ValueError(f"sharpness needs frames of at least 3x3 pixels, got {tuple(frames.shape[-2:])}")
    luma = torch.tensor(LUMA, dtype=torch.float64, device=frames.device).view(1, 3, 1, 1)
    gray = (frames.double() / 255.0 * luma).sum(dim=1, keepdim=True)  # [T, 1, H, W]
    kernel = torch.tensor(_LAPLACIAN, dtype=torch.float64, device=frames.device).view(1, 1, 3, 3)
    lap = F.conv2d(gray, kernel)  # [T, 1, H - 2, W - 2]: no padding, so borders add no fake edges
    return float(lap.pow(2).sum()), lap.numel()


def sharpness(frames: torch.Tensor) -> float:
    """Mean squared Laplacian of the luma of frames [T, 3, H, W] float 0-255 (0 for flat frames)."""
    total, count = laplacian_energy_sum(frames)
    return total / count


def sharpness_loss(reference_sharpness: float, window_sharpness: float) -> float | None:
    """1 - S / S_ref; None when the reference is flat (no sharpness to lose)."""
    if reference_sharpness <= 0.0:
        return None
    return 1.0 - window_sharpness / reference_sharpness


def mean_abs_error(frames: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-frame mean absolute error in [0, 1] of frames vs ground truth, both [T, 3, H, W] 0-255 -> [T]."""
    _check_frames(frames)
    if frames.shape != reference.shape:
        raise ValueError(
            f"the video and its ground truth differ in shape: {tuple(frames.shape)} vs {tuple(reference.shape)}"
        )
    return TruthDistance.per_frame(frames.double() / 255.0, reference.double() / 255.0)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


# ----------------------------------------------------------------------------------------------
# colour_shift / sharpness_loss: a window statistic compared with the first window's


class _FirstWindowAccumulator(Accumulator):
    """Pools a statistic (a sum and a count) over each window; compares each window with the first."""

    def __init__(self, metric: _FirstWindowMetric) -> None:
        self.metric = metric
        self.total: torch.Tensor | float = 0.0  # pooled sum of the open window
        self.count = 0
        self.reference = None  # the first window's statistic
        self.windows: list[float | None] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if not frames.shape[0]:
            return
        total, count = self.metric.pool(frames)
        self.total = self.total + total
        self.count += count

    def end_window(self) -> float | None:
        if not self.count:  # an empty window has no statistic; it does not become the reference
            self.windows.append(None)
            return None
        stat = self.total / self.count
        if self.reference is None:
            self.reference = stat
        value = self.metric.compare(self.reference, stat)
        self.windows.append(value)
        self.total, self.count = 0.0, 0
        return value

    def finish(self) -> VideoResult:
        if self.count:  # frames after the last end_window still form a window
            self.end_window()
        later = [v for v in self.windows[1:] if v is not None]
        reference = self.reference.tolist() if isinstance(self.reference, torch.Tensor) else self.reference
        return VideoResult(
            value=_mean(later),
            windows=list(self.windows),
            extra={"last_window": later[-1] if later else None, "reference_statistic": reference},
        )


class _FirstWindowMetric(Metric):
    backend = BACKEND_DIRECT

    def pool(self, frames: torch.Tensor):
        """frames [T, 3, H, W] -> (sum, count) of the statistic, pooled over a window."""
        raise NotImplementedError

    def compare(self, reference, stat) -> float | None:
        raise NotImplementedError

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _FirstWindowAccumulator(self)


class ColourShift(_FirstWindowMetric):
    """RMS channel difference of each window's mean RGB from the first window's (see module doc)."""

    name = "colour_shift"

    def pool(self, frames: torch.Tensor) -> tuple[torch.Tensor, int]:
        return rgb_sum(frames)

    def compare(self, reference: torch.Tensor, stat: torch.Tensor) -> float:
        return colour_shift(reference, stat)


class SharpnessLoss(_FirstWindowMetric):
    """1 - sharpness(window) / sharpness(first window), sharpness = mean squared Laplacian of luma."""

    name = "sharpness_loss"

    def pool(self, frames: torch.Tensor) -> tuple[float, int]:
        return laplacian_energy_sum(frames)

    def compare(self, reference: float, stat: float) -> float | None:
        return sharpness_loss(reference, stat)


# ----------------------------------------------------------------------------------------------
# truth_distance: against the true continuation


class TruthDistance(PairedMetric):
    """Mean absolute error in [0, 1] against the ground-truth continuation, per window and per video."""

    name = "truth_distance"
    backend = BACKEND_DIRECT

    @staticmethod
    def per_frame(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().mean(dim=(1, 2, 3))


METRICS: dict[str, type[Metric]] = {
    "colour_shift": ColourShift,
    "sharpness_loss": SharpnessLoss,
    "truth_distance": TruthDistance,
}
