"""Error-Recycling Fine-Tuning (ERFT): one training step's math (docs/method.md §3).

A step, per sample:
1. draw sigma from the shifted 1000-step training schedule and the error gates
   (r_noi < p_noi, r_vid < p_vid, r_img < p_img; all off with probability p_clean);
2. inject errors from the replay memory: eps' = eps + E_noi (noise-end bank at slot(sigma)),
   x0' = x0 + E_vid (clean-end bank at slot(sigma)), and E_img (clean-end bank, any slot) added on a
   random window of `y_error_num` latent frames to the VAE channels of y's first frames;
3. x~_t = (1 - sigma) x0' + sigma eps'; the model predicts v^ from (x~_t, y~);
4. the target is error-recycled: V = eps' - x0 with the CLEAN x0; loss = w(t) MSE(v^, V);
5. curate the errors of this same forward pass, one-step integration, no extra forward:
   E_noi_new = (1 - sigma)(v^ - V), E_vid_new = sigma (V - v^), banked after the loss.
`mode=plain` is clean flow matching (no injection, no banking): the non-ERFT fine-tune baseline.
A TI2V model (Wan 2.2 TI2V 5B; `first_latent`, svi/model/ti2v_condition.py) has no y: its condition is
the clean image latent z0 [B, C, 1, h, w] that replaces latent 0 of x~_t at timestep 0, so the loss
covers latent frames 1.. only, E_img is one latent frame of a bank entry added to z0 (erft.first_latent_error),
E_vid and E_noi go on the noisy latents as above, and the banked errors' latent 0 is zero (the model's
output there is not trained, so it is no error of the model's).
With `forcing.kind=diffusion` (Diffusion Forcing, svi/training/forcing.py) sigma is drawn per latent frame and
every formula above holds frame by frame; the memory then holds frames, each slotted by its own level.

The pure formulas are module functions; `Recycler` holds the RNG and the memory and is what the
training loop calls: `prepare` -> model forward -> `loss` -> backward -> `bank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from svi import flow
from svi.config import ERFTConfig, ForcingConfig
from svi.model.ti2v_condition import add_first_latent_error, model_timesteps, replace_first_latent
from svi.training.forcing import (
    frame_sigma,
    frame_timesteps_to_tokens,
    frame_weighted_mse,
    interpolate_frames,
    tokens_per_frame,
)

MASK_CHANNELS = 4  # y = [mask (4), VAE latent (16)]


# -- pure formulas ---------------------------------------------------------------------------


def recycled_target(eps_injected: torch.Tensor, x0_clean: torch.Tensor) -> torch.Tensor:
    """V = eps' - x0: the velocity that leads from the corrupted input back to the clean clip."""
    return flow.velocity(x0_clean, eps_injected)


