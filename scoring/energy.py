"""The energy score: a sampler's draws of one sample scored against its one true future.

A generative model draws one future among many, so the distance from one draw to the true future
rewards the forecast that does not commit (a held frame, a blur). The energy score (Gneiting and
Raftery 2007) pays for a plausible spread as well:

    ES = E d(X, y) - 1/2 E d(X, X'),      X, X' independent draws, y the truth.

Its fair estimate from K draws x_1..x_K (unbiased for any K >= 2):

    accuracy = mean_k d(x_k, y)
    spread   = 1 / (2 K (K - 1)) * sum over k != l of d(x_k, x_l)
    score    = accuracy - spread                                      (lower is better)

It is proper: in expectation no forecast beats the true distribution of futures, so no trivial video
beats a perfect sampler. With d the mean absolute difference per pixel it is the CRPS averaged over
pixels. A deterministic video (a held frame, a loop) has no spread: its score is its distance.
These are pure functions; the metrics that read videos build on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult
from scoring.drift import BACKEND_DIRECT

# A sample's draws on disk: draw 0 is the video itself, `<folder>/<stem>.mp4`, which every metric scores;
# draws 1 .. K-1 lie beside it as `<folder>/draws/<stem>/<k>.mp4`, read by the energy score alone (a
# folder's own *.mp4 stay one video per sample).
DRAWS_FOLDER = "draws"


def draw_path(video: str | Path, k: int) -> Path:
    """Where draw `k` of `video` lies (draw 0 is `video` itself)."""
    video = Path(video)
    if k < 0:
        raise ValueError(f"a draw's index is 0 or more, not {k}")
    return video if k == 0 else video.parent / DRAWS_FOLDER / video.stem / f"{k}.mp4"


def draw_paths(video: str | Path) -> list[Path]:
    """Every draw of `video` on disk, in order: [video, draws/<stem>/1.mp4, ...] up to the first missing."""
    out = [Path(video)]
    while draw_path(video, len(out)).is_file():
        out.append(draw_path(video, len(out)))
    return out


@dataclass(frozen=True)
class EnergyScore:
    """One sample's energy score over its draws, with both of its terms."""

    score: float  # accuracy - spread; lower is better
    accuracy: float  # mean distance of a draw from the truth
    spread: float  # half the mean distance between two different draws
    draws: int  # K


def energy_score(to_truth, between=None) -> EnergyScore:
    """The fair energy score from distances already measured.

    to_truth: [K] d(x_k, y). between: [K, K] d(x_k, x_l), symmetric (only k < l is read), or None for a
    deterministic forecast (one video, no spread). K >= 2 draws are needed for a spread: one draw of a
    sampler says nothing about its spread, so it is refused rather than scored as if deterministic."""
    accuracy_terms = np.asarray(to_truth, dtype=np.float64).reshape(-1)  # [K]
    k = accuracy_terms.size
    if k == 0:
        raise ValueError("energy_score: no draws")
    accuracy = float(accuracy_terms.mean())
    if between is None:
        return EnergyScore(accuracy, accuracy, 0.0, k)
    if k < 2:
        raise ValueError(
            "energy_score: a sampler's spread needs at least 2 draws of the sample (declare draws: 2 or "
            "more); a deterministic video is scored with between=None"
        )
    pairs = np.asarray(between, dtype=np.float64)
    if pairs.shape != (k, k):
        raise ValueError(f"energy_score: between is {pairs.shape}, expected ({k}, {k})")
    upper = pairs[np.triu_indices(k, 1)]  # [K (K - 1) / 2]: each unordered pair once
    spread = float(upper.sum() / (k * (k - 1)))  # = 1 / (2K(K-1)) * sum over ordered pairs k != l
    return EnergyScore(accuracy - spread, accuracy, spread, k)


def mean_abs_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """d(a, b): the mean absolute difference per pixel of two videos of the same shape, in float64."""
    if a.shape != b.shape:
        raise ValueError(f"videos of different shapes: {tuple(a.shape)} and {tuple(b.shape)}")
    return float((a.double() - b.double()).abs().mean())


def pixel_energy_score(draws: torch.Tensor, truth: torch.Tensor, deterministic: bool = False) -> EnergyScore:
    """The energy score in pixels: draws [K, F, H, W, C] (or [K, ...] of any shape) in [0, 1] against
    truth [F, H, W, C], d the mean absolute difference per pixel. `deterministic`: the K videos are
    copies of one deterministic forecast (K = 1 allowed; the spread is 0 by definition)."""
    k = draws.shape[0]  # K
    to_truth = [mean_abs_distance(draws[i], truth) for i in range(k)]
    if deterministic:
        return energy_score(to_truth)
    between = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            between[i, j] = between[j, i] = mean_abs_distance(draws[i], draws[j])
    return energy_score(to_truth, between)


