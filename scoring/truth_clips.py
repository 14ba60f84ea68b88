"""Distance to the truth at the same time, in features that see motion: a fidelity score that a still
image cannot win by standing still.

Definition (`truth_clip_distance`, group `guards`, lower is better, needs each video's ground truth).
The video and its true continuation are cut into the same 16-frame clips (FVD's: frames 0-15, 16-31,
..., a trailing partial clip dropped, `fvd.py`), and each clip goes through FVD's extractor (I3D; on
the toy backend the toy encoder's clip features: mean, spread and frame-to-frame change of its
embeddings, `toy.ToyVideoFeatures`). Clip c of the video is compared with clip c of the truth:

    D_c = |phi(video clip c) - phi(truth clip c)|^2

the Fréchet distance between the two one-clip sets (its mean term; a single clip has no covariance),
so it is FVD over time taken per video: window k against the truth's window k. A window's value (the
drift curve) is the mean D_c of the clips that end in it (None for a window where none ends), the
video's value the mean D_c over its clips (None for a video shorter than one clip), the suite's the
mean over videos. A held frame has no motion and no spread, the truth has both, so its clips sit away
from the truth's however close its picture is; a loop or a ping-pong repeat the first clip's motion
while the truth goes on. Where frames hardly change (pixel PSNR against the truth, which rewards the
still first frame when the future is uncertain), this one still separates moving from held.
"""

from __future__ import annotations

import numpy as np
import torch

from scoring.base import Accumulator, Metric, VideoInfo, VideoResult
from scoring.energy import TERMS, clip_energy, draw_paths
from scoring.fvd import FVD, ClipFeatureAccumulator


def clip_distances(video: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Paired clip features [C, D] and [C, D] -> [C]: |video_c - truth_c|^2, in float64."""
    video, truth = np.asarray(video, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if video.shape != truth.shape or video.ndim != 2:
        raise ValueError(f"expected paired clip features [C, D], got {video.shape} and {truth.shape}")
    return np.sum((video - truth) ** 2, axis=1)


class _ClipAccumulator(Accumulator):
    """FVD clip streams cut at the same frames: the video's (with a metric over draws, also its other
    draws', read beside it: `energy.draw_paths`) and its truth's; per clip the metric's `per_clip` of the
    draws' features [K, C, D] against the truth's [C, D], averaged per window and per video."""

    def __init__(self, metric: TruthClipDistance | ClipEnergyScore, info: VideoInfo) -> None:
        from scoring.stream import FrameReader

        self.metric, self.info = metric, info
        if metric.over_draws and info.path is None:
            raise ValueError(
                f"{metric.name}: reads a video's other draws beside its file (video {info.name!r})"
            )
        others = draw_paths(info.path)[1:] if metric.over_draws else []
        self.readers = [FrameReader(p) for p in others]
        self.draws = [ClipFeatureAccumulator(metric.fvd, info) for _ in range(1 + len(self.readers))]
        self.truth = ClipFeatureAccumulator(metric.fvd, info)
        self.position = 0
        self.values: list[float] = []  # one per clip, in order

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None or reference.shape[0] != frames.shape[0]:
            raise ValueError(
                f"{self.info.name}: {self.metric.name} needs the truth's frames beside the video's"
            )
        n = frames.shape[0]
        others = [r.read(self.position, self.position + n) for r in self.readers]
        self.position += n
        for acc, x in zip(self.draws, [frames, *others]):
            acc.update(x)
        self.truth.update(reference)

    def _new_values(self) -> list[float]:
        """The values of the clips completed since the last call."""
        done = len(self.values)
        truth = self.truth.features[done:]
        if not truth:
            return []
        draws = np.stack([np.concatenate(acc.features[done:]) for acc in self.draws])  # [K, C, D]
        new = self.metric.per_clip(draws, np.concatenate(truth))
        self.values += new
        return new

    def end_window(self) -> float | None:
        new = self._new_values()
        return float(np.mean(new)) if new else None

    def finish(self) -> VideoResult:
        self._new_values()
        for r in self.readers:
            r.close()
        value = float(np.mean(self.values)) if self.values else None
        extra = {self.metric.extra_key: list(self.values)}
        return VideoResult(
            value, extra={**extra, "draws": len(self.draws)} if self.metric.over_draws else extra
        )


class TruthClipDistance(Metric):
    """Mean squared distance between the video's 16-frame clips and the truth's at the same frames, in
    the features of `fvd`'s extractor (module doc)."""

    name = "truth_clip_distance"
    extra_key = "clip_distances"

    def __init__(self, fvd: FVD) -> None:
        self.fvd = fvd
        self.backend = fvd.backend

    @staticmethod
    def per_clip(draws: np.ndarray, truth: np.ndarray) -> list[float]:
        """The video's clips (draws [1, C, D]) against the truth's [C, D]: D_c."""
        return clip_distances(draws[0], truth).tolist()

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _ClipAccumulator(self, info)


# -- the energy score in clip features: a sample's draws against the truth, clip by clip -------------


class ClipEnergyScore(TruthClipDistance):
    """The energy score of a sample's draws against the truth in the clip features of `fvd`'s extractor,
    per 16-frame clip, averaged per window and per video (scoring/energy.py `clip_energy`). `name` picks
    the term it reports (CLIP_TERMS): the score, or one of its two terms; per clip score = accuracy -
    spread, so the means over clips keep that identity."""

    def __init__(self, fvd: FVD, name: str = "clip_energy_score") -> None:
        if name not in CLIP_TERMS:
            raise ValueError(f"unknown clip energy metric {name!r}; known: {', '.join(CLIP_TERMS)}")
        super().__init__(fvd)
        self.name = name
        self.extra_key = "clip_energy" if name == "clip_energy_score" else name  # the per-clip values

    def per_clip(self, draws: np.ndarray, truth: np.ndarray) -> list[float]:
        """The draws' clips [K, C, D] against the truth's [C, D]: each clip's term."""
        return [getattr(e, CLIP_TERMS[self.name]) for e in clip_energy(draws, truth)]


# The clip terms are the pixel ones' (scoring/energy.py TERMS) in clip features: clip_<name> -> the term.
CLIP_TERMS = {f"clip_{name}": term for name, term in TERMS.items()}
