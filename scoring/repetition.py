"""Non-repetition: does a video show something it has not shown before? A loop, a ping-pong and a held
frame repeat what they showed; the true continuation of a moving world does not.

Definition (`non_repetition`, group `guards`, higher is better). With f_i the consistency dimension's
feature of frame i (subject_consistency's: DINO, or the toy encoder's object embedding), unit length,
and g = round(REPETITION_GAP * fps) frames:

    d_i = min over j <= i - g of (1 - f_i . f_j)        for every frame i >= g

the cosine distance of each frame to its closest match among the frames at least REPETITION_GAP seconds
before it (`nearest_earlier_distance`). The video's value is the median of d_i (`non_repetition`); a
window's value (the drift curve) the mean of d_i over its frames i >= g (None before frame g). A frame
that repeats an earlier one exactly has d_i = 0, so a loop or a ping-pong whose period is at most
REPETITION_GAP scores 0 on every frame, and a longer period leaves only its first cycle unmatched: the
median is 0 as long as that cycle is less than half of the frames measured. A held frame scores 0.
The truth of a world that keeps changing scores above 0, and its value is the yardstick an arm's is
read against (the `truth` reference row): a model that repeats itself falls toward 0, below the truth.
A video no longer than the gap has no value (None, with the reason).

The features come from the consistency dimension's pass over the video (`base`, as the drift protocols
read theirs, `drift_protocols.py`): scored with subject_consistency, no frame goes through the network
twice.
"""

from __future__ import annotations

import numpy as np

from scoring.base import Accumulator, VideoInfo, VideoResult
from scoring.drift_protocols import DriftProtocol, SpanAccumulator, Spans, beyond_gap

REPETITION_GAP = 5.0  # seconds: the toy world's ping-pong period (2 x a 2 s clip) fits inside it
ROW_BLOCK = 512  # frames compared at once: memory stays [512, N] however long the video


def nearest_earlier_distance(features: np.ndarray, gap: int) -> np.ndarray:
    """features [N, D] (any norm; a zero row is left as it is), gap >= 1 frames -> [N - gap]: for each
    frame i >= gap, 1 - max over j <= i - gap of cos(f_i, f_j), clipped at 0 (round-off can leave
    1 - cos(f, f) a little below 0). Empty when N <= gap."""
    if gap < 1:
        raise ValueError(f"the gap is at least one frame, not {gap}")
    feats = np.asarray(features, dtype=np.float64)
    n = len(feats)
    if n <= gap:
        return np.zeros(0)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    unit = feats / np.where(norms == 0, 1.0, norms)
    best = np.empty(n - gap)
    for r0 in range(0, n - gap, ROW_BLOCK):  # rows r = frames gap + r; columns j <= r (j <= i - gap)
        r1 = min(r0 + ROW_BLOCK, n - gap)
        sims = unit[gap + r0 : gap + r1] @ unit[:r1].T  # [rows, r1]
        earlier = np.arange(r1)[None, :] <= np.arange(r0, r1)[:, None]
        best[r0:r1] = np.where(earlier, sims, -np.inf).max(axis=1)
    return np.clip(1.0 - best, 0.0, None)


def non_repetition(distances: np.ndarray) -> float | None:
    """The video's value: the median of its frames' nearest-earlier distances; None for none."""
    return float(np.median(distances)) if len(distances) else None


def window_means(distances: np.ndarray, gap: int, window_ends: list[int]) -> list[float | None]:
    """Per window [previous end, end) of frames: the mean distance of its frames i >= gap (`distances[k]`
    is frame gap + k), None for a window with none."""
    out: list[float | None] = []
    start = 0
    for end in window_ends:
        part = distances[max(start - gap, 0) : max(end - gap, 0)]
        out.append(float(part.mean()) if len(part) else None)
        start = end
    return out


class _RepetitionAccumulator(SpanAccumulator):
    """Keeps every frame's feature (one span: the whole video) and where each runner window ended."""

    windows_at_finish = True

    def __init__(self, metric, shared, spans, reason, gap: int) -> None:
        super().__init__(metric, shared, spans, reason)
        self.gap = gap
        self.window_ends: list[int] = []

    def end_window(self) -> float | None:
        self.window_ends.append(self.position)
        return None  # known only at the end, when every earlier frame's feature is in: see finish

    def finish(self) -> VideoResult:
        if not self.spans:
            return VideoResult(None, extra={"reason": self.reason})
        features = self.whole_features()  # [N, D]
        if features is None:
            return VideoResult(None, extra={"reason": "no per-frame features"})
        distances = nearest_earlier_distance(features, self.gap)
        if self.position > (self.window_ends[-1] if self.window_ends else 0):
            self.window_ends.append(self.position)  # a window the runner left open
        windows = window_means(distances, self.gap, self.window_ends)
        return VideoResult(non_repetition(distances), windows=windows, extra={"reason": None})


class NonRepetition(DriftProtocol):
    """The median distance of each frame to its closest match REPETITION_GAP seconds or more before it,
    in the base consistency dimension's features (module doc)."""

    def spans(self, info: VideoInfo) -> tuple[Spans | None, str]:
        return beyond_gap(info, REPETITION_GAP)

    def new_video(self, info: VideoInfo) -> Accumulator:
        spans, reason = self.spans(info)
        gap = round(REPETITION_GAP * info.fps)
        return _RepetitionAccumulator(self, self.base.join(info, self.name), spans, reason, gap)
