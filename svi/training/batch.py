"""From a batch of training clips to the tensors the ERFT step works on.

The frozen encoders run here, under no_grad, outside the DeepSpeed engine (docs/method.md §3): latents x0
of the clip, the conditioning y from its first K frames and the padding (the clip's reference frame
repeated, or zeros), the umT5 context of its prompt and the CLIP feature of condition frame 0.
With K > 1 a sample conditions on all K frames with probability `data.p_motion` and on frame 0 alone
otherwise (official SVI-Film: 10% of steps), so the model also learns the first clip's layout.
A TI2V model (Wan 2.2 TI2V 5B) has no y: its condition is the clip's latent 0 itself, the VAE latent of
its frame 0 (svi/model/ti2v_condition.py), which replaces latent 0 of the noisy latent in the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from svi.config import DataConfig
from svi.model.i2v_condition import build_condition, pro_condition


@dataclass
class EncodedBatch:
    x0: torch.Tensor  # [B, C, F_lat, h, w] normalised clean latents
    y: torch.Tensor  # [B, 20, F_lat, h, w] mask + condition latent; TI2V: the image latent [B, C, 1, h, w]
    context: torch.Tensor  # [B, L, D_text]
    image_context: torch.Tensor | None  # [B, N, D_clip]

    def to(self, dtype: torch.dtype) -> EncodedBatch:
        cast = lambda t: None if t is None else t.to(dtype)  # noqa: E731
        return EncodedBatch(cast(self.x0), cast(self.y), cast(self.context), cast(self.image_context))


def condition_counts(batch: int, data: DataConfig, generator: torch.Generator | None) -> list[int]:
    """Condition frames per sample: K with probability p_motion, else 1 (only drawn when K > 1).
    Without a generator every sample takes K."""
    k = data.cond_frames
    if k == 1 or generator is None:
        return [k] * batch
    draws = torch.rand(batch, generator=generator, dtype=torch.float64).tolist()
    return [k if u < data.p_motion else 1 for u in draws]


@torch.no_grad()
def encode_batch(
    backbone,
    video: torch.Tensor,
    prompts: list[str],
    data: DataConfig,
    reference: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    cond: torch.Tensor | None = None,
    motion: torch.Tensor | None = None,
    anchor: torch.Tensor | None = None,
) -> EncodedBatch:
    """video: [B, 3, F, H, W] in [-1, 1] on the backbone's device; reference: [B, 3, H, W], the
    padding image (None: frame 0); generator: draws the per-sample condition count (None: always K);
    cond: [B, 3, K, H, W], condition frames in place of the clip's first K (Self-Forcing's rollout,
    svi/training/forcing.py; None: the clip's own), which also give the CLIP image. x0 is always the clip's.
    data.window=pro: motion [B, 3, F, H, W] and anchor [B, 3, H, W] (the dataset's Pro window) give
    y = [VAE(anchor), the last latent of VAE(motion), zeros], the mask on latent 0 (`pro_condition`), and
    the CLIP image is the anchor (none for Wan 2.2, which has no image encoder).
    A TI2V backbone (`Backbone.first_latent`): y = x0's latent 0, the clip's frame 0 encoded alone."""
    if backbone.first_latent:
        if cond is not None or data.window == "pro" or data.cond_frames != 1:
            raise ValueError(
                f"{backbone.preset} is conditioned by one image, its clip's frame 0: train it with "
                "data.cond_frames=1, data.window=clip and forcing.kind=none"
            )
        x0 = backbone.encode_video(video)  # [B, C, F_lat, h, w]
        return EncodedBatch(x0, x0[:, :, :1].clone(), backbone.encode_text(prompts), None)
    if data.window == "pro":
        if motion is None or anchor is None:
            raise ValueError(
                "data.window=pro needs the dataset's motion and anchor frames (VideoClipDataset pro_window)"
            )
        anchor = anchor.to(video)
        x0 = backbone.encode_video(video)  # [B, 16, F_lat, h, w]
        carried = backbone.encode_video(motion.to(video))[:, :, -1:]  # [B, 16, 1, h, w]
        y = pro_condition(backbone.encode_video(anchor[:, :, None]), carried, x0.shape[2], "anchor")
        return EncodedBatch(x0, y, backbone.encode_text(prompts), backbone.encode_image(anchor))
    cond = video[:, :, : data.cond_frames] if cond is None else cond.to(video)
    first = cond[:, :, 0]  # [B, 3, H, W]: condition frame 0 (the CLIP image)
    reference = first if reference is None else reference.to(video)
    counts = condition_counts(video.shape[0], data, generator)

    def condition(rows: slice | list[int], k: int) -> torch.Tensor:
        return build_condition(
            backbone, cond[rows, :, :k], video.shape[2], data.padding, reference[rows], data.mask
        )

    if len(set(counts)) == 1:
        y = condition(slice(None), counts[0])
    else:  # one VAE pass per layout, then back into the batch order
        parts = {k: [i for i, c in enumerate(counts) if c == k] for k in sorted(set(counts))}
        encoded = {k: condition(rows, k) for k, rows in parts.items()}
        y = encoded[counts[0]].new_empty(len(counts), *encoded[counts[0]].shape[1:])
        for k, rows in parts.items():
            y[rows] = encoded[k]
    return EncodedBatch(
        x0=backbone.encode_video(video),
        y=y,
        context=backbone.encode_text(prompts),
        image_context=backbone.encode_image(first),
    )
