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
from scoring.fvd import FVD, ClipFeatureAccumulator


def clip_distances(video: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Paired clip features [C, D] and [C, D] -> [C]: |video_c - truth_c|^2, in float64."""
    video, truth = np.asarray(video, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if video.shape != truth.shape or video.ndim != 2:
        raise ValueError(f"expected paired clip features [C, D], got {video.shape} and {truth.shape}")
    return np.sum((video - truth) ** 2, axis=1)


class _TruthClipAccumulator(Accumulator):
    """Two FVD clip streams, the video's and its truth's, cut at the same frames."""

    def __init__(self, metric: TruthClipDistance, info: VideoInfo) -> None:
        self.info = info
        self.video = ClipFeatureAccumulator(metric.fvd, info)
        self.truth = ClipFeatureAccumulator(metric.fvd, info)
        self.distances: list[float] = []  # one per clip, in order

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None or reference.shape[0] != frames.shape[0]:
            raise ValueError(
                f"{self.info.name}: truth_clip_distance needs the truth's frames beside the video's"
            )
        self.video.update(frames)
        self.truth.update(reference)

    def _new_distances(self) -> list[float]:
        """The distances of the clips completed since the last call."""
        done = len(self.distances)
        video, truth = self.video.features[done:], self.truth.features[done:]
        if not video:
            return []
        new = clip_distances(np.concatenate(video), np.concatenate(truth)).tolist()
        self.distances += new
        return new

    def end_window(self) -> float | None:
        new = self._new_distances()
        return float(np.mean(new)) if new else None

    def finish(self) -> VideoResult:
        self._new_distances()
        value = float(np.mean(self.distances)) if self.distances else None
        return VideoResult(value, extra={"clip_distances": list(self.distances)})


class TruthClipDistance(Metric):
    """Mean squared distance between the video's 16-frame clips and the truth's at the same frames, in
    the features of `fvd`'s extractor (module doc)."""

    name = "truth_clip_distance"

    def __init__(self, fvd: FVD) -> None:
        self.fvd = fvd
        self.backend = fvd.backend

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _TruthClipAccumulator(self, info)


# -- the energy score in clip features: a sample's draws against the truth, clip by clip -------------


class _ClipEnergyAccumulator(Accumulator):
    """FVD clip streams of a sample's draws (the video, and its other draws read beside it) and of the
    truth, cut at the same frames; per clip the energy score of the draws' features (`energy.clip_energy`:
    the Euclidean distance, not its square)."""

    def __init__(self, metric: ClipEnergyScore, info: VideoInfo) -> None:
        from scoring.energy import draw_paths
        from scoring.stream import FrameReader

        if info.path is None:
            raise ValueError(
                f"{metric.name}: reads a video's other draws beside its file (video {info.name!r})"
            )
        self.info = info
        self.readers = [FrameReader(p) for p in draw_paths(info.path)[1:]]
        self.draws = [ClipFeatureAccumulator(metric.fvd, info) for _ in range(1 + len(self.readers))]
        self.truth = ClipFeatureAccumulator(metric.fvd, info)
        self.position = 0
        self.scores: list[float] = []  # one per clip, in order

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None or reference.shape[0] != frames.shape[0]:
            raise ValueError(
                f"{self.info.name}: clip_energy_score needs the truth's frames beside the video's"
            )
        n = frames.shape[0]
        others = [r.read(self.position, self.position + n) for r in self.readers]
        self.position += n
        for acc, x in zip(self.draws, [frames, *others]):
            acc.update(x)
        self.truth.update(reference)

    def _new_scores(self) -> list[float]:
        from scoring.energy import clip_energy

        done = len(self.scores)
        truth = self.truth.features[done:]
        if not truth:
            return []
        draws = np.stack([np.concatenate(acc.features[done:]) for acc in self.draws])  # [K, C, D]
        new = [e.score for e in clip_energy(draws, np.concatenate(truth))]
        self.scores += new
        return new

    def end_window(self) -> float | None:
        new = self._new_scores()
        return float(np.mean(new)) if new else None

    def finish(self) -> VideoResult:
        self._new_scores()
        for r in self.readers:
            r.close()
        value = float(np.mean(self.scores)) if self.scores else None
        return VideoResult(value, extra={"clip_energy": list(self.scores), "draws": len(self.draws)})


class ClipEnergyScore(Metric):
    """The energy score of a sample's draws against the truth in the clip features of `fvd`'s extractor,
    per 16-frame clip, averaged per window and per video (scoring/energy.py `clip_energy`)."""

    name = "clip_energy_score"

    def __init__(self, fvd: FVD) -> None:
        self.fvd = fvd
        self.backend = fvd.backend

    def new_video(self, info: VideoInfo) -> Accumulator:
        return _ClipEnergyAccumulator(self, info)
