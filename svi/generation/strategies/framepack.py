"""FramePack's anti-drifting sampling order (`generate.strategy=framepack`): the last section first,
every section anchored on the reference image and ending where the next (already made) one begins.

Paper: Zhang & Agrawala, "Packing Input Frame Context in Next-Frame Prediction Models for Video
Generation" (FramePack, 2025). Two ideas: (1) context packing, the history compressed with larger
patchify kernels the further back it lies so the context length is bounded; (2) anti-drifting sampling:
instead of generating strictly forward (where errors of each section feed the next), generate with known
endpoints. Its inverted anti-drifting order, used for image-to-video, makes the sections in reverse: the
first iteration makes the last section, and each later iteration makes the section before, conditioned on
the user's image (the anchor, the video's first frame) and on the frames already made after it.

On this backbone (Wan I2V's y takes a mask over latent frames, so known frames can be given at any
position, as Wan's first-last-frame mode does) section k of N, made for k = N - 1, N - 2, ..., 0, is a
clip whose conditioning is (`section_condition`):
    latent slot 0:               VAE(anchor image), marked known
    latent slots F_lat - M ..:   the first M generated latent frames of section k + 1, marked known
                                 (none for section N - 1)
    the rest:                    zeros, unknown (latent chaining's convention)
with the reference image's CLIP feature, clip k's prompt and clip k's seed, sampled as chaining samples a
clip. So every section starts at the anchor and ends where the next one starts: the endpoints are known
before the frames between them are drawn, and no section is conditioned on a section made from its own
output's drift. Assembly (`section_cut`): section k drops its restated anchor frame (but section 0, whose
anchor frame is the video's first) and its last r M frames (the next section's, kept there; but the last
section's), so N sections have F + (N - 1)(F - 1 - r M) frames, as N clips of latent chaining with M
carried latents (`generate.chaining=latent`, `motion_latents`).
Sections are written as they finish (last to first) and joined in video order; the state after each
holds the next section and the latents the one before it ends with, so a killed run resumes. The video's
length must be known before its first section (`num_clips`).

Left out, and why: context packing. It compresses a long history into FramePack's fixed context with new
patchify projections (2x, 4x, 16x kernels) that FramePack fine-tunes into its model, and places the anchor
at a RoPE distance given by a padding of empty positions; a Wan I2V clip has fixed positions 0 .. F_lat - 1
and no such projections, so adding them would be a new model to train, not a sampling order. What stays
is the anti-drifting order with anchor-and-endpoint conditioning, whose history is one short end
condition (bounded context without packing). Wan 2.1 I2V (and the toy model) were trained with known
frames at the start only; a known frame at the end of a clip is off their training distribution (Wan's
separate first-last-frame model is trained for it), and the anchor sits right before each section rather
than far back: expect strong anchoring (FramePack's published profile: high consistency, low dynamic
degree, docs/method.md §9).
"""

from __future__ import annotations

import torch

from svi.generation.sampling import sample_latents
from svi.generation.strategies.plans_ahead import required_clips, required_prompt
from svi.model.i2v_condition import latent_mask
from svi.video_io import to_uint8_frames


def section_condition(anchor: torch.Tensor, end: torch.Tensor | None, latent_frames: int) -> torch.Tensor:
    """y [1, 20, F_lat, h, w] of a section: anchor [1, 16, 1, h, w] at slot 0, `end` [1, 16, M, h, w] (or
    None) at the last M slots, both marked; zeros elsewhere."""
    _, c, _, h, w = anchor.shape
    latent = anchor.new_zeros(1, c, latent_frames, h, w)
    latent[:, :, :1] = anchor
    known = [0]
    if end is not None:
        m = end.shape[2]
        latent[:, :, latent_frames - m :] = end
        known += list(range(latent_frames - m, latent_frames))
    return torch.cat([latent_mask(1, latent_frames, known, (h, w)).to(latent), latent], dim=1)


def section_cut(k: int, sections: int, clip_frames: int, end_latents: int, temporal_ratio: int = 4):
    """The frames [first, last) section k keeps of its F decoded frames: not the restated anchor (frame 0)
    but in section 0, not the next section's r M frames at the end but in the last section."""
    first = 0 if k == 0 else 1
    last = clip_frames if k == sections - 1 else clip_frames - temporal_ratio * end_latents
    return first, last


def section_start(k: int, clip_frames: int, end_latents: int, temporal_ratio: int = 4) -> int:
    """Where section k (of more than k + 1) starts in the assembled video: section 0 keeps F - r M frames,
    the middle ones F - 1 - r M each."""
    if k == 0:
        return 0
    tail = temporal_ratio * end_latents
    return clip_frames - tail + (k - 1) * (clip_frames - 1 - tail)


class FramePack:
    """Sections last to first over the generator's loop: a round is one section of every video."""

    def prepare(self, gen, video) -> bool:
        n = required_clips(video, "framepack")
        if not video.clips:  # fresh: the last section first
            video.next_clip = n - 1
        if video.next_clip < 0:
            return False
        video.prompt = required_prompt(video, video.next_clip, "framepack")
        return True

    @torch.no_grad()
    def advance(self, gen, videos, neg_context, progress) -> int:
        cfg, bb = gen.cfg, gen.bb
        r, m = bb.temporal_ratio, cfg.motion_latents
        f_lat = gen.latent_shape[1]
        refs = torch.cat([v.reference for v in videos])  # [B, 3, H, W]
        y = torch.cat([section_condition(v.anchor, v.state.get("end"), f_lat) for v in videos])
        noise = torch.cat([gen.clip_noise(v.seed, v.next_clip) for v in videos]).to(gen.device)
        latent = sample_latents(
            bb.transformer,
            noise,
            y,
            bb.encode_text([v.prompt for v in videos]),
            neg_context,
            bb.encode_image(refs),  # the anchor's CLIP feature, every section
            cfg,
            progress,
        )  # [B, 16, F_lat, h, w]
        decoded = bb.decode_latents(latent)  # [B, 3, F, H, W]
        for b, v in enumerate(videos):
            k = v.next_clip
            first, last = section_cut(k, v.job.num_clips, cfg.num_frames, m, r)
            v.state["end"] = latent[b : b + 1, :, 1 : 1 + m].clone()  # where the section before ends
            v.next_clip = k - 1
            frames = to_uint8_frames(decoded[b])[first:last]
            gen._commit(v, k, frames, section_start(k, cfg.num_frames, m, r))
        return len(videos)
