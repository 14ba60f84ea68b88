"""VBench aesthetic_quality, streamed: the LAION aesthetic predictor on CLIP ViT-L/14 embeddings.

Per frame: CLIP ViT-L/14 image embedding (openai `encode_image`), L2-normalised, through the LAION
linear head (aesthetic predictor v1, roughly 1-10), divided by 10. A video's value is the mean over
its frames; the suite value is the mean over videos (VBench's `laion_aesthetic`). A window's value is
the mean over the window's frames. Each frame's score is emitted (`base.PerFrameMetric`), so the drift
protocols built on this dimension (`drift_protocols.py`) read it without running CLIP again; a span's
value is the mean of its frames' scores, as VBench scores a clip of those frames.

Departure: VBench runs CLIP in fp16 on CUDA; we compute in fp32 (see extractors.py).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from scoring.base import Accumulator, PerFrameMetric, VideoInfo, VideoResult
from scoring.extractors import (
    AESTHETIC_WEIGHTS,
    CLIP_WEIGHTS,
    AestheticHead,
    ClipImageEncoder,
    require_weights,
)


def aesthetic_scores(embeddings: torch.Tensor, head: AestheticHead) -> torch.Tensor:
    """CLIP image embeddings [N, D] -> per-frame aesthetic quality [N] (head output / 10)."""
    with torch.no_grad():
        x = F.normalize(embeddings.float(), dim=-1).to(head.weight.device)
        return (head(x)[:, 0] / 10).float().cpu()


class _AestheticAccumulator(Accumulator):
    def __init__(self, clip: ClipImageEncoder, head: AestheticHead) -> None:
        self.clip, self.head = clip, head
        self.total, self.frames = 0.0, 0
        self.window_total, self.window_frames = 0.0, 0
        self.windows: list[float | None] = []

    def update(self, frames: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        scores = aesthetic_scores(self.clip.extract(frames), self.head).double()  # [T]
        self.emit(torch.arange(self.frames, self.frames + scores.numel()), scores)
        self.total += scores.sum().item()
        self.frames += scores.numel()
        self.window_total += scores.sum().item()
        self.window_frames += scores.numel()

    def end_window(self) -> float | None:
        value = self.window_total / self.window_frames if self.window_frames else None
        self.windows.append(value)
        self.window_total, self.window_frames = 0.0, 0
        return value

    def finish(self) -> VideoResult:
        if self.window_frames:  # frames after the last end_window still form a window
            self.end_window()
        value = self.total / self.frames if self.frames else None
        return VideoResult(value=value, windows=list(self.windows), extra={"frames": self.frames})


class AestheticQuality(PerFrameMetric):
    """VBench aesthetic_quality; the suite value is the plain mean of per-video values."""

    name = "aesthetic_quality"

    def __init__(self, clip: ClipImageEncoder, head: AestheticHead) -> None:
        if clip.feature_dim != head.in_features:
            raise ValueError(
                f"CLIP embeddings have {clip.feature_dim} dims but the aesthetic head takes {head.in_features}: "
                "the LAION head needs CLIP ViT-L/14 (768)."
            )
        self.clip, self.head = clip, head
        self.backend = (
            clip.backend if clip.backend == head.backend else f"{clip.backend} + {head.backend} head"
        )

    def new_accumulator(self, info: VideoInfo) -> Accumulator:
        return _AestheticAccumulator(self.clip, self.head)

    def span_value(self, values: torch.Tensor) -> float | None:
        return float(values.double().mean()) if values.numel() else None

    @classmethod
    def from_cache(
        cls,
        cache_dir: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> AestheticQuality:
        # Check both files first so one error lists everything that is missing.
        require_weights([CLIP_WEIGHTS["ViT-L-14"], AESTHETIC_WEIGHTS], cache_dir, "aesthetic_quality")
        return cls(
            ClipImageEncoder.from_cache("ViT-L-14", cache_dir, device=device, batch_size=batch_size),
            AestheticHead.from_cache(cache_dir, device=device),
        )
