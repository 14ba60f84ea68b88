"""The statistics of the reports: intervals, paired bootstrap differences, Holm, noise floors.

Pure functions on numbers (numpy, scipy, pandas; no MLflow), each with a known-answer test in
`tests/reports/test_stats.py`. The unit of replication is the *sample* (a prompt or a scene of a
benchmark suite): a report generalises over samples, so every interval resamples samples, and the
seeds an arm ran on a sample are nested inside it (averaged per sample, or resampled within it).

    mean_ci          Student-t interval of a mean                       -> Interval
    paired_bootstrap arm b minus reference arm a, cluster bootstrap     -> Difference
    holm             Holm-Bonferroni adjusted p-values of one family of tests
    seed_spread      std over seeds of the per-seed means (an arm's noise floor)
    curve_band       a t-interval per point of a set of curves (drift plots)

Values keep the units they come in (the logged scale); callers scale for display.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95  # every interval of the reports
ALPHA = 1.0 - LEVEL  # significance threshold on Holm-adjusted p-values
RESAMPLES = 10_000
MAX_DRAWS = 4_000_000  # values drawn per chunk of resamples: bounds memory (~32 MB) for large suites


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval; low / high are NaN when n < 2."""

    mean: float
    low: float
    high: float
    n: int  # values the mean is over


@dataclass(frozen=True)
class Difference:
    """b - a (the arm minus the reference arm), mean over samples, with its bootstrap interval."""

    mean: float
    low: float
    high: float
    p: float  # two-sided bootstrap p-value (see paired_bootstrap)
    n_samples: int  # samples both arms have
    n_seeds: int  # most seeds of one sample in either arm
    paired_seeds: bool  # True: seed-paired differences; False: per-sample seed means compared


# -- t-intervals -----------------------------------------------------------------------------------


def _t_bounds(mean: np.ndarray, sd: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """mean -/+ t_{(1+level)/2, n-1} * sd / sqrt(n); NaN where n < 2."""
    n = np.asarray(n, dtype=float)
    df = np.where(n >= 2, n - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + level / 2, df) * sd / np.sqrt(n)
    return mean - half, mean + half


def _nan_moments(values: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, sample sd, count) along `axis`, ignoring NaN; NaN where a slice has too few values."""
    n = np.sum(~np.isnan(values), axis=axis)
    with warnings.catch_warnings():  # all-NaN slices and n = 1 give NaN, which is what we want
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=axis)
        sd = np.nanstd(values, axis=axis, ddof=1)
    return mean, sd, n


def mean_ci(values, level: float = LEVEL) -> Interval:
    """The mean of `values` (NaN ignored) with its Student-t interval; NaN bounds for n < 2.

    values: 1-D, e.g. per-sample scores of one arm (seeds already averaged per sample).
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    mean, sd, n = _nan_moments(x[:, None], axis=0)
    low, high = _t_bounds(mean, sd, n, level)
    return Interval(float(mean[0]), float(low[0]), float(high[0]), int(n[0]))


def curve_band(curves, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: the mean over curves and its t-interval -> (mean, low, high), each [n_points].

    curves: [n_curves, n_points], NaN where a curve has no value at that point (a shorter video);
    each point uses the curves that have a value there. Bounds are NaN where fewer than 2 do.
    """
    x = np.asarray(curves, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"curves must be 2-D [n_curves, n_points], got shape {x.shape}")
    mean, sd, n = _nan_moments(x, axis=0)
    low, high = _t_bounds(mean, sd, n, level)
    return mean, low, high


def seed_spread(values) -> float:
    """An arm's noise floor: the std (ddof 1) over seeds of each seed's mean over samples.

    values: [samples, seeds] (NaN for a missing score). It says how far the arm's headline number
    moves when only the seed changes; NaN with fewer than 2 seeds.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"values must be 2-D [samples, seeds], got shape {x.shape}")
    per_seed, _, _ = _nan_moments(x, axis=0)  # [seeds]
    per_seed = per_seed[~np.isnan(per_seed)]
    return float(np.std(per_seed, ddof=1)) if per_seed.size >= 2 else float("nan")


# -- multiple comparisons --------------------------------------------------------------------------


def holm(pvalues) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    The i-th smallest of m p-values becomes max over j <= i of (m - j + 1) * p_(j), capped at 1, so
    the adjusted values keep the order of the raw ones. NaN entries (no test) are left NaN and do
    not count in m. Reject at level alpha where adjusted p < alpha (family-wise error <= alpha).
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]  # (m - j + 1) p_(j), j from 1
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


# -- paired cluster bootstrap ----------------------------------------------------------------------


