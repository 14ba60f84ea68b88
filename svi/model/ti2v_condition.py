"""Wan 2.2 TI2V's image condition: the image's latent replaces latent frame 0 (docs/guides/wan22.md).

Wan 2.2 TI2V 5B has no y channels and no image encoder: its transformer takes the 48-channel latent
alone. An image conditions a clip as diffusers' `WanImageToVideoPipeline(expand_timesteps=True)` does
(and Wan's own TI2V code): before every denoising step the clean image latent z0 = VAE(image)
[B, C, 1, h, w] replaces latent frame 0 of the noisy latent, the transformer gets a timestep per token,
0 on latent frame 0's tokens (it is clean) and t on every other token, and the finished clip keeps
latent 0 = z0. In training the same holds: latent 0 is the clean condition at t = 0 and the loss covers
latent frames 1.. only (svi/training/erft.py).

Pure functions; the known answers are in tests/svi/test_ti2v.py.
"""

from __future__ import annotations

import torch

from svi.training.forcing import frame_timesteps_to_tokens, tokens_per_frame


def replaces_first_latent(transformer) -> bool:
    """Whether a Wan transformer is conditioned by first-latent replacement: it has no condition
    channels (in_channels == out_channels: the latent alone), as Wan 2.2 TI2V 5B (48 in, 48 out)."""
    return transformer.config.in_channels == transformer.config.out_channels


def replace_first_latent(x: torch.Tensor, z0: torch.Tensor) -> torch.Tensor:
    """x [B, C, F, h, w] with latent frame 0 replaced by z0 [B, C, 1, h, w] (a new tensor, x's dtype).

    diffusers writes it (1 - m) z0 + m x with m 0 on frame 0 and 1 elsewhere; this is the same
    values without the multiplications (and so without 0 x inf = nan on a diverged frame 0)."""
    if z0.shape[2] != 1 or z0.shape[:2] != x.shape[:2] or z0.shape[3:] != x.shape[3:]:
        raise ValueError(f"the first latent {tuple(z0.shape)} does not fit latents {tuple(x.shape)}")
    return torch.cat([z0.to(x), x[:, :, 1:]], dim=2)


def token_timesteps(
    t: torch.Tensor | float, batch: int, latent_frames: int, per_frame: int, device=None
) -> torch.Tensor:
    """The transformer's per-token timestep [B, F per_frame]: 0 on latent frame 0's tokens, t on the
    others, in its frame-major token order. t: a float (every sample) or [B]; per_frame: tokens of one
    latent frame (`svi.training.forcing.tokens_per_frame`)."""
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    frames = t.reshape(-1, 1).expand(batch, latent_frames).clone()  # [B, F]
    frames[:, 0] = 0
    return frame_timesteps_to_tokens(frames, per_frame)


def model_timesteps(t: torch.Tensor | float, x: torch.Tensor, patch_size) -> torch.Tensor:
    """`token_timesteps` for latents x [B, C, F, h, w] and the transformer's patch size (1, p_h, p_w)."""
    per_frame = tokens_per_frame(patch_size, x.shape[-2:])
    return token_timesteps(t, x.shape[0], x.shape[2], per_frame, device=x.device)


def image_latent(backbone, image: torch.Tensor) -> torch.Tensor:
    """The condition z0 [B, C, 1, h, w]: the VAE latent of images [B, 3, H, W] in [-1, 1], alone (the
    causal VAE encodes a clip's frame 0 alone into its latent 0, so this is a clip's latent 0 too)."""
    return backbone.encode_video(image[:, :, None])


def add_first_latent_error(z0: torch.Tensor, error: torch.Tensor, frame: int) -> torch.Tensor:
    """E_img on a TI2V condition: error[:, frame] added to the image latent z0 (one sample).

    z0: [C, 1, h, w]; error: [C, F, h, w], a clean-end bank entry. Returns a new z0."""
    if not 0 <= frame < error.shape[1]:
        raise ValueError(f"frame {frame} is outside the error's {error.shape[1]} latent frames")
    return z0 + error[:, frame : frame + 1].to(z0)
