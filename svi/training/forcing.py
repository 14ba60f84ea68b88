"""Training mechanisms beside ERFT (docs/method.md §10): Diffusion Forcing and clip-level Self-Forcing.

Diffusion Forcing (Chen et al. 2024, "Diffusion Forcing: Next-token Prediction Meets Full-Sequence
Diffusion"): every latent frame f of a training clip gets its own noise level, drawn independently
from the same shifted 1000-step schedule ERFT draws one level per clip from. In this project's
convention (svi/flow.py, sigma = 1 is noise):
    x_t[f] = (1 - sigma_f) x0[f] + sigma_f eps[f]        target v = eps - x0 (unchanged)
    loss   = mean_b mean_f  w(t_bf) mean_{c,h,w} (v^ - v)^2[b, :, f]      w: Wan's weighting
The transformer gets the level of each token: diffusers' WanTransformer3DModel takes a timestep
[B, seq_len] (seq_len = F' h' w' tokens after patching, frame-major). With every sigma_f equal these
are exactly the inputs and loss of the one-level path (tests/svi/test_forcing.py).
I2V conditioning: the condition latent frame(s) stay clean in y, with the mask, as in every Wan I2V
step; in x_t frame 0 draws its own level like any other frame (the one-level path noises it too and
the generator denoises it), so nothing about y changes.
With ERFT (erft.mode=erft) the replay memory holds one latent frame per entry, slotted by that
frame's own level (`memory_layout`; svi/training/erft.py Recycler explains why not the clip's mean level).

Self-Forcing (Huang et al. 2025, "Self Forcing: Bridging the Train-Test Gap in Autoregressive Video
Diffusion"), at clip level: the K condition frames of a training clip are not its true first frames
but the last K decoded frames of the model's own rollout of the clip before it in the same source
video (no grad; `rollout_steps` Euler steps from noise, conditioned on that previous clip's true
first K frames, padded with a frame of that clip's own window as training pads any clip; decoded and
re-encoded with the VAE exactly as pixel chaining does at inference).
The target stays the true clip. A clip with no clip before it in its video keeps its clean condition;
the training loop counts those (`train/self_forcing_fallback`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from svi import flow
from svi.config import DataConfig, ForcingConfig, MemoryConfig
from svi.model.i2v_condition import build_condition

# -- Diffusion Forcing: pure formulas --------------------------------------------------------------


def frame_sigma(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-frame levels [B, F] -> [B, 1, F, 1, 1], broadcasting over latents [B, C, F, h, w]."""
    if sigma.ndim != 2 or like.ndim != 5 or sigma.shape != (like.shape[0], like.shape[2]):
        raise ValueError(f"per-frame sigma {tuple(sigma.shape)} does not fit latents {tuple(like.shape)}")
    return sigma.to(like.dtype)[:, None, :, None, None]


