"""The long-video papers' drift protocols: a VBench dimension scored on fixed spans of a video, compared.

Two protocols, each a row of the metric table (`specs.py`, group `drift_protocols`), lower is better:

- Delta-drift of quality (`delta_drift_aesthetic`, `delta_drift_imaging`; Deep Forcing, arXiv
  2512.05081, after the papers it follows): |q(first 5 s) - q(last 5 s)| for a quality score q
  (aesthetic_quality; imaging_quality), each scored on that 5 s stretch as VBench scores a clip (the
  mean over its frames). A video shorter than 10 s has no value (None, `extra["reason"]` says why):
  its first and last 5 s would overlap, and halves would be a different protocol.
- Video Drift Error (`vde_imaging`, `vde_motion`, `vde_aesthetic`, `vde_background`, `vde_subject`;
  LV-Bench / BlockVid; reference code alibaba-damo-academy/Inferix: `vde.py`, read as
  InterVBench/vde.py at commit 77170de, the script LV-Bench/README.md describes, with the chunk
  metrics of LV-Bench/metrics.py): the video's F frames are cut into N = 10 consecutive chunks of
  floor(F / 10) frames from frame 0, the last F mod 10 frames dropped (`evaluate_video`; `N_CHUNKS =
  10` in its main); each chunk is scored with the dimension as a video of its own, m_1 .. m_N; then
  (`vde()`, default weight_type 'linear')

      VDE = sum_{i=2..N} w_i |m_i - m_1| / m_1,    w_i = N - i + 1   (9, 8, ..., 1 for N = 10)

  a weighted sum, not a mean: drift in the second chunk weighs 9 times drift in the last. The
  'log' weighting, w_i = log(N - i + 1), is there too (the last chunk weighs 0). The reference gives
  0 for N < 2 and inf for m_1 = 0, and skips a video with fewer than N frames. Its five metrics
  (README: VDE Clarity, Motion, Aesthetic, Background, Subject) are MUSIQ-SPAQ imaging quality
  ('clarity', the raw 0-100 mean: the ratio does not change with the /100), AMT-S motion
  smoothness, the LAION aesthetic score, CLIP background and DINO subject consistency. Its sixth
  option, dynamic degree, is 0 or 1 per chunk, so its relative change is 0, 1 or (after a static first
  chunk) infinite; it is left out.

Reuse of the base dimension: a protocol metric wraps the dimension's metric (`base`, a
`base.PerFrameMetric` built once per suite, `scoring.build_metrics`) and joins its pass over each video:
the dimension's accumulator emits each frame's value (a score, or a feature for the consistency
dimensions) as it computes it, and the protocol keeps the values of its spans. Scored together with
the dimension (or with another protocol on it), each frame goes through the network once; scored
alone, a protocol still runs the dimension on every frame (its accumulator reads the video in order),
except on a video too short to have spans. A span's
value is the dimension's `span_value` of its frames' values: the mean score (aesthetic, imaging), the
consistency of the span with its own first frame as f_0, or the smoothness of the predictions whose
three frames lie inside it.

Long-horizon coherence (`subject_coherence`, `background_coherence`; proposed for VBench in its issue
#206): the mean cosine similarity of the dimension's per-frame features between frames COHERENCE_GAP
seconds apart (`scoring.references.coherence_at_gaps`), higher is better; `extra["curve"]` holds it at
every gap of COHERENCE_GAPS (2, 5, 10, 20, 50 s) that fits in the video. Neighbouring-frame and
first-frame consistency miss a slow drift that this curve shows. A video shorter than COHERENCE_GAP
has no value (None, with the reason). It reads the consistency dimension's features from the same pass.

Departures: a video with a chunk that has no value (a consistency chunk of one frame, a motion chunk
under three frames) or m_1 = 0 has value None with the reason, not an error or inf; motion chunks use
the video's even/odd triplets (see motion.py), which differ from the reference's only for chunks that
start at an odd frame. Per-window values are None (the spans are the protocol's, not the runner's
windows); `extra` keeps the spans, their scores and, for a video without a value, the reason. Under the
VBench-Long protocol (2-second clips scored on their own) the protocols are unavailable. The suite
value is the mean of per-video values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from scoring.base import Accumulator, Metric, PerFrameMetric, SharedPass, VideoInfo, VideoResult
from scoring.specs import spec

DELTA_DRIFT_SECONDS = 5.0  # Deep Forcing: the first and the last 5 s
COHERENCE_GAPS = (2.0, 5.0, 10.0, 20.0, 50.0)  # seconds: VBench #206's growing gaps
COHERENCE_GAP = 10.0  # the gap of a video's value (the rest are in its curve)
VDE_CHUNKS = 10  # the reference's N_CHUNKS
VDE_WEIGHTINGS = ("linear", "log")

Spans = list[tuple[int, int]]  # [start, end) frame ranges


# ----------------------------------------------------------------------------------------------
# Pure formulas (known-answer tested)


def delta_drift(first: float, last: float) -> float:
    """|q(first 5 s) - q(last 5 s)|."""
    return abs(first - last)


def delta_drift_spans(num_frames: int, fps: float, seconds: float = DELTA_DRIFT_SECONDS) -> Spans | None:
    """The [start, end) frames of the first and of the last `seconds` of a video (round(seconds * fps)
    frames each); None when the video is shorter than twice that (the two would overlap)."""
    span = round(seconds * fps)
    if span < 1 or num_frames < 2 * span:
        return None
    return [(0, span), (num_frames - span, num_frames)]


def vde_chunks(num_frames: int, chunks: int = VDE_CHUNKS) -> Spans | None:
    """`chunks` consecutive chunks of num_frames // chunks frames from frame 0 (the remaining frames
    are dropped); None for a video with fewer frames than chunks (the reference skips it)."""
    size = num_frames // chunks
    if size < 1:
        return None
    return [(k * size, (k + 1) * size) for k in range(chunks)]


def vde_weights(n: int, weighting: str = "linear") -> list[float]:
    """The weights of chunks i = 2 .. n: n - i + 1 (linear) or log(n - i + 1) (log)."""
    if weighting not in VDE_WEIGHTINGS:
        raise ValueError(f"unknown VDE weighting {weighting!r}; choose one of {', '.join(VDE_WEIGHTINGS)}")
    raw = [float(n - i + 1) for i in range(2, n + 1)]
    return raw if weighting == "linear" else [math.log(w) for w in raw]


def video_drift_error(scores: Sequence[float], weighting: str = "linear") -> float:
    """VDE = sum_{i=2..n} w_i |m_i - m_1| / m_1 of chunk scores m_1 .. m_n (`vde_weights`);
    0 for fewer than two chunks and inf for m_1 = 0, as the reference returns."""
    weights = vde_weights(len(scores), weighting)
    if len(scores) < 2:
        return 0.0
    first = scores[0]
    if first == 0:
        return math.inf
    return math.fsum(w * abs(m - first) / first for w, m in zip(weights, scores[1:], strict=True))


# ----------------------------------------------------------------------------------------------
# Streaming: the spans' per-frame values, read from the base dimension's pass


class SpanAccumulator(Accumulator):
    """Keeps the base dimension's per-frame values that fall inside the protocol's spans."""

    def __init__(self, metric: DriftProtocol, shared: SharedPass, spans: Spans | None, reason: str) -> None:
        self.metric, self.shared = metric, shared
        self.spans = spans or []
        self.reason = reason  # why the video has no spans (used when there are none)
        self.values: list[list[torch.Tensor]] = [[] for _ in self.spans]  # per span: [k] or [k, D] pieces
        self.position = 0  # frames given to this accumulator
        if self.spans:
            shared.acc.listen(self._take)

    def _take(self, frames: torch.Tensor, values: torch.Tensor) -> None:
        """frames [K] frame indices, values [K] or [K, D]: keep those whose frames lie inside a span."""
        before, after = self.metric.base.frame_reach
        for k, (start, end) in enumerate(self.spans):
            inside = (frames - before >= start) & (frames + after < end)
            if bool(inside.any()):
                self.values[k].append(values[inside])

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if self.spans:  # a video without spans needs no values: the base runs only for its own readers
            self.shared.feed(frames, self.position)
        self.position += frames.shape[0]

    def end_window(self) -> float | None:
        return None  # per video: the spans are the protocol's, not the runner's windows

    def whole_features(self):
        """The one span's per-frame features [N, D] float64 (a protocol whose span is the whole video),
        once the base has computed them all; None where the base gave none or gave scores, not features."""
        self.shared.finish()  # the base computes anything it left for the end
        features = torch.cat(self.values[0]).double().numpy() if self.values[0] else None
        self.values = []
        return features if features is not None and features.ndim == 2 else None

    def finish(self) -> VideoResult:
        if not self.spans:
            return VideoResult(None, extra={"spans": [], "span_scores": [], "reason": self.reason})
        self.shared.finish()  # the base computes anything it left for the end
        base = self.metric.base
        scores = [base.span_value(torch.cat(v)) if v else None for v in self.values]
        self.values = []
        value, reason = self.metric.combine(scores)
        return VideoResult(value, extra={"spans": self.spans, "span_scores": scores, "reason": reason})


class DriftProtocol(Metric):
    """A drift protocol on the per-frame values of `base`, the dimension named by its row's `base`."""

    def __init__(self, name: str, base: PerFrameMetric) -> None:
        self.name = name
        expected = spec(name).base
        if not isinstance(base, PerFrameMetric) or base.name != expected:
            raise ValueError(f"{name} is computed from {expected}'s per-frame values; got {base!r}")
        self.base = base
        self.backend = base.backend

    def spans(self, info: VideoInfo) -> tuple[Spans | None, str]:
        """The video's spans, and why there are none when None."""
        raise NotImplementedError

    def combine(self, scores: list[float | None]) -> tuple[float | None, str | None]:
        """The spans' scores -> (the video's value, why it has none)."""
        raise NotImplementedError

    def new_video(self, info: VideoInfo) -> Accumulator:
        spans, reason = self.spans(info)
        return SpanAccumulator(self, self.base.join(info, self.name), spans, reason)