def frame_sums(draws: torch.Tensor, truth: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the sums of absolute differences in float64: of each draw to the truth [K, F] and of
    each pair of draws [K, K, F] (symmetric, 0 on the diagonal). draws [K, F, ...], truth [F, ...]: each
    pair of videos is read once."""
    k = draws.shape[0]  # K

    def sums(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:  # [F]
        return (a.double() - b.double()).abs().flatten(1).sum(1).numpy()

    to_truth = np.stack([sums(draws[i], truth) for i in range(k)])  # [K, F]
    between = np.zeros((k, k, truth.shape[0]))  # [K, K, F]
    for i in range(k):
        for j in range(i + 1, k):
            between[i, j] = between[j, i] = sums(draws[i], draws[j])
    return to_truth, between


def window_energy(draws: torch.Tensor, truth: torch.Tensor, windows: list[slice]) -> list[EnergyScore]:
    """The pixel energy score in each window (the drift curve): draws [K, F, H, W, C] and truth
    [F, H, W, C] in [0, 1], windows slices of frames: `frame_sums`, then each window's mean per pixel.
    A window's score is that of its frames alone; over windows of equal length their mean is the whole
    video's score."""
    k = draws.shape[0]  # K
    per_pixel = truth[0].numel()  # H W C
    to_truth, between = frame_sums(draws, truth)  # [K, F], [K, K, F]
    out = []
    for w in windows:
        n = len(range(*w.indices(truth.shape[0]))) * per_pixel  # pixels in the window
        if n == 0:
            raise ValueError(f"an empty window {w}")
        acc = to_truth[:, w].sum(1) / n  # [K]
        out.append(energy_score(acc, between[:, :, w].sum(2) / n) if k > 1 else energy_score(acc))
    return out


def clip_energy(draw_features, truth_features) -> list[EnergyScore]:
    """The energy score in clip features, clip by clip: draw_features [K, C, D] (each draw's C clips,
    FVD's clip features) against truth_features [C, D], d the Euclidean distance. Not its square: with
    the squared distance the energy score only compares means, so a deterministic forecast at the mean
    of the futures ties a perfect sampler (tests/scoring/test_energy.py)."""
    x = np.asarray(draw_features, dtype=np.float64)  # [K, C, D]
    y = np.asarray(truth_features, dtype=np.float64)  # [C, D]
    if x.ndim != 3 or x.shape[1:] != y.shape:
        raise ValueError(f"expected draws [K, C, D] and truth [C, D], got {x.shape} and {y.shape}")
    to_truth = np.linalg.norm(x - y[None], axis=2)  # [K, C]
    between = np.linalg.norm(x[:, None] - x[None, :], axis=3)  # [K, K, C]
    k = x.shape[0]
    return [
        energy_score(to_truth[:, c], between[:, :, c]) if k > 1 else energy_score(to_truth[:, c])
        for c in range(y.shape[0])
    ]


# -- the energy score as a metric: a video and its other draws streamed beside the truth ------------

TERMS = {"energy_score": "score", "energy_accuracy": "accuracy", "energy_spread": "spread"}


class EnergyMetric(Metric):
    """The pixel energy score of a sample's draws, per window and per video: the video the runner
    streams is draw 0; its other draws (`draw_paths`) are read beside it, frame for frame, and the
    truth comes as the runner's reference. `name` picks the term it reports (TERMS). A video with no
    other draws is a deterministic forecast: its score is its distance to the truth, spread 0."""

    backend = BACKEND_DIRECT  # weight-free, as the drift metrics

    def __init__(self, name: str = "energy_score") -> None:
        if name not in TERMS:
            raise ValueError(f"unknown energy metric {name!r}; known: {', '.join(TERMS)}")
        self.name = name

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _EnergyAccumulator(self, info)


class _EnergyAccumulator(Accumulator):
    """Sums of absolute differences per window: each draw to the truth [K], each pair of draws [K, K]."""

    def __init__(self, metric: EnergyMetric, info: VideoInfo) -> None:
        if info.path is None:
            raise ValueError(
                f"{metric.name}: the energy score reads a video's other draws beside its file, which this "
                f"runner did not give (video {info.name!r}; the VBench-Long protocol scores clips, not draws)"
            )
        from scoring.stream import FrameReader

        self.metric, self.info = metric, info
        self.readers = [FrameReader(p) for p in draw_paths(info.path)[1:]]
        for r in self.readers:
            if r.num_frames < info.num_frames:
                raise ValueError(
                    f"draw {r.path} has {r.num_frames} frames, fewer than the video's {info.num_frames}"
                )
        k = 1 + len(self.readers)
        self.position = 0
        self.window = (np.zeros(k), np.zeros((k, k)), 0)  # to truth [K], between [K, K], pixels
        self.video = (np.zeros(k), np.zeros((k, k)), 0)
        self.windows: list[float | None] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None:
            raise ValueError(
                f"{self.metric.name} compares a sample's draws with its ground truth (video {self.info.name!r})"
            )
        n = frames.shape[0]
        others = [r.read(self.position, self.position + n) for r in self.readers]
        self.position += n
        draws = torch.stack([frames, *others]).double() / 255.0  # [K, T, 3, H, W] in [0, 1]
        truth = reference.double() / 255.0  # [T, 3, H, W]
        to_truth, between = frame_sums(draws, truth)  # [K, T], [K, K, T]
        to, among, pixels = self.window
        self.window = (to + to_truth.sum(-1), among + between.sum(-1), pixels + truth.numel())

    def _term(self, sums) -> float | None:
        to_truth, between, pixels = sums
        if pixels == 0:
            return None
        found = energy_score(to_truth / pixels, between / pixels if len(to_truth) > 1 else None)
        return getattr(found, TERMS[self.metric.name])

    def end_window(self) -> float | None:
        value = self._term(self.window)
        self.video = tuple(a + b for a, b in zip(self.video, self.window))
        self.window = (np.zeros_like(self.window[0]), np.zeros_like(self.window[1]), 0)
        self.windows.append(value)
        return value

    def finish(self) -> VideoResult:
        if self.window[2]:
            self.end_window()  # close a window the runner left open
        for r in self.readers:
            r.close()
        return VideoResult(self._term(self.video), 1.0, list(self.windows), {"draws": 1 + len(self.readers)})
