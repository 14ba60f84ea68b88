"""Fréchet Video Distance (docs/method.md §8): I3D features of 16-frame clips, Fréchet distance of two sets.

Per video, the accumulator cuts the stream into 16-frame clips starting at frames 0, s, 2s, ... (stride
s = 16 by default: consecutive, non-overlapping clips; s < 16 overlaps, s > 16 skips frames). Frames of
a trailing partial clip are dropped, as in the common ports, so a 40-frame video gives 2 clips and
drops frames 32-39. Each frame is resized to 224x224 (bilinear, align_corners=False, no antialias:
F.interpolate as the PyTorch ports and tf.image.resize_bilinear as the TF original; no crop, so the
aspect ratio is not kept) and scaled to [-1, 1]. At most 16 resized frames are buffered, in float16
(~4.8 MB), and the extractor runs as soon as a clip is full:

    clip [1, 3, 16, 224, 224] -> extractor(clip, rescale=False, resize=False, return_features=True) -> [1, 400]

FVD is a set statistic: the per-video result has value None and keeps its clips' features in
`extra["features"]` ([n_clips, 400] float64), the runner window each clip started in
(`extra["clip_windows"]`, for the drift curve `fvd_per_window`) and each clip's first frame
(`extra["clip_starts"]`). `FVD.aggregate` is the Fréchet distance between all clips of the generated
videos and `FVD.reference_features`, the features of the reference videos scored by the same metric.

The Fréchet distance uses biased covariances (divide by N, as StyleGAN-V's FeatureStats; ports that
call np.cov divide by N-1, a factor N/(N-1) that matters only for small sets) and computes
Tr(sqrt(S1 S2)) from symmetric eigendecompositions instead of scipy.linalg.sqrtm. FVD is unstable
below ~400 videos; sets smaller than the feature dimension give a warning.
"""

from __future__ import annotations

import bisect
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult
from scoring.i3d import build_random_i3d, load_i3d

CLIP_FRAMES = 16
I3D_SIZE = 224
FEATURE_DIM = 400

