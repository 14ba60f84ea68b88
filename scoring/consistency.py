"""VBench's consistency dimensions, streamed: subject / background consistency and VBench-I2V's pair.

subject_consistency (DINO ViT-B/16) and background_consistency (CLIP ViT-B/32): with f_i the
L2-normalised feature of frame i,

    s_i = (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2        for i >= 1

a video's value is the mean of its s_i, and the suite value is frame-weighted, exactly as VBench's
`subject_consistency` / `background_consistency` return it: the sum of every s_i over all videos divided
by the total number of pairs (so long videos count more). Each VideoResult carries weight = pairs.

i2v_subject and i2v_background (VBench++ / VBench-I2V) compare the video with its input image f_img:

    c_i = max(0, cos(f_img, f_i))   for i >= 0          (conformity to the input image)
    d_i = max(0, cos(f_{i-1}, f_i)) for i >= 1          (consecutive-frame similarity)
    score = w_max * max(c) + w_mean * mean(d) + w_min * min(d)

with (w_max, w_mean, w_min) = (0.5, 0.5, 0.0) for i2v_subject and (0.4, 0.3, 0.3) for i2v_background
(VBench's `vbench2_beta_i2v`), and the suite value is the mean of per-video scores.

Departures from VBench:
- i2v_background: VBench embeds frames with DreamSim, whose weights we cannot load here; we use the
  DINO ViT-B/16 extractor instead (`backend` says so). Numbers are therefore not comparable with
  published i2v_background scores, only between arms scored the same way.
- The input image goes through the frames' tensor preprocessing (VBench opens it with PIL and resizes
  with PIL's filter); the difference is the resize kernel only.
- A video with a single frame has no pairs: its value is None (VBench divides by zero there).

Streaming: features are computed chunk by chunk; the accumulator keeps f_0 (or f_img) and the previous
frame's feature across `update` calls and windows, so any chunking gives the same numbers. A window's
value uses the terms of the frames inside it (the pair that straddles a window start belongs to the
later window); a window whose frames have no pair (the first frame alone) has value None.

subject_consistency and background_consistency emit each frame's L2-normalised feature
(`base.PerFrameMetric`); the drift protocols (`drift_protocols.py`) score a span of frames from them as
a video of its own (its first frame is f_0; pairs inside the span only), without running the network
again.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from scoring.base import Accumulator, Metric, PerFrameMetric, VideoInfo, VideoResult, weighted_mean
from scoring.extractors import ClipImageEncoder, DinoViTB16, ImageFeatureExtractor

# (w_max on conformity, w_mean on consecutive, w_min on consecutive), from VBench's i2v_*.py.
I2V_WEIGHTS = {"i2v_subject": (0.5, 0.5, 0.0), "i2v_background": (0.4, 0.3, 0.3)}


# ----------------------------------------------------------------------------------------------
# Pure formulas (known-answer tested)


def _pair_terms(
    features: torch.Tensor, first: torch.Tensor, previous: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clamped cosines of each row of features [T, D] with its predecessor and with `first`.

    All inputs L2-normalised; previous [D] is the feature of the frame before features[0].
    Returns (sim_prev [T], sim_first [T]).
    """
    prev = torch.cat([previous[None], features[:-1]])  # [T, D]
    sim_prev = (prev * features).sum(-1).clamp_min(0.0)
    sim_first = (features @ first).clamp_min(0.0)
    return sim_prev, sim_first


def consistency_scores(features: torch.Tensor) -> torch.Tensor:
    """s_i for i >= 1 from per-frame features [N, D] (any scale) -> [N - 1]."""
    f = F.normalize(features.float(), dim=-1)
    if f.shape[0] < 2:
        return f.new_zeros(0)
    sim_prev, sim_first = _pair_terms(f[1:], f[0], f[0])
    return (sim_prev + sim_first) / 2


