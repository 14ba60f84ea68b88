"""The crosschecks' reference: one clip from diffusers' own `WanImageToVideoPipeline` on our backbone."""

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline


def diffusers_clip(bb, image, prompt, noise, cfg, pipeline=None, call=None) -> torch.Tensor:
    """The pipeline's latents [1, C, F_lat, h, w] of one clip from `noise`, with bb's components and
    cfg's (GenerateConfig) size, steps, shift and guidance; image [3, H, W] in [-1, 1], negative prompt
    "". pipeline / call: extra arguments of the pipeline's constructor (transformer_2, boundary_ratio,
    expand_timesteps) and of its call (guidance_scale_2)."""
    scheduler = FlowMatchEulerDiscreteScheduler(shift=cfg.shift)
    # DiffSynth's (and our) unshifted schedule runs linspace(1, 0, steps + 1)[:-1]: its last level is
    # 1 / steps, where diffusers' default stops at its shifted 1 / 1000.
    scheduler.sigma_min = 1.0 / cfg.steps
    pipe = WanImageToVideoPipeline(
        tokenizer=bb.tokenizer,
        text_encoder=bb.text_encoder,
        vae=bb.vae,
        scheduler=scheduler,
        transformer=bb.transformer,
        **(pipeline or {}),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe(
        image=(image + 1) / 2,
        prompt=prompt,
        negative_prompt="",
        height=cfg.height,
        width=cfg.width,
        num_frames=cfg.num_frames,
        num_inference_steps=cfg.steps,
        guidance_scale=cfg.guidance_scale,
        latents=noise,
        max_sequence_length=bb.max_text_tokens,
        output_type="latent",
        **(call or {}),
    ).frames