class DeltaDrift(DriftProtocol):
    """|q(first 5 s) - q(last 5 s)| of the base quality score (module doc)."""

    def spans(self, info: VideoInfo) -> tuple[Spans | None, str]:
        reason = (
            f"{info.num_frames} frames at {info.fps:g} fps are shorter than 2 x {DELTA_DRIFT_SECONDS:g} s: "
            "the first and last 5 s would overlap"
        )
        return delta_drift_spans(info.num_frames, info.fps), reason

    def combine(self, scores: list[float | None]) -> tuple[float | None, str | None]:
        first, last = scores
        if first is None or last is None:
            return None, f"no {self.base.name} value in the first or the last {DELTA_DRIFT_SECONDS:g} s"
        return delta_drift(first, last), None


class VideoDriftError(DriftProtocol):
    """LV-Bench's VDE of the base dimension over 10 chunks, linear weights (module doc)."""

    def spans(self, info: VideoInfo) -> tuple[Spans | None, str]:
        reason = f"{info.num_frames} frames are fewer than the {VDE_CHUNKS} chunks (the reference skips it)"
        return vde_chunks(info.num_frames), reason

    def combine(self, scores: list[float | None]) -> tuple[float | None, str | None]:
        missing = [i + 1 for i, s in enumerate(scores) if s is None]
        if missing:
            return None, f"chunk(s) {missing} have no {self.base.name} value: too few frames per chunk"
        if scores[0] == 0:
            return None, f"the first chunk's {self.base.name} is 0, so the relative change is undefined"
        return video_drift_error(scores), None


