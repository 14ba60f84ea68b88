"""History guidance (`generate.strategy=history_guidance`): chaining, guided over the history.

Paper: Song, Chen, Simchowitz, Du, Tedrake, Sitzmann, "History-Guided Video Diffusion" (2025), which
introduces the Diffusion Forcing Transformer (DFoT). Vanilla history guidance is classifier-free guidance
whose condition is the history (the frames generated before):

    v = v(x, no history) + w (v(x, history) - v(x, no history))

DFoT drops the history by noising its frames to the maximum level, which a model trained with an
independent noise level per frame (Diffusion Forcing) understands.

Here the history of clip k is what chaining carries from clip k - 1 (its last K frames, or its last M
latent frames), which Wan I2V sees in the conditioning y. The pass without history sees the clip as if
nothing came from clip k - 1 (`no_history_condition`):
- pixel chaining: the y of a clip with no known frame (nothing marked, every frame the padding:
  `svi.model.i2v_condition.free_condition`) and the reference image's CLIP feature (with clip_image=motion the
  feature of the first motion frame is history too);
- latent chaining: the carried latent frames zeroed and unmarked (zeros are what latent chaining puts in
  its unknown frames); the anchor, the reference image, stays.
Text CFG and history guidance are two guidance terms around the fully conditioned pass v_c (prompt and
history), v_t with the negative prompt and the history, v_h with the prompt and no history:

    v = v_c + (s - 1)(v_c - v_t) + (w - 1)(v_c - v_h)        s = guidance_scale, w = history_scale

so the pass weights are v_c: s + w - 1, v_t: 1 - s, v_h: 1 - w (they sum to 1). With w = 1 it is text
CFG, bit for bit `chain`; with s = 1 it is vanilla history guidance, v_h + w (v_c - v_h). Clip 0 has no
history (its condition is the reference image) and is sampled as chain samples it; in a batch where
other videos are at later clips its rows take their own y in the pass without history (the same
velocity up to float rounding).

Faithful: the guidance formula, one batched forward for all passes. Simplified: the history is dropped by
zeroing it in y rather than by noising it to the maximum level (Wan I2V takes the history through y,
beside the noisy latent, not as noisy frames); DFoT's fractional, compositional and stabilized variants
are left out. The base model (and SVI's LoRA) never saw a later clip without its condition in training,
so the pass without history is off their training distribution: history guidance is meant for a model
trained to drop its history (Diffusion Forcing with dropped history). On the base model it runs, and the
comparison reports what it does there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from svi.generation.generator import LongVideoGenerator


def history_weights(text_scale: float, history_scale: float) -> list[tuple[bool, bool, float]]:
    """(prompt, history, weight) of the passes of v = v_c + (s - 1)(v_c - v_t) + (w - 1)(v_c - v_h).

    v_c's weight is s + (w - 1) so that w = 1 gives exactly s, as text CFG's conditional pass."""
    s, w = text_scale, history_scale
    return [(True, True, s + (w - 1.0)), (False, True, 1.0 - s), (True, False, 1.0 - w)]


def drop_carried(y: torch.Tensor, carried: int) -> torch.Tensor:
    """Latent chaining's y [B, 20, F_lat, h, w] without the carried latent frames (slots 1 .. carried):
    their mask and latents zeroed; the anchor (slot 0) and the rest kept. A new tensor."""
    out = y.clone()
    out[:, :, 1 : 1 + carried] = 0
    return out


def no_history_condition(
    gen: LongVideoGenerator,
    references: torch.Tensor,
    chains: Sequence[torch.Tensor | None],
    y: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(y, CLIP feature) of the pass without history for B clips: references [B, 3, H, W], chains[b] the
    carried frames or latents of sample b (None: clip 0, no history: its own y), y [B, 20, F_lat, h, w]
    the clips' conditioning. -> ([B, 20, F_lat, h, w], [B, N, D] or None)."""
    from svi.model.i2v_condition import free_condition

    cfg = gen.cfg
    rows = [b for b, chain in enumerate(chains) if chain is not None]
    out = y.clone()
    if cfg.chaining == "pixel":
        out[rows] = free_condition(gen.bb, references[rows], cfg.num_frames, cfg.padding).to(y)
    else:
        out[rows] = drop_carried(y[rows], cfg.motion_latents)
    return out, gen.bb.encode_image(references)