def curate_errors(
    v_pred: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bidirectional error curation from one prediction. Returns (E_noi_new, E_vid_new), shapes of v.

    Integrating one step to each end with v^ instead of V misses the end point by
    (1 - sigma)(v^ - V) at the noise end and sigma (V - v^) at the clean end.
    """
    s = flow.broadcast_sigma(sigma, v_pred)
    diff = v_pred - target
    return (1 - s) * diff, -s * diff


def weighted_mse(v_pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """mean_b( w_b * mean((v^_b - V_b)^2) ), in float32. v, V: [B, ...]; weight: [B]."""
    per_sample = (v_pred.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    return (weight.to(per_sample) * per_sample).mean()


def add_image_error(
    y: torch.Tensor, error: torch.Tensor, num_frames: int, start: int, at: int = 0
) -> torch.Tensor:
    """Add error[:, start:start+n] to the VAE channels of y's n latent frames from latent `at` (n =
    num_frames; at 0: the first ones, SVI 1.0; at 1: SVI 2.0 Pro's motion-latent slot).

    y: [C_y, F, h, w] (one sample; mask channels untouched); error: [C_lat, F, h, w]. Returns a new y.
    """
    n = min(num_frames, y.shape[1] - at, error.shape[1] - start)
    out = y.clone()
    out[MASK_CHANNELS:, at : at + n] += error[:, start : start + n].to(y)
    return out


def first_latent_error_frame(choice: str, frames: int, generator: torch.Generator) -> int:
    """The frame of a clean-end bank entry of `frames` latent frames whose error goes on a TI2V
    condition (erft.first_latent_error): window, a random one of 1..frames - 1 (one draw from
    `generator`); last, frames - 1 (no draw). Latent 0 of an entry is never taken: it is banked as zero."""
    if frames < 2:
        raise ValueError(f"a TI2V clip needs latent frames after its condition latent, got {frames}")
    if choice == "window":
        return int(torch.randint(1, frames, (1,), generator=generator))
    if choice == "last":
        return frames - 1
    raise ValueError(f"unknown first_latent_error {choice!r}; use window or last")


def image_error_start(slot: str, window: str) -> int:
    """The latent where E_img starts (erft.y_error_slot): 0 (first), 1 (motion: Pro's motion-latent
    slot); auto is motion under data.window=pro and first otherwise."""
    if slot == "auto":
        slot = "motion" if window == "pro" else "first"
    if slot not in ("first", "motion"):
        raise ValueError(f"unknown y_error_slot {slot!r}; use auto, first or motion")
    return 1 if slot == "motion" else 0


@dataclass
class Gates:
    noi: bool = False
    vid: bool = False
    img: bool = False
    clean: bool = False  # the clean gate fired (all three forced off): decides banking, not injection

    @property
    def any(self) -> bool:
        return self.noi or self.vid or self.img


def draw_gates(cfg: ERFTConfig, generator: torch.Generator) -> Gates:
    """One step's error gates. Four draws are always made so the RNG stream does not depend on p."""
    r = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    if cfg.mode == "plain":
        return Gates()
    if r[0] < cfg.p_clean:
        return Gates(clean=True)
    return Gates(noi=r[1] < cfg.p_noi, vid=r[2] < cfg.p_vid, img=r[3] < cfg.p_img)


# -- the stateful part ---------------------------------------------------------------------------


@dataclass
class Prepared:
    """Everything between `prepare` and `bank` for a batch of B samples."""

    x_t: torch.Tensor  # [B, 16, F, h, w] noisy (possibly corrupted) latent
    y: (
        torch.Tensor
    )  # [B, 20, F, h, w] conditioning (possibly corrupted); TI2V: the image latent [B, C, 1, h, w]
    target: torch.Tensor  # [B, 16, F, h, w] error-recycled velocity V
    sigma: torch.Tensor  # [B] float32; [B, F] per latent frame under Diffusion Forcing
    timestep: torch.Tensor  # like sigma, t = 1000 sigma
    weight: torch.Tensor  # like sigma, Wan loss weight
    injected: list[Gates]  # per sample, the errors actually added (a gate with an empty bank adds nothing)
    gates: list[Gates]  # per sample, the gates as drawn (the banking rule reads their clean gate)
    first_latent: bool = False  # TI2V: y replaces latent 0 of x_t, which is at timestep 0

    @property
    def per_frame(self) -> bool:
        return self.sigma.ndim == 2

    def model_input(self) -> torch.Tensor:
        if self.first_latent:
            return replace_first_latent(self.x_t, self.y)  # [B, C, F, h, w]
        return torch.cat([self.x_t, self.y], dim=1)  # [B, 36, F, h, w]

    def model_timestep(self, patch_size: Sequence[int]) -> torch.Tensor:
        """The transformer's timestep: [B], or per token [B, F h' w'] under Diffusion Forcing and for a
        TI2V model (0 on latent 0's tokens)."""
        if self.first_latent:
            return model_timesteps(self.timestep, self.x_t, patch_size)
        if not self.per_frame:
            return self.timestep
        return frame_timesteps_to_tokens(self.timestep, tokens_per_frame(patch_size, self.x_t.shape[-2:]))


def expert_ids(sigmas: torch.Tensor, expert: str, boundary: float) -> tuple[int, int]:
    """The [lo, hi) ids of a decreasing training schedule `sigmas` [T] that an expert of a two-expert
    model trains on: high, t = 1000 sigma >= boundary x 1000 (the ids from 0); low, the rest. The same
    rule as the sampler's switch (svi.generation.sampling.expert_for)."""
    high = int((flow.sigma_to_t(sigmas) >= boundary * flow.NUM_TRAIN_TIMESTEPS).sum())
    if expert == "high":
        return 0, high
    if expert == "low":
        return high, len(sigmas)
    raise ValueError(f"unknown expert {expert!r}; use high or low")


class Recycler:
    """Draws timesteps, noise and gates; injects, computes the loss target, banks curated errors."""

    def __init__(
        self,
        cfg: ERFTConfig,
        memory=None,
        *,
        num_train_timesteps: int = flow.NUM_TRAIN_TIMESTEPS,
        shift: float = flow.DEFAULT_SHIFT,
        seed: int = 0,
        forcing: ForcingConfig | None = None,
        expert: str | None = None,
        boundary: float = 0.875,
        image_error_at: int = 0,
        first_latent: bool = False,
    ):
        """expert: "high" or "low" draws only that expert's timesteps (`expert_ids` at `boundary`);
        image_error_at: the latent where E_img starts in y (`image_error_start`); first_latent: a TI2V
        model, y the image latent that replaces latent 0 (the module docstring says what changes)."""
        self.image_error_at = image_error_at
        self.first_latent = first_latent
        if cfg.mode == "erft" and memory is None:
            raise ValueError("ERFT needs a ReplayMemory (or use erft.mode=plain)")
        self.cfg = cfg
        self.memory = memory if cfg.mode == "erft" else None
        if first_latent and forcing is not None and forcing.kind != "none":
            raise ValueError(
                f"forcing.kind={forcing.kind} is not built for a TI2V model, whose latent 0 is its clean "
                "condition at level 0 (one image, the clip's frame 0): use forcing.kind=none"
            )
        # Diffusion Forcing: a level per latent frame (svi/training/forcing.py)
        self.per_frame = forcing is not None and forcing.kind == "diffusion"
        if self.per_frame and self.memory is not None and self.memory.entry_shape[1] != 1:
            raise ValueError(
                f"Diffusion Forcing with ERFT banks single latent frames, got a memory of {self.memory.entry_shape} "
                "entries: build it with the shape and section svi.training.forcing.memory_layout gives"
            )
        self.sigmas = flow.shifted_sigmas(num_train_timesteps, shift)  # [T] float64
        self.weights = flow.training_loss_weights(num_train_timesteps, shift)  # [T]
        self.num_train_timesteps = num_train_timesteps
        # the schedule's ids drawn from: all, or a two-expert model's expert's range (`expert_ids`)
        self.ids = (0, num_train_timesteps) if expert is None else expert_ids(self.sigmas, expert, boundary)
        self.generator = torch.Generator().manual_seed(seed)

    # All random draws come from self.generator on CPU, so a run is reproducible on any device
    # and restored exactly from a checkpoint.
    def prepare(
        self, x0: torch.Tensor, y: torch.Tensor, skip_image: Sequence[bool] | None = None
    ) -> Prepared:
        """x0: clean latents [B, 16, F, h, w]; y: clean conditioning [B, 20, F, h, w]. skip_image[b]:
        row b gets no E_img (SVI-Dance rows whose y was zeroed); its gates are drawn all the same."""
        b = x0.shape[0]
        g = self.generator
        # [B], or [B, F] under Diffusion Forcing: each latent frame's level drawn independently
        ids = torch.randint(*self.ids, (b, x0.shape[2]) if self.per_frame else (b,), generator=g)
        sigma = self.sigmas[ids].float()
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float32).to(x0)
        x0_in, eps_in, y_in = x0.clone(), eps.clone(), y.clone()
        injected, drawn = [], []
        for i in range(b):
            gates = draw_gates(self.cfg, g)
            drawn.append(gates)
            done = Gates()
            if self.memory is not None and gates.any and self.per_frame:
                done = self._inject_frames(i, gates, sigma[i], eps_in, x0_in, y_in, skip_image)
            elif self.memory is not None and gates.any:
                s = float(sigma[i])
                if (
                    gates.noi
                    and (e := self.memory.sample_noise(s, device=x0.device, dtype=x0.dtype)) is not None
                ):
                    eps_in[i] += e
                    done.noi = True
                if (
                    gates.vid
                    and (e := self.memory.sample_clean(s, device=x0.device, dtype=x0.dtype)) is not None
                ):
                    x0_in[i] += e
                    done.vid = True
                if gates.img and self.cfg.y_error_num > 0 and not (skip_image and skip_image[i]):
                    e = self.memory.sample_clean_any(device=x0.device, dtype=x0.dtype)
                    if e is not None and self.first_latent:  # one frame of the entry onto the image latent
                        frame = first_latent_error_frame(self.cfg.first_latent_error, e.shape[1], g)
                        y_in[i] = add_first_latent_error(y_in[i], e, frame)
                        done.img = True
                    elif e is not None:
                        n = min(self.cfg.y_error_num, e.shape[1])
                        start = int(torch.randint(0, e.shape[1] - n + 1, (1,), generator=g))
                        y_in[i] = add_image_error(y_in[i], e, n, start, self.image_error_at)
                        done.img = True
            injected.append(done)
        mix = interpolate_frames if self.per_frame else flow.interpolate
        return Prepared(
            x_t=mix(x0_in, eps_in, sigma.to(x0)),
            y=y_in,
            target=recycled_target(eps_in, x0),
            sigma=sigma,
            timestep=flow.sigma_to_t(sigma, self.num_train_timesteps),
            weight=self.weights[ids].float(),
            injected=injected,
            gates=drawn,
            first_latent=self.first_latent,
        )

    # Diffusion Forcing with ERFT. The banks are slotted by the level an error was made at, because
    # the errors' size and kind follow it (E_vid = sigma (V - v^), E_noi = (1 - sigma)(v^ - V)). Under
    # Diffusion Forcing one clip's error holds F errors made at F different levels, so each latent frame
    # is banked on its own, in the slot of its own sigma, and each frame of a new clip gets frames from
    # the slot of its own sigma. The alternative, whole clips in the slot of the clip's mean sigma,
    # mislabels every frame and fills only the middle slots: the mean of F independent levels has 1/sqrt(F)
    # of their spread (at F = 21, 99% of clips land in 18 of the 50 slots; those near either end, where
    # inference spends its first and last steps, never fill).
    def _inject_frames(
        self,
        i: int,
        gates: Gates,
        sigma: torch.Tensor,
        eps_in: torch.Tensor,
        x0_in: torch.Tensor,
        y_in: torch.Tensor,
        skip_image: Sequence[bool] | None,
    ) -> Gates:
        """Sample i's injection, frame by frame (sigma: [F]; eps_in, x0_in: [B, 16, F, h, w]; y_in:
        [B, 20, F, h, w], changed in place). E_img: `y_error_num` frames from any slot, one per y frame."""
        mem, done = self.memory, Gates()
        kw = {"device": eps_in.device, "dtype": eps_in.dtype}
        for f, s in enumerate(sigma.tolist()):
            if gates.noi and (e := mem.sample_noise(s, **kw)) is not None:  # [16, 1, h, w]
                eps_in[i, :, f] += e[:, 0]
                done.noi = True
            if gates.vid and (e := mem.sample_clean(s, **kw)) is not None:
                x0_in[i, :, f] += e[:, 0]
                done.vid = True
        if gates.img and not (skip_image and skip_image[i]):
            for f in range(min(self.cfg.y_error_num, y_in.shape[2])):
                if (e := mem.sample_clean_any(**kw)) is not None:
                    y_in[i, MASK_CHANNELS:, f] += e[:, 0].to(y_in)
                    done.img = True
        return done

    def loss(self, v_pred: torch.Tensor, prep: Prepared) -> torch.Tensor:
        if prep.first_latent:  # latent 0 is the condition, not generated: latent frames 1.. only
            return weighted_mse(v_pred[:, :, 1:], prep.target[:, :, 1:], prep.weight)
        if prep.per_frame:
            return frame_weighted_mse(v_pred, prep.target, prep.weight)
        return weighted_mse(v_pred, prep.target, prep.weight)

    @torch.no_grad()
    def bank(self, v_pred: torch.Tensor, prep: Prepared, *, gather: bool = False) -> int:
        """Curate this step's errors and bank them. With gather=True every rank must call this, and with a
        node-scope memory (memory.scope=node) every rank of the node: banking is collective then.

        The official rule: a sample whose clean gate fired banks its errors only with probability
        `clean_buffer_update_prob`; every other sample banks them, also when its gates fired on empty
        banks or did not fire at all (nothing was injected). With gather (the warmup) that decision of
        sample i is this rank's for the i-th samples of all ranks under memory.warmup_clean_flag=own
        (official, where a rank has one sample a step: its decision holds for every gathered error),
        or each gathered error's own under per_sample (svi.training.memory.warmup_banked). Returns the error
        pairs banked on this rank.
        """
        if self.memory is None:
            return 0
        v = v_pred.detach().float()
        sigma = prep.sigma.to(v.device)
        noise_err, clean_err = curate_errors(
            v, prep.target.float(), frame_sigma(sigma, v) if prep.per_frame else sigma
        )  # [B, 16, F, h, w] each
        if prep.first_latent:  # the untrained output on the condition latent is no error of the model's
            noise_err[:, :, 0] = 0
            clean_err[:, :, 0] = 0
        banked = 0
        for i, gates in enumerate(prep.gates):
            r = float(torch.rand(1, generator=self.generator, dtype=torch.float64))
            keep = not gates.clean or r < self.cfg.clean_buffer_update_prob
            if not prep.per_frame:
                banked += self.memory.bank(
                    float(prep.sigma[i]), noise_err[i], clean_err[i], keep=keep, gather=gather
                )
                continue
            # Diffusion Forcing: each frame in the slot of its own level (see _inject_frames)
            for f, s in enumerate(prep.sigma[i].tolist()):
                banked += self.memory.bank(
                    s, noise_err[i, :, f : f + 1], clean_err[i, :, f : f + 1], keep=keep, gather=gather
                )
        return banked

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, sd: dict) -> None:
        self.generator.set_state(sd["generator"])