def i2v_score(
    image_feature: torch.Tensor, features: torch.Tensor, weights: tuple[float, float, float]
) -> float | None:
    """VBench-I2V video score from the input image's feature [D] and the frames' features [N, D]."""
    f = F.normalize(features.float(), dim=-1)
    if f.shape[0] < 2:
        return None
    conformity = (f @ F.normalize(image_feature.float(), dim=-1)).clamp_min(0.0)  # [N]
    consecutive = (f[1:] * f[:-1]).sum(-1).clamp_min(0.0)  # [N - 1]
    w_max, w_mean, w_min = weights
    return (
        w_max * conformity.max().item()
        + w_mean * consecutive.mean().item()
        + w_min * consecutive.min().item()
    )


# ----------------------------------------------------------------------------------------------
# subject_consistency / background_consistency


class _ConsistencyAccumulator(Accumulator):
    def __init__(self, extractor: ImageFeatureExtractor) -> None:
        self.extractor = extractor
        self.first: torch.Tensor | None = None  # [D] f_0
        self.previous: torch.Tensor | None = None  # [D] f_{i-1} for the next frame
        self.total, self.pairs = 0.0, 0
        self.window_total, self.window_pairs, self.window_frames = 0.0, 0, 0
        self.windows: list[float | None] = []
        self.seen = 0  # frames so far

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        feats = F.normalize(self.extractor.extract(frames), dim=-1)  # [T, D]
        if not feats.shape[0]:
            return
        self.emit(torch.arange(self.seen, self.seen + feats.shape[0]), feats)
        self.seen += feats.shape[0]
        self.window_frames += feats.shape[0]
        if self.first is None:
            self.first = self.previous = feats[0]
            feats = feats[1:]
        if feats.shape[0]:
            sim_prev, sim_first = _pair_terms(feats, self.first, self.previous)
            s = ((sim_prev + sim_first) / 2).double()  # [T]
            self.total += s.sum().item()
            self.pairs += s.numel()
            self.window_total += s.sum().item()
            self.window_pairs += s.numel()
            self.previous = feats[-1]

    def end_window(self) -> float | None:
        value = self.window_total / self.window_pairs if self.window_pairs else None
        self.windows.append(value)
        self.window_total, self.window_pairs, self.window_frames = 0.0, 0, 0
        return value

    def finish(self) -> VideoResult:
        if self.window_frames:  # frames after the last end_window still form a window
            self.end_window()
        value = self.total / self.pairs if self.pairs else None
        return VideoResult(value=value, weight=float(self.pairs), windows=list(self.windows))


class _FeatureMetric(Metric):
    """A metric over per-frame features of one extractor (DINO unless a subclass says otherwise)."""

    def __init__(self, extractor: ImageFeatureExtractor) -> None:
        self.extractor = extractor
        self.backend = extractor.backend

    @staticmethod
    def load_extractor(cache_dir, device, batch_size: int) -> ImageFeatureExtractor:
        return DinoViTB16.from_cache(cache_dir, device=device, batch_size=batch_size)

    @classmethod
    def from_cache(
        cls,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ):
        """The metric with VBench's official weights from the cache folder."""
        return cls(cls.load_extractor(cache_dir, device, batch_size))


class _ConsistencyMetric(_FeatureMetric, PerFrameMetric):
    def new_accumulator(self, info: VideoInfo) -> Accumulator:
        return _ConsistencyAccumulator(self.extractor)

    def span_value(self, values: torch.Tensor) -> float | None:
        """values [K, D]: the span's frame features; the mean s_i over its pairs, f_0 its first frame."""
        return float(consistency_scores(values).double().mean()) if values.shape[0] > 1 else None

    def aggregate(self, results: list[VideoResult]) -> float | None:
        # VBench divides the sum of all s_i by the total pair count: pair-weighted, not per video.
        return weighted_mean(results)


class SubjectConsistency(_ConsistencyMetric):
    """VBench subject_consistency: DINO ViT-B/16 CLS features."""

    name = "subject_consistency"


class BackgroundConsistency(_ConsistencyMetric):
    """VBench background_consistency: CLIP ViT-B/32 image embeddings."""

    name = "background_consistency"

    @staticmethod
    def load_extractor(cache_dir, device, batch_size: int) -> ImageFeatureExtractor:
        return ClipImageEncoder.from_cache("ViT-B-32", cache_dir, device=device, batch_size=batch_size)


