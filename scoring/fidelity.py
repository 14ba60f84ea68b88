"""PSNR and SSIM of a generated video against its ground-truth video (docs/method.md §8).

Both are computed per frame on RGB in [0, 1] (frames / 255) with data_range 1, averaged over the
frames of a window (the drift curve) and of the video, then over videos (the base `aggregate`).

PSNR = 10 log10(1 / MSE) per frame. Identical frames have MSE 0 and PSNR inf, as in torchmetrics and
scikit-image; an inf would make the video's and the suite's mean inf, so means are taken over the
finite frames and the count of identical frames is kept in `extra["identical_frames"]` (a video whose
frames are all identical is inf; `PSNR.aggregate` likewise averages the finite videos).

SSIM is the Wang et al. (2004) index: 11-tap Gaussian window (sigma 1.5), K1 0.01, K2 0.03, population
(co)variances, per channel then averaged over R, G, B. Borders follow scikit-image
(`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)`)
and Wang's MATLAB code: the SSIM map is averaged over the "valid" region only, the (H-10) x (W-10)
window centres whose window lies inside the image. torchmetrics 1.9 reflect-pads the image by 5 pixels
and averages the full H x W map, so it differs from both by the border pixels' share (its map cropped
by 5 pixels is the same as ours).
"""

from __future__ import annotations

import math

import torch

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult

# Pixels per SSIM/PSNR call inside an accumulator: bounds float64 memory at large resolutions (SSIM
# holds 5 maps of [N, 3, H, W]: four 480 x 832 frames, about 0.4 GB) while small frames go in whole
# chunks (at toy size 4 frames a call spent more time calling than computing).
_PIXELS_PER_BATCH = 4 * 480 * 832


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"the video and its ground truth differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}"
        )
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB frames [N, 3, H, W], got {tuple(x.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-frame PSNR in dB of [N, 3, H, W] images in [0, data_range] -> [N]; inf for identical frames."""
    _check_pair(x, y)
    mse = (x - y).pow(2).mean(dim=(1, 2, 3))  # [N]
    return 10.0 * torch.log10(data_range**2 / mse)  # x / 0 = inf -> inf dB


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    window = torch.exp(-(offsets**2) / (2 * sigma**2))
    return window / window.sum()  # [size]


def _band(size: int, window: torch.Tensor) -> torch.Tensor:
    """[size, size - k + 1]: column j holds the k-tap `window` at rows j .. j + k - 1, so that
    `image @ band` is the valid (unpadded) filtering of each row of `image`."""
    k = window.numel()
    columns = torch.arange(size - k + 1, device=window.device)
    band = torch.zeros(size, size - k + 1, dtype=window.dtype, device=window.device)
    for offset in range(k):
        band[columns + offset, columns] = window[offset]
    return band


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """Per-frame SSIM of [N, 3, H, W] images in [0, data_range] -> [N] (valid region, channel mean).

    Computed in the inputs' dtype; pass float64 for agreement with scikit-image to ~1e-12.
    """
    _check_pair(x, y)
    n, c, h, w = x.shape
    if h < kernel_size or w < kernel_size:
        raise ValueError(f"SSIM needs frames of at least {kernel_size}x{kernel_size} pixels, got {h}x{w}")
    if not x.is_floating_point():
        x, y = x.float(), y.float()
    y = y.to(x.dtype)
    window = _gaussian_window(kernel_size, sigma, x.dtype, x.device)
    # The five local moments at once: [x, y, x^2, y^2, xy] as single-channel images.
    stack = torch.cat([x, y, x * x, y * y, x * y]).reshape(5 * n * c, h, w)
    # Separable Gaussian, no padding (only window centres whose window fits in the image), as two
    # banded matrix products: float64 BLAS is 2x (480 x 832) to 10x (64 px) faster than float64 conv2d.
    blurred = _band(h, window).T @ stack @ _band(w, window)  # [5 n c, h - 10, w - 10]
    mu_x, mu_y, e_xx, e_yy, e_xy = blurred.reshape(5, n, c, h - kernel_size + 1, w - kernel_size + 1)
    # Population (co)variances; clamp the round-off below 0 of flat regions.
    var_x = (e_xx - mu_x * mu_x).clamp(min=0)
    var_y = (e_yy - mu_y * mu_y).clamp(min=0)
    cov_xy = e_xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )  # [n, c, h', w']
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)  # [N]


def _finite_mean(values: list[float]) -> float | None:
    """Mean of the finite values; inf if all are inf (identical frames); None if there are none."""
    if not values:
        return None
    finite = [v for v in values if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else math.inf


class _PairedAccumulator(Accumulator):
    """Per-frame scores of a video against its ground truth; window and video means over frames."""

    def __init__(self, metric: PairedMetric, info: VideoInfo):
        self.metric = metric
        self.info = info
        self.frame_values: list[float] = []  # every compared frame, in order
        self.window_values: list[float] = []  # the frames of the open window
        self.windows: list[float | None] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None:
            raise ValueError(
                f"{self.metric.name} compares a video with its ground truth: the runner must pass the "
                f"ground-truth frames as update(frames, reference=...) (video {self.info.name!r})"
            )
        _check_pair(frames, reference)
        batch = max(1, _PIXELS_PER_BATCH // (frames.shape[-2] * frames.shape[-1]))
        for start in range(0, frames.shape[0], batch):
            # float64 in [0, 1]: SSIM's E[x^2] - E[x]^2 loses ~1e-4 in float32 on flat regions.
            x = frames[start : start + batch].double() / 255.0
            y = reference[start : start + batch].double() / 255.0
            values = self.metric.per_frame(x, y).tolist()
            self.frame_values.extend(values)
            self.window_values.extend(values)

    def end_window(self) -> float | None:
        value = _finite_mean(self.window_values)
        self.windows.append(value)
        self.window_values = []
        return value

    def finish(self) -> VideoResult:
        if self.window_values:
            self.end_window()  # close a window the runner left open
        frames = len(self.frame_values)
        return VideoResult(
            value=_finite_mean(self.frame_values),
            weight=1.0,
            windows=list(self.windows),
            extra={
                "frames": frames,  # frames compared; < video_frames when the ground truth is shorter
                "video_frames": self.info.num_frames,
                "identical_frames": sum(1 for v in self.frame_values if math.isinf(v)),
            },
        )


class PairedMetric(Metric):
    """A per-frame comparison with the ground truth; window and video means over frames.

    Subclasses define `per_frame(x, y)` on [N, 3, H, W] float64 images in [0, 1] -> [N].
    """

    backend = "reference"

    @staticmethod
    def per_frame(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _PairedAccumulator(self, info)


class PSNR(PairedMetric):
    """Peak signal-to-noise ratio in dB (data_range 1), mean over frames then videos."""

    name = "psnr"

    @staticmethod
    def per_frame(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return psnr(x, y, data_range=1.0)

    def aggregate(self, results: list[VideoResult]) -> float | None:
        """Mean of the finite per-video values (inf only if every video matches its ground truth)."""
        return _finite_mean([r.value for r in results if r.value is not None])


class SSIM(PairedMetric):
    """Structural similarity (Gaussian 11x11, sigma 1.5, data_range 1), mean over frames then videos."""

    name = "ssim"

    @staticmethod
    def per_frame(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ssim(x, y, data_range=1.0)
