"""Error-Recycling Fine-Tuning (ERFT): one training step's math (METHOD.md §3).

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

The pure formulas are module functions; `Recycler` holds the RNG and the memory and is what the
training loop calls: `prepare` -> model forward -> `loss` -> backward -> `bank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from svi import flow
from svi.config import ERFTConfig

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


def add_image_error(y: torch.Tensor, error: torch.Tensor, num_frames: int, start: int) -> torch.Tensor:
    """Add error[:, start:start+n] to the VAE channels of y's first n latent frames (n = num_frames).

    y: [C_y, F, h, w] (one sample; mask channels untouched); error: [C_lat, F, h, w]. Returns a new y.
    """
    n = min(num_frames, y.shape[1], error.shape[1] - start)
    out = y.clone()
    out[MASK_CHANNELS:, :n] += error[:, start : start + n].to(y)
    return out


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
    y: torch.Tensor  # [B, 20, F, h, w] conditioning (possibly corrupted)
    target: torch.Tensor  # [B, 16, F, h, w] error-recycled velocity V
    sigma: torch.Tensor  # [B] float32
    timestep: torch.Tensor  # [B] float32, t = 1000 sigma
    weight: torch.Tensor  # [B] Wan loss weight
    injected: list[Gates]  # per sample, the errors actually added (a gate with an empty bank adds nothing)
    gates: list[Gates]  # per sample, the gates as drawn (the banking rule reads their clean gate)

    def model_input(self) -> torch.Tensor:
        return torch.cat([self.x_t, self.y], dim=1)  # [B, 36, F, h, w]


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
    ):
        if cfg.mode == "erft" and memory is None:
            raise ValueError("ERFT needs a ReplayMemory (or use erft.mode=plain)")
        self.cfg = cfg
        self.memory = memory if cfg.mode == "erft" else None
        self.sigmas = flow.shifted_sigmas(num_train_timesteps, shift)  # [T] float64
        self.weights = flow.training_loss_weights(num_train_timesteps, shift)  # [T]
        self.num_train_timesteps = num_train_timesteps
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
        ids = torch.randint(0, self.num_train_timesteps, (b,), generator=g)
        sigma = self.sigmas[ids].float()
        eps = torch.randn(x0.shape, generator=g, dtype=torch.float32).to(x0)
        x0_in, eps_in, y_in = x0.clone(), eps.clone(), y.clone()
        injected, drawn = [], []
        for i in range(b):
            gates = draw_gates(self.cfg, g)
            drawn.append(gates)
            done = Gates()
            if self.memory is not None and gates.any:
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
                    if e is not None:
                        n = min(self.cfg.y_error_num, e.shape[1])
                        start = int(torch.randint(0, e.shape[1] - n + 1, (1,), generator=g))
                        y_in[i] = add_image_error(y_in[i], e, n, start)
                        done.img = True
            injected.append(done)
        return Prepared(
            x_t=flow.interpolate(x0_in, eps_in, sigma.to(x0)),
            y=y_in,
            target=recycled_target(eps_in, x0),
            sigma=sigma,
            timestep=flow.sigma_to_t(sigma, self.num_train_timesteps),
            weight=self.weights[ids].float(),
            injected=injected,
            gates=drawn,
        )

    def loss(self, v_pred: torch.Tensor, prep: Prepared) -> torch.Tensor:
        return weighted_mse(v_pred, prep.target, prep.weight)

    @torch.no_grad()
    def bank(self, v_pred: torch.Tensor, prep: Prepared, *, gather: bool = False) -> int:
        """Curate this step's errors and bank them. With gather=True every rank must call this, and with a
        node-scope memory (memory.scope=node) every rank of the node: banking is collective then.

        The official rule: a sample whose clean gate fired banks its errors only with probability
        `clean_buffer_update_prob`; every other sample banks them, also when its gates fired on empty
        banks or did not fire at all (nothing was injected). Returns the error pairs banked on this rank.
        """
        if self.memory is None:
            return 0
        noise_err, clean_err = curate_errors(
            v_pred.detach().float(), prep.target.float(), prep.sigma.to(v_pred.device)
        )
        banked = 0
        for i, gates in enumerate(prep.gates):
            r = float(torch.rand(1, generator=self.generator, dtype=torch.float64))
            keep = not gates.clean or r < self.cfg.clean_buffer_update_prob
            banked += self.memory.bank(
                float(prep.sigma[i]), noise_err[i], clean_err[i], keep=keep, gather=gather
            )
        return banked

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, sd: dict) -> None:
        self.generator.set_state(sd["generator"])