def interpolate_frames(x0: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t[:, :, f] = (1 - sigma_f) x0[:, :, f] + sigma_f eps[:, :, f]. x0, eps: [B, C, F, h, w];
    sigma: [B, F]."""
    return flow.interpolate(x0, eps, frame_sigma(sigma, x0))


def frame_weighted_mse(v_pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean_b mean_f( w_bf * mean_{c,h,w}((v^ - V)^2) ), in float32. v, V: [B, C, F, h, w]; weight: [B, F]."""
    per_frame = (v_pred.float() - target.float()).pow(2).mean(dim=(1, 3, 4))  # [B, F]
    return (weight.to(per_frame) * per_frame).mean()


def tokens_per_frame(patch_size: Sequence[int], latent_hw: Sequence[int]) -> int:
    """Transformer tokens of one latent frame: (h / p_h) (w / p_w). Wan patches time by 1, so each
    token belongs to exactly one latent frame (a temporal patch > 1 would mix levels in a token)."""
    p_t, p_h, p_w = patch_size
    if p_t != 1:
        raise ValueError(f"per-frame noise levels need a temporal patch size of 1, got {p_t}")
    h, w = latent_hw
    return (h // p_h) * (w // p_w)


def frame_timesteps_to_tokens(timestep: torch.Tensor, per_frame: int) -> torch.Tensor:
    """[B, F] per-frame timesteps -> [B, F * per_frame] per-token ones, in the transformer's
    frame-major token order (patch embedding [B, D, F', h', w'] flattened over F', h', w')."""
    return timestep.repeat_interleave(per_frame, dim=1)


def memory_layout(
    forcing: ForcingConfig, memory: MemoryConfig, latent_shape: Sequence[int]
) -> tuple[tuple[int, ...], MemoryConfig]:
    """The replay memory's entry shape and section for a run: clips [C, F, h, w] with `memory` as
    given, or under Diffusion Forcing one latent frame [C, 1, h, w] per entry with `capacity` times F
    entries per slot, so that the banks hold as many bytes as with clip entries."""
    c, f, h, w = latent_shape
    if forcing.kind != "diffusion":
        return (c, f, h, w), memory
    return (c, 1, h, w), memory.model_copy(update={"capacity": memory.capacity * f})


# -- Self-Forcing ----------------------------------------------------------------------------------


def rollout_sigmas(steps: int, shift: float) -> torch.Tensor:
    """The rollout's levels: the shifted `steps`-step schedule from 1 down, then 0. float64 [steps + 1]."""
    return torch.cat([flow.shifted_sigmas(steps, shift), torch.zeros(1, dtype=torch.float64)])


def euler_rollout(
    velocity: Callable[[torch.Tensor, float], torch.Tensor], x: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    """Integrate dx/dsigma = velocity(x, sigma) from sigmas[0] (noise, x) to sigmas[-1] (clean) with
    Euler steps. x: [B, C, F, h, w]; sigmas: descending [S + 1]. Returns x at sigmas[-1]."""
    for s, s_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        x = flow.euler_step(x, velocity(x, s), s, s_next)
    return x


class SelfForcing:
    """Builds the condition frames of a training batch from the model's rollout of the previous clips."""

    def __init__(
        self,
        cfg: ForcingConfig,
        data: DataConfig,
        *,
        shift: float = flow.DEFAULT_SHIFT,
        num_train_timesteps: int = flow.NUM_TRAIN_TIMESTEPS,
    ):
        if cfg.kind != "self":
            raise ValueError(f"SelfForcing needs forcing.kind=self, got {cfg.kind!r}")
        self.data = data
        self.sigmas = rollout_sigmas(cfg.rollout_steps, shift)  # [S + 1] float64
        self.num_train_timesteps = num_train_timesteps

    @torch.no_grad()
    def condition_frames(
        self,
        model: torch.nn.Module,
        backbone,
        batch: dict,
        generator: torch.Generator,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, list[bool]]:
        """-> (condition frames [B, 3, K, H, W] on `device`, in [-1, 1]; per row whether it fell back to
        its own clean first K frames because its video has no clip before it).

        batch: svi.training.data.collate's dict of a dataset built with previous_frames=K ("previous"
        [B, 3, K, H, W]: the previous clip's true first K frames, "previous_reference" [B, 3, H, W]: the
        padding image drawn from the previous clip's window, "has_previous" [B]). model: the
        transformer being trained (unwrapped), run in eval mode for the rollout. The rollout's noise
        comes from `generator` (the recycler's, checkpointed), so a resumed run rolls out the same."""
        if "previous" not in batch or "previous_reference" not in batch:
            raise ValueError(
                "forcing.kind=self needs the clip before each training clip: build the dataset with "
                "svi.training.data.training_clips (it passes previous_frames=data.cond_frames)"
            )
        k = self.data.cond_frames
        video = batch["video"].to(device)  # [B, 3, F, H, W]
        cond = video[:, :, :k].clone()  # [B, 3, K, H, W]
        has = [bool(h) for h in batch["has_previous"].tolist()]
        rows = [i for i, h in enumerate(has) if h]
        if not rows:
            return cond, [True] * len(has)
        prev = batch["previous"][rows].to(device)  # [n, 3, K, H, W]
        # The previous clip's own padding image, from its own window: batch["reference"] is drawn from
        # the training clip's window, whose frames are the ones the rollout is to reach.
        reference = batch["previous_reference"][rows].to(device)  # [n, 3, H, W]
        # The previous clip's own conditioning, as generation builds clip k-1's: its first K frames
        # padded to a whole clip, the mask, its prompt (the same video's) and the CLIP feature of its
        # first frame.
        y = build_condition(backbone, prev, video.shape[2], self.data.padding, reference, self.data.mask)
        context = backbone.encode_text([batch["prompt"][i] for i in rows]).to(dtype)
        image = backbone.encode_image(prev[:, :, 0])
        image = None if image is None else image.to(dtype)
        noise = torch.randn(
            (len(rows), backbone.latent_channels, *y.shape[2:]), generator=generator, dtype=torch.float32
        ).to(device)  # [n, 16, F_lat, h, w]
        y = y.to(dtype)

        def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
            t = torch.full((x.shape[0],), flow.sigma_to_t(sigma, self.num_train_timesteps), device=device)
            v = model(torch.cat([x.to(dtype), y], dim=1), t, context, image, return_dict=False)[0]
            return v.float()

        was_training = model.training
        model.eval()
        try:
            x0 = euler_rollout(velocity, noise, self.sigmas)  # [n, 16, F_lat, h, w]
        finally:
            model.train(was_training)
        # Wan's VAE is causal in time: the last frames depend on the whole clip, so decode all of it and
        # keep the last K, as pixel chaining does.
        cond[rows] = backbone.decode_latents(x0)[:, :, -k:].to(cond)
        return cond, [not h for h in has]
