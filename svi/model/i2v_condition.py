"""Wan I2V conditioning: the 20-channel `y` beside the noisy latent (docs/method.md §3, §6).

y = [mask (4 channels), VAE([K condition frames, padding])] with
- the condition video: the K condition frames followed by F - K padding frames, either the
  reference image repeated (`reference`, SVI-Shot) or zeros (`zeros`, SVI-Film);
- the mask: 1 on the marked pixel frames, packed like the VAE packs time (the first frame stands for
  a whole latent frame, then 4 pixel frames per latent frame). The official code marks frame 0 only,
  so latent frame 0 alone even with K = 5 condition frames (`mask="first"`); `mask="condition"` marks
  all K (with K = 5: latents 0 and 1).

SVI 2.0 (Wan 2.1 and 2.2) is this with K = 1 and reference padding: y = VAE([last frame, anchor x
(F - 1)]), the mask on frame 0 only. SVI 2.0 Pro chains in latent space (`pro_condition`): y = [VAE(anchor),
the previous clip's last M latents, zero latents], the mask on latent 0 only; clip 1 is [VAE(anchor),
zeros]. The zeros are zero-valued (normalised) latents, not encoded black frames.
"""

from __future__ import annotations

import torch

PADDINGS = ("reference", "zeros")
MASKS = ("first", "condition")


def condition_video(
    cond: torch.Tensor, num_frames: int, padding: str, reference: torch.Tensor | None = None
) -> torch.Tensor:
    """[B, 3, K, H, W] condition frames -> [B, 3, F, H, W] condition video (pixels in [-1, 1])."""
    b, c, k, h, w = cond.shape
    if k >= num_frames:
        raise ValueError(f"{k} condition frames leave no frame to generate in a {num_frames}-frame clip")
    if padding == "reference":
        if reference is None:
            raise ValueError("padding='reference' needs the reference image")
        pad = reference.to(cond).reshape(b, c, 1, h, w).expand(b, c, num_frames - k, h, w)
    elif padding == "zeros":
        pad = cond.new_zeros(b, c, num_frames - k, h, w)
    else:
        raise ValueError(f"unknown padding {padding!r}; choose one of {PADDINGS}")
    return torch.cat([cond, pad], dim=2)


def frame_mask(
    batch: int, num_frames: int, cond_frames: int, latent_hw: tuple[int, int], temporal_ratio: int = 4
) -> torch.Tensor:
    """Wan's condition mask, [B, temporal_ratio, F_lat, h, w] (float 0/1)."""
    h, w = latent_hw
    pixel = torch.zeros(batch, 1, num_frames, h, w)
    pixel[:, :, :cond_frames] = 1
    # The VAE encodes frame 0 alone into latent frame 0: repeat it to fill a group of temporal_ratio.
    first = pixel[:, :, :1].repeat_interleave(temporal_ratio, dim=2)
    packed = torch.cat([first, pixel[:, :, 1:]], dim=2)  # [B, 1, F + r - 1, h, w]
    packed = packed.view(batch, -1, temporal_ratio, h, w)  # [B, F_lat, r, h, w]
    return packed.transpose(1, 2)


def marked_frames(cond_frames: int, mask: str) -> int:
    """Pixel frames the mask marks: 1 (`first`, official) or all K condition frames (`condition`)."""
    if mask not in MASKS:
        raise ValueError(f"unknown mask {mask!r}; choose one of {MASKS}")
    return 1 if mask == "first" else cond_frames


def build_condition(
    backbone,
    cond: torch.Tensor,
    num_frames: int,
    padding: str,
    reference: torch.Tensor | None = None,
    mask: str = "first",
) -> torch.Tensor:
    """The transformer's conditioning y [B, 4 + 16, F_lat, h, w] from K condition frames [B, 3, K, H, W].

    reference: [B, 3, H, W], the padding image of `reference` padding."""
    video = condition_video(cond, num_frames, padding, reference)
    latent = backbone.encode_video(video)  # [B, 16, F_lat, h, w]
    marks = frame_mask(
        cond.shape[0],
        num_frames,
        marked_frames(cond.shape[2], mask),
        tuple(latent.shape[-2:]),
        backbone.temporal_ratio,
    )
    return torch.cat([marks.to(latent), latent], dim=1)


LATENT_MASKS = ("anchor", "carried")


def pro_condition(
    anchor: torch.Tensor, carried: torch.Tensor | None, latent_frames: int, mask: str = "anchor"
) -> torch.Tensor:
    """SVI 2.0 Pro's y [B, 4 + 16, F_lat, h, w] (WanVideoSviProPipeline), with no VAE call.

    anchor [B, 16, 1, h, w]: VAE(anchor image), normalised; carried [B, 16, M, h, w]: the previous
    clip's last M latents (None for clip 1). Latents: [anchor, carried, zeros] along time; the zeros
    are zero latents. mask `anchor` (official): latent 0 alone is marked, so the carried slots have mask
    0; `carried`: the anchor and the carried latents are marked."""
    if mask not in LATENT_MASKS:
        raise ValueError(f"unknown latent mask {mask!r}; choose one of {LATENT_MASKS}")
    b, c, _, h, w = anchor.shape
    m = 0 if carried is None else carried.shape[2]
    if 1 + m >= latent_frames:
        raise ValueError(f"the anchor and {m} carried latents leave no latent to generate of {latent_frames}")
    latent = anchor.new_zeros(b, c, latent_frames, h, w)
    latent[:, :, :1] = anchor
    if carried is not None:
        latent[:, :, 1 : 1 + m] = carried
    known = [0] if mask == "anchor" else list(range(1 + m))
    return torch.cat([latent_mask(b, latent_frames, known, (h, w)).to(latent), latent], dim=1)


def latent_mask(batch: int, latent_frames: int, known: list[int], latent_hw: tuple[int, int]) -> torch.Tensor:
    """A mask that marks whole latent frames as known, at any position: [B, 4, F_lat, h, w] (float 0/1).

    Wan's mask packs 4 pixel frames per latent frame; marking all 4 marks the latent frame, as the
    first-last-frame mode marks its last frame. `frame_mask` of the first 1 + 4 j pixel frames equals
    `latent_mask` of the first 1 + j latent frames."""
    h, w = latent_hw
    mask = torch.zeros(batch, 4, latent_frames, h, w)
    mask[:, :, known] = 1
    return mask


def free_condition(backbone, reference: torch.Tensor, num_frames: int, padding: str) -> torch.Tensor:
    """y [B, 20, F_lat, h, w] of a clip with no known frame: nothing marked, every frame the padding (the
    reference image repeated, or zeros) encoded by the VAE. What a clip's conditioning is without its
    condition frames (FreeNoise's later windows, history guidance's pass without history).

    reference: [B, 3, H, W] in [-1, 1]."""
    b, c, h, w = reference.shape
    if padding == "reference":
        video = reference[:, :, None].expand(b, c, num_frames, h, w)
    elif padding == "zeros":
        video = reference.new_zeros(b, c, num_frames, h, w)
    else:
        raise ValueError(f"unknown padding {padding!r}; choose one of {PADDINGS}")
    latent = backbone.encode_video(video)  # [B, 16, F_lat, h, w]
    return torch.cat([latent.new_zeros(b, 4, *latent.shape[2:]), latent], dim=1)