# ----------------------------------------------------------------------------------------------
# VBench-I2V: i2v_subject / i2v_background


class _Running:
    """max(c), and sum / count / min of d, over a span of frames."""

    def __init__(self) -> None:
        self.max_c = float("-inf")
        self.sum_d, self.n_d, self.min_d = 0.0, 0, float("inf")
        self.frames = 0

    def add(self, conformity: torch.Tensor, consecutive: torch.Tensor) -> None:
        self.frames += conformity.numel()
        if conformity.numel():
            self.max_c = max(self.max_c, conformity.max().item())
        if consecutive.numel():
            self.sum_d += consecutive.double().sum().item()
            self.n_d += consecutive.numel()
            self.min_d = min(self.min_d, consecutive.min().item())

    def score(self, weights: tuple[float, float, float]) -> float | None:
        if not self.n_d:
            return None
        w_max, w_mean, w_min = weights
        return w_max * self.max_c + w_mean * self.sum_d / self.n_d + w_min * self.min_d


class _I2VAccumulator(Accumulator):
    def __init__(
        self,
        extractor: ImageFeatureExtractor,
        image_feature: torch.Tensor,
        weights: tuple[float, float, float],
    ) -> None:
        self.extractor = extractor
        self.image_feature = image_feature  # [D], L2-normalised
        self.weights = weights
        self.previous: torch.Tensor | None = None  # [D]
        self.video, self.window = _Running(), _Running()
        self.windows: list[float | None] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        feats = F.normalize(self.extractor.extract(frames), dim=-1)  # [T, D]
        if not feats.shape[0]:
            return
        conformity = (feats @ self.image_feature).clamp_min(0.0)  # [T]
        prev = feats[:-1] if self.previous is None else torch.cat([self.previous[None], feats[:-1]])
        current = feats[1:] if self.previous is None else feats
        consecutive = (prev * current).sum(-1).clamp_min(0.0)  # [T] or [T - 1] for the first chunk
        self.video.add(conformity, consecutive)
        self.window.add(conformity, consecutive)
        self.previous = feats[-1]

    def end_window(self) -> float | None:
        value = self.window.score(self.weights)
        self.windows.append(value)
        self.window = _Running()
        return value

    def finish(self) -> VideoResult:
        if self.window.frames:
            self.end_window()
        return VideoResult(value=self.video.score(self.weights), windows=list(self.windows))


class _I2VMetric(_FeatureMetric):
    """The frames against the sample's input image (`VideoInfo.reference_image`)."""

    def __init__(self, extractor: ImageFeatureExtractor) -> None:
        super().__init__(extractor)
        self.weights = I2V_WEIGHTS[self.name]

    def new_video(self, info: VideoInfo) -> Accumulator:
        if info.reference_image is None:
            raise ValueError(
                f"{self.name} compares the video with its input image, but VideoInfo.reference_image is None "
                f"for {info.name!r}: pass the sample's image ([3, H, W] float 0-255) or drop {self.name}."
            )
        image = info.reference_image.float()[None]  # [1, 3, H, W]
        image_feature = F.normalize(self.extractor.extract(image)[0], dim=-1)  # [D]
        return _I2VAccumulator(self.extractor, image_feature, self.weights)


class I2VSubject(_I2VMetric):
    """VBench-I2V i2v_subject: DINO ViT-B/16 features of the input image vs the frames."""

    name = "i2v_subject"


class I2VBackground(_I2VMetric):
    """VBench-I2V i2v_background, on DINO ViT-B/16 features where VBench uses DreamSim (see module doc)."""

    name = "i2v_background"

    def __init__(self, extractor: DinoViTB16) -> None:
        super().__init__(extractor)
        self.backend = f"{extractor.backend}: dino (VBench uses DreamSim)"


# Metric name -> class, for the builders of every backend (registry.py, toy.py).
BY_NAME = {m.name: m for m in (SubjectConsistency, BackgroundConsistency, I2VSubject, I2VBackground)}
