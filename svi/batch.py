"""From a batch of training clips to the tensors the ERFT step works on.

The frozen encoders run here, under no_grad, outside the DeepSpeed engine: latents x0 of the clip,
the conditioning y from its first K frames (padded per variant), the umT5 context of its prompt
and the CLIP feature of condition frame 0 (METHOD.md §3). In training the reference image is the
clip's first frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from svi.conditioning import build_condition
from svi.config import DataConfig


@dataclass
class EncodedBatch:
    x0: torch.Tensor  # [B, 16, F_lat, h, w] normalised clean latents
    y: torch.Tensor  # [B, 20, F_lat, h, w] mask + condition latent
    context: torch.Tensor  # [B, L, D_text]
    image_context: torch.Tensor | None  # [B, N, D_clip]

    def to(self, dtype: torch.dtype) -> EncodedBatch:
        cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
        return EncodedBatch(cast(self.x0), cast(self.y), cast(self.context), cast(self.image_context))


@torch.no_grad()
def encode_batch(backbone, video: torch.Tensor, prompts: list[str], data: DataConfig) -> EncodedBatch:
    """video: [B, 3, F, H, W] in [-1, 1] on the backbone's device."""
    k = data.cond_frames
    reference = video[:, :, 0]  # [B, 3, H, W]
    return EncodedBatch(
        x0=backbone.encode_video(video),
        y=build_condition(backbone, video[:, :, :k], video.shape[2], data.padding, reference),
        context=backbone.encode_text(prompts),
        image_context=backbone.encode_image(reference),
    )
