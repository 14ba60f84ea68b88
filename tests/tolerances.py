"""Tolerances for floats computed along two paths (chunked and whole, batched and single, two thread
counts, two CPUs' kernels), derived from the arithmetic instead of guessed.

Two paths that add the same float32 terms in another order (another chunking, another vector width,
another thread split) round differently. Recursive summation of n terms is within (n - 1) u sum|x| of
the exact sum, u = eps / 2 the unit roundoff (Higham, Accuracy and Stability of Numerical Algorithms,
section 4.2); any pairwise or blocked order is within that bound too. Two orders are therefore within
twice it of each other. Where a test wants bit-identity it must instead name why both paths perform
the same operations in the same order (the testing guide lists those tests).
"""

from __future__ import annotations

import torch

U32 = torch.finfo(torch.float32).eps / 2  # unit roundoff of float32, 2 ** -24


def float32_sum(n_terms: int, magnitude: float = 1.0) -> float:
    """Largest difference between two summation orders of `n_terms` float32 terms of |x| <= magnitude."""
    return 2 * max(n_terms - 1, 1) * U32 * n_terms * magnitude


def float32_mean(n_terms: int, magnitude: float = 1.0) -> float:
    """The same for their mean (the division by n is exact up to one more rounding in each path)."""
    return float32_sum(n_terms, magnitude) / n_terms + 2 * U32 * magnitude


def float32_cosine(feature_terms: int, dim: int) -> float:
    """Two paths' cosine of two features, each feature a float32 mean of `feature_terms` values
    (another order in each path), in `dim` dimensions: each feature moves by at most its mean's relative
    error d, which moves the cosine of the normalised pair by at most 2 d (first order, both sides), and
    the dot product and norms add dim + 2 roundings in each path."""
    d = float32_mean(feature_terms)
    return 2 * 2 * d + 2 * (dim + 2) * U32