def _matrices(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Two arms as [samples, seeds] arrays over the samples both have (rows aligned).

    Series indexed by (sample, seed) are aligned by labels: the rows are the samples both arms scored,
    the columns the union of seed labels (NaN where an arm lacks that seed). Arrays must already have
    their rows aligned.
    """
    if isinstance(a, pd.Series) or isinstance(b, pd.Series):
        if not (isinstance(a, pd.Series) and isinstance(b, pd.Series)):
            raise TypeError("give both arms as pandas Series indexed by (sample, seed), or both as arrays")
        wa, wb = a.dropna().unstack(), b.dropna().unstack()
        samples = wa.index.intersection(wb.index).sort_values()
        seeds = wa.columns.union(wb.columns).sort_values()
        A = wa.reindex(index=samples, columns=seeds).to_numpy(dtype=float)
        B = wb.reindex(index=samples, columns=seeds).to_numpy(dtype=float)
    else:
        A, B = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
            raise ValueError(
                f"arrays must be [samples, seeds] with the same samples (rows), got {A.shape} and {B.shape}"
            )
        keep = ~np.isnan(A).all(axis=1) & ~np.isnan(B).all(axis=1)
        A, B = A[keep], B[keep]
    return A, B


def _pack(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[S, K] with NaN -> (values moved left within each row, number of values per row [S])."""
    missing = np.isnan(m)
    order = np.argsort(missing, axis=1, kind="stable")
    return np.take_along_axis(m, order, axis=1), (~missing).sum(axis=1)


def _nested_means(packed: np.ndarray, counts: np.ndarray, rows: np.ndarray, rng) -> np.ndarray:
    """For drawn samples `rows` [R, S]: each one's mean over its seeds resampled with replacement."""
    if packed.shape[1] == 1 or (counts == 1).all():  # one seed per sample: nothing to resample
        return packed[rows, 0]
    c = counts[rows]  # [R, S]
    k = packed.shape[1]
    picks = (rng.random((*rows.shape, k)) * c[..., None]).astype(np.int64)  # [R, S, K] in [0, c)
    values = packed[rows[..., None], picks]  # [R, S, K]
    used = np.arange(k) < c[..., None]  # the first c draws make the resampled seed set
    return np.where(used, values, 0.0).sum(axis=-1) / c


def paired_bootstrap(a, b, *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0) -> Difference:
    """b - a, the mean over samples of the difference between two arms, with a cluster bootstrap CI.

    a, b: the reference arm and the other arm, per (sample, seed): pandas Series indexed by
    (sample, seed), or [samples, seeds] arrays whose rows are the same samples (NaN = missing).
    Samples only one arm has are left out.

    Each resample draws the samples with replacement (the unit a report generalises over) and,
    within each drawn sample, its seeds with replacement (nested). When both arms ran the same seeds
    on every sample (same seed labels), the seeds are paired: the per-seed differences are resampled
    jointly. Otherwise each arm's seeds are resampled on their own and per-sample seed means are
    compared. The statistic is mean over samples of (mean over seeds of b - mean over seeds of a).

    Interval: percentile, the (1-level)/2 and (1+level)/2 quantiles of the resampled statistic.
    p: two-sided bootstrap p-value for "no difference",
        p = min(1, 2 * min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (resamples + 1)),
    the share of resampled differences on the far side of zero, counted with the observed one, so it
    is never 0 (smallest 2 / (resamples + 1)). Identical arms give p = 1.
    Deterministic for a given `seed`.
    """
    A, B = _matrices(a, b)
    n_samples = A.shape[0]
    if n_samples == 0:
        raise ValueError("the two arms have no sample in common: nothing to compare")
    paired = A.shape == B.shape and bool((np.isnan(A) == np.isnan(B)).all())
    mean_a, _, count_a = _nan_moments(A, axis=1)
    mean_b, _, count_b = _nan_moments(B, axis=1)
    observed = float(np.mean(mean_b - mean_a))
    n_seeds = int(max(count_a.max(), count_b.max()))

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n_samples, size=(resamples, n_samples))  # [R, S] drawn samples
    width = max(A.shape[1], B.shape[1])
    chunk = max(1, MAX_DRAWS // (n_samples * width))
    if paired:
        packed, counts = _pack(B - A)
        parts = [_nested_means(packed, counts, rows[i : i + chunk], rng) for i in range(0, resamples, chunk)]
    else:
        pa, ca = _pack(A)
        pb, cb = _pack(B)
        parts = [
            _nested_means(pb, cb, rows[i : i + chunk], rng) - _nested_means(pa, ca, rows[i : i + chunk], rng)
            for i in range(0, resamples, chunk)
        ]
    boot = np.concatenate(parts).mean(axis=1)  # [R]
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    below, above = int(np.sum(boot <= 0)), int(np.sum(boot >= 0))
    p = min(1.0, 2 * (min(below, above) + 1) / (resamples + 1))
    return Difference(observed, float(low), float(high), p, n_samples, n_seeds, paired)