class _CoherenceAccumulator(SpanAccumulator):
    """Keeps every frame's feature (one span: the whole video) and gives the coherence curve."""

    def __init__(self, metric, shared, spans, reason, fps: float) -> None:
        super().__init__(metric, shared, spans, reason)
        self.fps = fps

    def finish(self) -> VideoResult:
        from scoring.references import coherence_at_gaps

        if not self.spans:
            return VideoResult(None, extra={"curve": {}, "reason": self.reason})
        features = self.whole_features()  # [N, D]
        if features is None:
            return VideoResult(None, extra={"curve": {}, "reason": "no per-frame features"})
        curve = coherence_at_gaps(features, self.fps, COHERENCE_GAPS)
        fits = {f"{g:g}s": v for g, v in curve.items() if not math.isnan(v)}
        return VideoResult(curve[COHERENCE_GAP], extra={"curve": fits, "reason": None})


def beyond_gap(info: VideoInfo, seconds: float) -> tuple[Spans | None, str]:
    """One span, the whole video, for a protocol comparing frames `seconds` apart; None (and why) for a
    video not longer than that gap."""
    gap = round(seconds * info.fps)
    reason = f"{info.num_frames} frames at {info.fps:g} fps are not longer than the {seconds:g} s gap"
    return ([(0, info.num_frames)] if info.num_frames > gap >= 1 else None), reason


class LongCoherence(DriftProtocol):
    """Similarity of the base consistency dimension's features COHERENCE_GAP seconds apart (module doc)."""

    def spans(self, info: VideoInfo) -> tuple[Spans | None, str]:
        return beyond_gap(info, COHERENCE_GAP)

    def new_video(self, info: VideoInfo) -> Accumulator:
        spans, reason = self.spans(info)
        return _CoherenceAccumulator(self, self.base.join(info, self.name), spans, reason, info.fps)
