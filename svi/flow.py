"""Flow-matching math in the one convention of this project.

sigma in [0, 1], sigma = 1 is pure noise:
    x_t = (1 - sigma) * x0 + sigma * eps        velocity v = eps - x0
Timesteps are t = num_train_timesteps * sigma (1000 for Wan). Schedules are "shifted" as in Wan /
SD3: sigma' = shift * s / (1 + (shift - 1) * s), which spends more steps at high noise.

Everything here is a pure function of its inputs; tests/svi/test_flow.py holds the known answers.
"""

from __future__ import annotations

import torch

NUM_TRAIN_TIMESTEPS = 1000
DEFAULT_SHIFT = 5.0


def shift_sigma(sigma: torch.Tensor | float, shift: float) -> torch.Tensor | float:
    """Wan's time shift: maps [0, 1] onto [0, 1], fixing both ends, pushing mass towards 1."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def shifted_sigmas(num_steps: int, shift: float = DEFAULT_SHIFT) -> torch.Tensor:
    """The `num_steps` sigmas of a shifted schedule, from 1 (noise) down, excluding the final 0.

    Unshifted sigmas are linspace(1, 0, num_steps + 1)[:-1], as in Wan / DiffSynth. With
    num_steps = 1000 this is the training schedule; with num_steps = 50 the inference schedule.
    Returns float64 [num_steps], strictly decreasing.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    base = torch.linspace(1.0, 0.0, num_steps + 1, dtype=torch.float64)[:-1]
    return shift_sigma(base, shift)


def sigma_to_t(sigma: torch.Tensor | float, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS):
    return sigma * num_train_timesteps


def t_to_sigma(t: torch.Tensor | float, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS):
    return t / num_train_timesteps


def broadcast_sigma(sigma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor | float:
    """Reshape a per-sample sigma [B] to broadcast over [B, ...]."""
    if isinstance(sigma, torch.Tensor) and sigma.ndim == 1:
        return sigma.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))
    return sigma


def interpolate(x0: torch.Tensor, eps: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """x_t = (1 - sigma) x0 + sigma eps. sigma: scalar or [B]; x0, eps: [B, ...]."""
    s = broadcast_sigma(sigma, x0)
    return (1 - s) * x0 + s * eps


def velocity(x0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Flow-matching target v = eps - x0 (d x_t / d sigma)."""
    return eps - x0


def predict_x0(x_t: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """One-step integration to the clean end: x0 = x_t - sigma v."""
    return x_t - broadcast_sigma(sigma, x_t) * v


def predict_eps(x_t: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """One-step integration to the noise end: eps = x_t + (1 - sigma) v."""
    return x_t + (1 - broadcast_sigma(sigma, x_t)) * v


def euler_step(
    x: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor | float, sigma_next: torch.Tensor | float
) -> torch.Tensor:
    """x(sigma_next) = x(sigma) + (sigma_next - sigma) v."""
    return x + (broadcast_sigma(sigma_next, x) - broadcast_sigma(sigma, x)) * v


def training_loss_weights(num_steps: int = NUM_TRAIN_TIMESTEPS, shift: float = DEFAULT_SHIFT) -> torch.Tensor:
    """Wan's per-timestep loss weights over the training schedule, float64 [num_steps].

    w = exp(-2 ((t - N/2) / N)^2) at the schedule's timesteps t = N sigma, then shifted so the
    minimum is 0 and rescaled so the mean is 1 (DiffSynth's "bsmntw" weighting).
    """
    t = sigma_to_t(shifted_sigmas(num_steps, shift), num_steps)
    w = torch.exp(-2 * ((t - num_steps / 2) / num_steps) ** 2)
    w = w - w.min()
    return w * (num_steps / w.sum())


def nearest_index(sigma: torch.Tensor | float, grid: torch.Tensor) -> torch.Tensor:
    """Index of the grid sigma closest to each sigma (ties go to the lower index)."""
    s = torch.as_tensor(sigma, dtype=grid.dtype)
    return (s.reshape(-1, 1) - grid.reshape(1, -1)).abs().argmin(dim=1).reshape(s.shape)