# ---------------------------------------------------------------------------------------------------
# Fréchet distance (pure numpy, float64)
# ---------------------------------------------------------------------------------------------------


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root via eigh; tiny negative eigenvalues (round-off) are clamped to 0."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr(sqrt(S1 S2)) for symmetric PSD S1, S2.

    S1 S2 has the same eigenvalues as the symmetric PSD matrix S1^(1/2) S2 S1^(1/2), so the trace of
    its square root is the sum of their square roots; no non-symmetric sqrtm, no complex round-off.
    """
    root1 = _psd_sqrt(np.asarray(sigma1, dtype=np.float64))
    middle = root1 @ np.asarray(sigma2, dtype=np.float64) @ root1
    eigvals = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) of two Gaussians, in float64.

    Round-off can leave a tiny negative value for (near-)identical sets; it is clamped to 0.
    """
    mu1, mu2 = np.asarray(mu1, dtype=np.float64), np.asarray(mu2, dtype=np.float64)
    sigma1, sigma2 = np.asarray(sigma1, dtype=np.float64), np.asarray(sigma2, dtype=np.float64)
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"expected means [D] and covariances [D, D] of one D; got {mu1.shape}, {sigma1.shape}, "
            f"{mu2.shape}, {sigma2.shape}"
        )
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [D] and biased covariance [D, D] (divide by N, as the common FVD ports) of features [N, D]."""
    features = np.asarray(features, dtype=np.float64)
    mu = features.mean(axis=0)
    centred = features - mu
    return mu, centred.T @ centred / features.shape[0]


def _check_features(features1: np.ndarray, features2: np.ndarray) -> None:
    if features1.ndim != 2 or features2.ndim != 2 or features1.shape[1] != features2.shape[1]:
        raise ValueError(
            f"expected features [N1, D] and [N2, D], got {features1.shape} and {features2.shape}"
        )
    for label, features in (("first", features1), ("second", features2)):
        n, d = features.shape
        if n < 2:
            raise ValueError(f"the {label} feature set has {n} sample(s); a covariance needs at least 2")
        if n < d:
            warnings.warn(
                f"the {label} feature set has {n} samples for {d} dimensions: its covariance is singular "
                "and the Fréchet distance is biased and unstable (FVD needs several hundred videos)",
                stacklevel=3,
            )


class ReferenceStats:
    """A reference feature set [N, D] kept as its mean, biased covariance and the covariance's PSD square
    root, computed once: every Fréchet distance against it (an arm's set, each window's clips) then
    costs one small eigenproblem instead of two D x D ones."""

    def __init__(self, features: np.ndarray):
        self.source = features  # what it was made from (FVD keeps one per reference set)
        self.features = np.asarray(features, dtype=np.float64)
        self.mu, self.sigma = feature_stats(self.features)
        self.root = _psd_sqrt(self.sigma)

    def distance(self, features: np.ndarray) -> float:
        """Fréchet distance of `features` [N, D] to the reference (warns when N < D).

        Tr(sqrt(S S_ref)) is the sum of the square roots of the eigenvalues of R S R (R = S_ref^(1/2)),
        and with S = C^T C / N (C: the centred features) the non-zero ones are those of the N x N matrix
        (C R)(C R)^T / N: an N x N eigenproblem where N < D (a window's few clips), else the D x D one."""
        features = np.asarray(features, dtype=np.float64)
        _check_features(features, self.features)
        mu = features.mean(axis=0)
        centred = features - mu
        m = centred @ self.root / np.sqrt(features.shape[0])  # [N, D]
        gram = m @ m.T if m.shape[0] < m.shape[1] else m.T @ m
        eigvals = np.linalg.eigvalsh((gram + gram.T) / 2)
        trace_sqrt = float(np.sqrt(np.clip(eigvals, 0.0, None)).sum())
        diff = mu - self.mu
        trace = float(np.einsum("nd,nd->", centred, centred)) / features.shape[0]  # Tr(S)
        value = diff @ diff + trace + np.trace(self.sigma) - 2.0 * trace_sqrt
        return float(max(value, 0.0))


def frechet_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between two feature sets [N1, D] and [N2, D]; warns when N < D. Computed as
    `ReferenceStats(features2).distance(features1)`: with N1 < D (a window's clips, a small set) the
    trace term comes from an N1 x N1 eigenproblem, free of the square roots of round-off eigenvalues
    that the D x D one of a singular covariance sums (about 1e-8 relative; checked against 40 digits)."""
    return ReferenceStats(features2).distance(features1)


# ---------------------------------------------------------------------------------------------------
# Streaming feature extraction
# ---------------------------------------------------------------------------------------------------


def preprocess_frames(frames: torch.Tensor, size: int = I3D_SIZE) -> torch.Tensor:
    """[T, 3, H, W] float 0-255 -> [T, 3, size, size] float32 in [-1, 1] (bilinear, no crop)."""
    frames = frames.float()
    if frames.shape[-2:] != (size, size):
        frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    return frames / 127.5 - 1.0


def _device_of(extractor) -> torch.device:
    try:
        return next(extractor.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


@torch.inference_mode()
def extract_features(extractor, clips: torch.Tensor) -> np.ndarray:
    """clips [B, 3, 16, 224, 224] in [-1, 1] -> [B, D] float64 features (the TorchScript call signature)."""
    features = extractor(
        clips.to(_device_of(extractor), torch.float32), rescale=False, resize=False, return_features=True
    )
    if features.ndim != 2 or features.shape[0] != clips.shape[0]:
        raise ValueError(f"the extractor returned {tuple(features.shape)}; expected [{clips.shape[0]}, D]")
    return features.double().cpu().numpy()


class ClipFeatureAccumulator(Accumulator):
    """One video's 16-frame clips through `metric`'s extractor (FVD's per-video pass; truth_clips.py
    runs two, the video's and its truth's)."""

    def __init__(self, metric: FVD, info: VideoInfo):
        self.metric = metric
        self.info = info
        self.stride = metric.stride_frames
        self.size = getattr(metric.extractor, "frame_size", I3D_SIZE)
        self.buffer: torch.Tensor | None = None  # [16, 3, S, S] float16, allocated on first frames
        self.filled = 0  # frames in the buffer; buffer[0] is frame `clip_start`
        self.clip_start = 0
        self.frames_seen = 0
        self.window_ends: list[int] = []  # frame index at which each closed window ended
        self.windows: list[float | None] = []
        self.features: list[np.ndarray] = []  # [1, D] each
        self.clip_windows: list[int] = []
        self.clip_starts: list[int] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected frames [T, 3, H, W], got {tuple(frames.shape)}")
        first = self.frames_seen
        self.frames_seen += frames.shape[0]
        # Frame i belongs to some clip [k s, k s + 16) iff i mod s < 16; resize only those.
        index = torch.arange(first, self.frames_seen)
        keep = (index % self.stride) < CLIP_FRAMES
        if not keep.any():
            return
        index = index[keep].tolist()
        # [T', 3, S, S]: I3D's 224, or the extractor's own `frame_size` (the toy encoder's 64)
        resized = preprocess_frames(frames[keep.to(frames.device)], self.size).half()
        if self.buffer is None:
            self.buffer = torch.empty(
                (CLIP_FRAMES, *resized.shape[1:]), dtype=torch.float16, device=frames.device
            )
        for frame_index, frame in zip(index, resized):
            assert frame_index == self.clip_start + self.filled, "frames must arrive in order"
            self.buffer[self.filled] = frame
            self.filled += 1
            if self.filled == CLIP_FRAMES:
                self._run_clip()

    def _run_clip(self) -> None:
        clip = self.buffer.permute(1, 0, 2, 3).unsqueeze(0)  # [1, 3, 16, 224, 224]
        self.features.append(extract_features(self.metric.extractor, clip))
        # A clip belongs to the runner window its first frame arrived in.
        self.clip_windows.append(bisect.bisect_right(self.window_ends, self.clip_start))
        self.clip_starts.append(self.clip_start)
        if self.stride < CLIP_FRAMES:  # overlapping clips: keep the shared frames
            self.buffer[: CLIP_FRAMES - self.stride] = self.buffer[self.stride :].clone()
            self.filled = CLIP_FRAMES - self.stride
        else:
            self.filled = 0
        self.clip_start += self.stride

    def end_window(self) -> float | None:
        self.window_ends.append(self.frames_seen)
        self.windows.append(None)  # FVD is a set statistic: see fvd_per_window for the drift curve
        return None

    def finish(self) -> VideoResult:
        if self.frames_seen > (self.window_ends[-1] if self.window_ends else 0):
            self.end_window()  # close a window the runner left open
        dim = self.features[0].shape[1] if self.features else FEATURE_DIM
        features = np.concatenate(self.features) if self.features else np.zeros((0, dim))
        return VideoResult(
            value=None,
            weight=float(len(self.features)),
            windows=list(self.windows),
            extra={
                "features": features,  # [n_clips, D] float64
                "clip_windows": np.asarray(self.clip_windows, dtype=np.int64),  # [n_clips]
                "clip_starts": np.asarray(self.clip_starts, dtype=np.int64),  # [n_clips]
                "frames": self.frames_seen,
                "dropped_frames": self.filled,  # the trailing partial clip
            },
        )


# ---------------------------------------------------------------------------------------------------
# The metric
# ---------------------------------------------------------------------------------------------------


def features_of(results: list[VideoResult]) -> np.ndarray:
    """All clips' features of a set of videos, stacked: [sum of n_clips, D] float64."""
    parts = [np.asarray(r.extra["features"], dtype=np.float64) for r in results if "features" in r.extra]
    parts = [p for p in parts if p.shape[0]]
    if not parts:
        raise ValueError("no FVD features in these results: every video was shorter than one 16-frame clip")
    return np.concatenate(parts)


def fvd_per_window(
    results: list[VideoResult], reference: np.ndarray | ReferenceStats, min_clips: int = 2
) -> list[float | None]:
    """The drift curve: FVD of the clips that started in window k (across all videos) vs the reference
    (its features [N, D], or their `ReferenceStats`).

    Entry k is None when fewer than `min_clips` clips started in window k.
    """
    stats = reference if isinstance(reference, ReferenceStats) else ReferenceStats(reference)
    features = [np.asarray(r.extra["features"], dtype=np.float64) for r in results]
    windows = [np.asarray(r.extra["clip_windows"], dtype=np.int64) for r in results]
    all_windows = np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)
    if all_windows.size == 0:
        return []
    curve: list[float | None] = []
    for k in range(int(all_windows.max()) + 1):
        selected = [f[w == k] for f, w in zip(features, windows) if f.shape[0]]
        selected = np.concatenate(selected) if selected else np.zeros((0, 1))
        curve.append(stats.distance(selected) if len(selected) >= min_clips else None)
    return curve


class FVD(Metric):
    """Fréchet Video Distance against a reference set of videos (lower is better).

    The runner scores the reference videos with this metric first and sets
    `metric.reference_features = features_of(reference_results)`; then `aggregate` of the generated
    videos' results is their FVD.
    """

    name = "fvd"

    def __init__(
        self,
        extractor=None,
        *,
        weights_path: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        stride_frames: int = CLIP_FRAMES,
        backend: str | None = None,
        reference_features: np.ndarray | None = None,
    ):
        """extractor: a module called like the TorchScript I3D; None loads `i3d_torchscript.pt` from
        `weights_path` or `$VBENCH_CACHE_DIR/fvd/` (see scoring.i3d.load_i3d)."""
        if stride_frames < 1:
            raise ValueError(f"stride_frames must be >= 1, got {stride_frames}")
        if extractor is None:
            extractor = load_i3d(weights_path, device=device)
            backend = backend or "i3d_torchscript"
        self.extractor = extractor
        self.stride_frames = stride_frames
        self.backend = backend or "custom"
        self.reference_features = reference_features

    @classmethod
    def with_random_i3d(cls, seed: int = 0, device: str | torch.device = "cpu", **kwargs) -> FVD:
        """The same pipeline with a randomly initialised I3D (no weights needed; numbers not comparable)."""
        return cls(build_random_i3d(seed).to(device), backend="random", **kwargs)

    def new_video(self, info: VideoInfo) -> Accumulator:
        return ClipFeatureAccumulator(self, info)

    def features_of(self, results: list[VideoResult]) -> np.ndarray:
        return features_of(results)

    def _reference(self) -> ReferenceStats:
        if self.reference_features is None:
            raise RuntimeError(
                "FVD needs the reference set's features: score the reference videos with this metric and "
                "set metric.reference_features = metric.features_of(reference_results) before aggregating"
            )
        cached = getattr(self, "_stats", None)
        if cached is None or cached.source is not self.reference_features:
            cached = self._stats = ReferenceStats(self.reference_features)
        return cached

    def aggregate(self, results: list[VideoResult]) -> float | None:
        return self._reference().distance(features_of(results))

    def per_window(self, results: list[VideoResult], min_clips: int = 2) -> list[float | None]:
        return fvd_per_window(results, self._reference(), min_clips=min_clips)
