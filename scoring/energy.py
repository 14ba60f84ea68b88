"""The energy score: a sampler's draws of one sample scored against its one true future.

A generative model draws one future among many, so the distance from one draw to the true future
rewards the forecast that does not commit (a held frame, a blur). The energy score (Gneiting and
Raftery 2007) pays for a plausible spread as well:

    ES = E d(X, y) - 1/2 E d(X, X'),      X, X' independent draws, y the truth.

Its fair estimate from K draws x_1..x_K (unbiased for any K >= 2):

    accuracy = mean_k d(x_k, y)
    spread   = 1 / (2 K (K - 1)) * sum over k != l of d(x_k, x_l)
    score    = accuracy - spread                                      (lower is better)

It is proper: in expectation no forecast beats the true distribution of futures, so no trivial video
beats a perfect sampler. With d the mean absolute difference per pixel it is the CRPS averaged over
pixels. A deterministic video (a held frame, a loop) has no spread: its score is its distance.
These are pure functions; the metrics that read videos build on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class EnergyScore:
    """One sample's energy score over its draws, with both of its terms."""

    score: float  # accuracy - spread; lower is better
    accuracy: float  # mean distance of a draw from the truth
    spread: float  # half the mean distance between two different draws
    draws: int  # K


def energy_score(to_truth, between=None) -> EnergyScore:
    """The fair energy score from distances already measured.

    to_truth: [K] d(x_k, y). between: [K, K] d(x_k, x_l), symmetric (only k < l is read), or None for a
    deterministic forecast (one video, no spread). K >= 2 draws are needed for a spread: one draw of a
    sampler says nothing about its spread, so it is refused rather than scored as if deterministic."""
    accuracy_terms = np.asarray(to_truth, dtype=np.float64).reshape(-1)  # [K]
    k = accuracy_terms.size
    if k == 0:
        raise ValueError("energy_score: no draws")
    accuracy = float(accuracy_terms.mean())
    if between is None:
        return EnergyScore(accuracy, accuracy, 0.0, k)
    if k < 2:
        raise ValueError(
            "energy_score: a sampler's spread needs at least 2 draws of the sample (declare draws: 2 or "
            "more); a deterministic video is scored with between=None"
        )
    pairs = np.asarray(between, dtype=np.float64)
    if pairs.shape != (k, k):
        raise ValueError(f"energy_score: between is {pairs.shape}, expected ({k}, {k})")
    upper = pairs[np.triu_indices(k, 1)]  # [K (K - 1) / 2]: each unordered pair once
    spread = float(upper.sum() / (k * (k - 1)))  # = 1 / (2K(K-1)) * sum over ordered pairs k != l
    return EnergyScore(accuracy - spread, accuracy, spread, k)


def mean_abs_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """d(a, b): the mean absolute difference per pixel of two videos of the same shape, in float64."""
    if a.shape != b.shape:
        raise ValueError(f"videos of different shapes: {tuple(a.shape)} and {tuple(b.shape)}")
    return float((a.double() - b.double()).abs().mean())


def pixel_energy_score(draws: torch.Tensor, truth: torch.Tensor, deterministic: bool = False) -> EnergyScore:
    """The energy score in pixels: draws [K, F, H, W, C] (or [K, ...] of any shape) in [0, 1] against
    truth [F, H, W, C], d the mean absolute difference per pixel. `deterministic`: the K videos are
    copies of one deterministic forecast (K = 1 allowed; the spread is 0 by definition)."""
    k = draws.shape[0]  # K
    to_truth = [mean_abs_distance(draws[i], truth) for i in range(k)]
    if deterministic:
        return energy_score(to_truth)
    between = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            between[i, j] = between[j, i] = mean_abs_distance(draws[i], draws[j])
    return energy_score(to_truth, between)
