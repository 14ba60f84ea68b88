"""The statistics of the reports: intervals for the harness's crossed design, Holm, power.

Pure functions on numbers (numpy, scipy, pandas; no MLflow), each with a known-answer test in
`tests/reports/test_stats.py` and a calibration test by simulation in `tests/reports/test_calibration.py`.

The design. `harness run` trains one model per (arm, seed) and generates every sample with it, with
the seed's noise streams: samples and seeds are *crossed* random factors (seed 1 is the same trained
model on sample 3 and on sample 5), each cell holds one video. A score is modelled as

    y[i, j] = mu + s[i] + t[j] + e[i, j]     i: sample (I of them), j: seed (J)

with s the sample effect (scene difficulty), t the seed effect (training run and noise stream) and e
the rest. The mean over the I x J cells has variance

    V = sigma_s^2 / I + sigma_t^2 / J + sigma_e^2 / (I J).

Two arms compared on the same samples and the same seed labels are paired: the model holds for the
cell differences d[i, j] = b[i, j] - a[i, j] (s now the sample-by-arm interaction, t the difference of
the two arms' training runs). Arms with different seeds are compared through per-sample differences
of seed means plus each arm's own seed component (`crossed_difference`).

The interval. The two-way ANOVA without replication gives mean squares MS_s, MS_t, MS_e with
E[MS_s] = s_e^2 + J s_s^2, E[MS_t] = s_e^2 + I s_t^2, E[MS_e] = s_e^2, so V is estimated without bias
by (MS_s + MS_t - MS_e) / (I J) (not below MS_e / (I J); a component estimated below 0 truncated at 0), its degrees of freedom by Satterthwaite's
approximation (1946); the interval is mean +/- t(df) sqrt(V), the p-value the two-sided t test. This is
the classical small-sample interval for balanced crossed random effects (Searle, Casella & McCulloch,
"Variance Components", 1992, ch. 4). Why not a bootstrap: with 3 seeds, resampling seeds (Owen's
"pigeonhole" bootstrap for crossed factors, 2007) has only 10 distinct seed draws and a percentile
interval over 8 samples is too narrow; in `benchmarks/stats_calibration.py`'s simulations of this
design (8 samples x 3 seeds, no true difference, seed sd from 0 to the per-video sd; 4,000 experiments
each) the pigeonhole percentile interval gave up to 15% false positives at a nominal 5%, the nested
bootstrap this module used before up to 33%, and this interval 3-6% (3% where there is no seed effect:
it is conservative there).

One seed. With J = 1 the seed component is not estimable: the interval is the t-interval over samples
and leaves the training variance out. The reports say so in the row and do not mark such a
difference significant unless neither arm was trained (a seed then changes only sampling noise).

    crossed_mean       mean over a samples x seeds matrix with its interval        -> Estimate
    crossed_difference arm b minus reference arm a, paired or not                  -> Difference
    crossed_band       crossed_mean per point of a drift curve (drift plots' bands)
    components         variance components of a matrix                             -> Components
    holm               Holm-Bonferroni adjusted p-values of one family of tests
    mdd, plan          minimum detectable difference at a power; the n that detects a difference
    mean_ci            Student-t interval of a mean                                 -> Interval
    seed_spread        std over seeds of the per-seed means (an arm's noise floor)
    curve_band         a t-interval per point of a set of curves (runs without per-sample scores)

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
POWER = 0.80  # the power a minimum detectable difference is quoted at
NAN = float("nan")


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval; low / high are NaN when n < 2."""

    mean: float
    low: float
    high: float
    n: int  # values the mean is over


@dataclass(frozen=True)
class Components:
    """Variance components of a crossed samples x seeds design (module doc), on the values' scale
    squared: V(I, J) = sample / I + seed / J + residual / (I J). `seed` is NaN with one seed (not
    estimable; `residual` is then NaN too and `sample` holds sample and residual together)."""

    sample: float
    seed: float
    residual: float

    @property
    def seed_estimable(self) -> bool:
        return bool(np.isfinite(self.seed))


@dataclass(frozen=True)
class Estimate:
    """A mean over a crossed design with its interval (module doc); NaN bounds where df < 1."""

    mean: float
    low: float
    high: float
    se: float
    df: float
    p: float  # two-sided t test of mean = 0
    n_samples: int
    n_seeds: int
    components: Components


@dataclass(frozen=True)
class Difference(Estimate):
    """b - a (the arm minus the reference arm): the mean over cells of the difference."""

    paired_seeds: bool = True  # True: seed-paired cell differences; False: per-sample seed means compared


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


# -- the crossed design ----------------------------------------------------------------------------


def _columns(m: np.ndarray) -> np.ndarray:
    """The seeds (columns) of [I, J] to analyse: those with a value for at least half the samples."""
    present = (~np.isnan(m)).sum(axis=0)
    return m[:, present * 2 >= max(1, m.shape[0])] if m.size else m


def _complete(m: np.ndarray) -> np.ndarray:
    """The balanced part of [I, J]: `_columns`, then the samples with a value in each of them."""
    m = _columns(m)
    return m[~np.isnan(m).any(axis=1)] if m.size else m.reshape(0, 0)


def mean_squares(m: np.ndarray) -> tuple[float, float, float]:
    """(MS_samples, MS_seeds, MS_residual) of the two-way ANOVA without replication of a complete
    [I, J] matrix (I, J >= 2)."""
    i, j = m.shape
    grand = m.mean()
    rows, cols = m.mean(axis=1), m.mean(axis=0)
    resid = m - rows[:, None] - cols[None, :] + grand
    ms_s = j * float(((rows - grand) ** 2).sum()) / (i - 1)
    ms_t = i * float(((cols - grand) ** 2).sum()) / (j - 1)
    ms_e = float((resid**2).sum()) / ((i - 1) * (j - 1))
    return ms_s, ms_t, ms_e


def _satterthwaite(terms: list[tuple[float, float]]) -> tuple[float, float]:
    """V = sum of terms' values, df = V^2 / sum(value^2 / df) (Satterthwaite 1946). terms: (c_k MS_k,
    df_k) with c_k MS_k possibly negative (a mean square subtracted)."""
    v = sum(t for t, _ in terms)
    denom = sum(t * t / d for t, d in terms if t != 0 and d > 0)
    if denom == 0:  # no variation at all (a constant difference): exact, on the largest df
        return v, float(max(d for _, d in terms))
    return v, v * v / denom


def _interval(mean: float, v: float, df: float, level: float) -> tuple[float, float, float, float]:
    """(low, high, se, p) of a t-interval with variance v and df degrees of freedom."""
    se = float(np.sqrt(max(v, 0.0)))
    if not np.isfinite(df) or df < 1:
        return NAN, NAN, se, NAN
    half = stats.t.ppf(0.5 + level / 2, df) * se
    if se == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / se, df))
    return mean - half, mean + half, se, p


def components(m) -> Components:
    """The variance components of a [samples, seeds] matrix (complete cells), truncated at 0."""
    m = _complete(np.atleast_2d(np.asarray(m, dtype=float)))
    i, j = m.shape
    if i < 2:
        return Components(NAN, NAN, NAN)
    if j < 2:
        return Components(float(np.var(m[:, 0], ddof=1)), NAN, NAN)
    ms_s, ms_t, ms_e = mean_squares(m)
    return Components(max(0.0, (ms_s - ms_e) / j), max(0.0, (ms_t - ms_e) / i), ms_e)


def _cell_terms(ms_s: float, ms_t: float, ms_e: float, i: int, j: int) -> list[tuple[float, float]]:
    """V of a complete matrix's mean as mean-square terms, for `_satterthwaite`: the unbiased
    (MS_s + MS_t - MS_e) / (I J) = sigma_s^2/I + sigma_t^2/J + sigma_e^2/(IJ). Where that falls below
    MS_e / (I J) (the two components' estimates sum below 0), the cells are taken as independent: MS_e /
    (I J) on the residual's degrees of freedom. Where one component is estimated below 0 and the other
    above it by more, that one is truncated at 0, as `components` reports it: V = MS_t / (I J) on the
    seeds' J - 1 df (or MS_s / (I J) on I - 1). Subtracting MS_e from the large mean square alone can
    drive Satterthwaite's df below 1, and the interval is lost (`toy_erft_control`'s plain arm, 8 x 3:
    df 0.71)."""
    c = 1.0 / (i * j)
    if ms_s + ms_t - ms_e <= ms_e:
        return [(c * ms_e, (i - 1) * (j - 1))]
    if ms_s <= ms_e:
        return [(c * ms_t, j - 1)]
    if ms_t <= ms_e:
        return [(c * ms_s, i - 1)]
    return [(c * ms_s, i - 1), (c * ms_t, j - 1), (-c * ms_e, (i - 1) * (j - 1))]


def crossed_mean(m, *, level: float = LEVEL) -> Estimate:
    """The mean of a [samples, seeds] matrix (NaN = missing cell) with its crossed-design interval.

    Complete cells only (`_complete`). With one seed: the t-interval over samples (the seed
    component is not estimable: components.seed is NaN). NaN bounds with fewer than 2 samples."""
    m = _complete(np.atleast_2d(np.asarray(m, dtype=float)))
    i, j = m.shape
    if i == 0:
        raise ValueError("no sample has a value in every seed: nothing to estimate")
    mean = float(m.mean())
    if i < 2:
        return Estimate(mean, NAN, NAN, NAN, NAN, NAN, i, j, Components(NAN, NAN, NAN))
    if j < 2:
        var = float(np.var(m[:, 0], ddof=1))
        low, high, se, p = _interval(mean, var / i, i - 1, level)
        return Estimate(mean, low, high, se, float(i - 1), p, i, j, Components(var, NAN, NAN))
    ms_s, ms_t, ms_e = mean_squares(m)
    v, df = _satterthwaite(_cell_terms(ms_s, ms_t, ms_e, i, j))
    low, high, se, p = _interval(mean, v, df, level)
    comp = Components(max(0.0, (ms_s - ms_e) / j), max(0.0, (ms_t - ms_e) / i), ms_e)
    return Estimate(mean, low, high, se, float(df), p, i, j, comp)


def _matrices(a, b) -> tuple[np.ndarray, np.ndarray, bool]:
    """Two arms as [samples, seeds] arrays over the samples both have, and whether they are paired by
    seed (the same seed labels). Series indexed by (sample, seed) are aligned by label; arrays must
    have their rows aligned (and are paired when their shapes and missing cells agree)."""
    if isinstance(a, pd.Series) or isinstance(b, pd.Series):
        if not (isinstance(a, pd.Series) and isinstance(b, pd.Series)):
            raise TypeError("give both arms as pandas Series indexed by (sample, seed), or both as arrays")
        wa, wb = a.dropna().unstack(), b.dropna().unstack()
        samples = wa.index.intersection(wb.index).sort_values()
        paired = set(wa.columns) == set(wb.columns)
        if paired:
            seeds = wa.columns.sort_values()
            return (
                wa.reindex(index=samples, columns=seeds).to_numpy(dtype=float),
                wb.reindex(index=samples, columns=seeds).to_numpy(dtype=float),
                True,
            )
        return (
            wa.reindex(index=samples).to_numpy(dtype=float),
            wb.reindex(index=samples).to_numpy(dtype=float),
            False,
        )
    A, B = np.atleast_2d(np.asarray(a, dtype=float)), np.atleast_2d(np.asarray(b, dtype=float))
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[0]:
        raise ValueError(
            f"arrays must be [samples, seeds] with the same samples (rows), got {A.shape} and {B.shape}"
        )
    keep = ~np.isnan(A).all(axis=1) & ~np.isnan(B).all(axis=1)
    return A[keep], B[keep], A.shape == B.shape


def crossed_difference(a, b, *, level: float = LEVEL) -> Difference:
    """b - a over the samples both arms have, with the crossed-design interval (module doc).

    a, b: the reference arm and the other arm, per (sample, seed): pandas Series indexed by (sample,
    seed), or [samples, seeds] arrays with aligned rows (NaN = missing). Same seed labels: the cell
    differences are one crossed design (`crossed_mean` of b - a). Different seeds: the mean over
    samples of the per-sample difference of seed means, whose variance is that difference's sample
    variance / I plus each arm's own seed component / its J (an arm with one seed adds none: its
    components.seed is then NaN, the training variance is not in the interval)."""
    A, B, paired = _matrices(a, b)
    if A.shape[0] == 0:
        raise ValueError("the two arms have no sample in common: nothing to compare")
    if paired:
        e = crossed_mean(B - A, level=level)
        return Difference(**{f: getattr(e, f) for f in Estimate.__dataclass_fields__}, paired_seeds=True)
    A, B = _columns(A), _columns(B)
    rows = ~np.isnan(A).any(axis=1) & ~np.isnan(B).any(axis=1)  # samples complete in both arms
    A, B = A[rows], B[rows]
    i = A.shape[0]
    m = B.mean(axis=1) - A.mean(axis=1)  # [I] per-sample difference of seed means
    mean = float(m.mean())
    n_seeds = max(A.shape[1], B.shape[1])
    if i < 2:
        return Difference(mean, NAN, NAN, NAN, NAN, NAN, i, n_seeds, Components(NAN, NAN, NAN), False)
    var_m = float(np.var(m, ddof=1))
    terms = [(var_m / i, i - 1)]
    seed, residual, estimable = 0.0, 0.0, True
    for x in (A, B):
        j = x.shape[1]
        if j < 2:
            estimable = False
            continue
        _, ms_t, ms_e = mean_squares(x)
        residual += ms_e
        if ms_t > ms_e:
            terms += [(ms_t / (i * j), j - 1), (-ms_e / (i * j), (i - 1) * (j - 1))]
            seed += (ms_t - ms_e) / i
    v, df = _satterthwaite(terms)
    low, high, se, p = _interval(mean, v, df, level)
    if estimable:  # per-sample part: what var_m holds beyond the residuals' share
        sample = max(0.0, var_m - residual / n_seeds)
        comp = Components(sample, seed, residual)
    else:
        comp = Components(var_m, NAN, NAN)
    return Difference(mean, low, high, se, float(df), p, i, n_seeds, comp, False)


def crossed_band(cube, *, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point of a drift curve: the mean over samples and seeds and its crossed-design interval.
    cube: [samples, seeds, points] (NaN where a video has no value there) -> (mean, low, high) [points].
    The mean at a point is over the samples with a value there, each its seeds averaged."""
    x = np.asarray(cube, dtype=float)
    if x.ndim != 3:
        raise ValueError(f"cube must be 3-D [samples, seeds, points], got shape {x.shape}")
    out = np.full((3, x.shape[2]), NAN)
    for k in range(x.shape[2]):
        m = x[:, :, k]
        if np.isnan(m).all():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[0, k] = np.nanmean(np.nanmean(m, axis=1))
        try:
            e = crossed_mean(m, level=level)
            out[1, k], out[2, k] = e.low, e.high
        except ValueError:  # no sample complete in the seeds analysed: no band there
            pass
    return out[0], out[1], out[2]


# -- power ---------------------------------------------------------------------------------------------


def _projected(comp: Components, i: int, j: int) -> tuple[float, float]:
    """(V, df) of a mean over I samples x J seeds with these components: Satterthwaite's formula on the
    expected mean squares. Components estimated from one seed (seed NaN) project a one-seed design's
    t-interval (the training variance is not in it); with J = 1 the seed component is in V (it is in
    the truth) but no test could estimate it, so df is I - 1."""
    if not comp.seed_estimable:
        return comp.sample / i, float(i - 1)
    if j < 2:
        return comp.sample / i + comp.seed + comp.residual / i, float(i - 1)
    ms_e = comp.residual
    return _satterthwaite(_cell_terms(ms_e + j * comp.sample, ms_e + i * comp.seed, ms_e, i, j))


def mdd(
    comp: Components, n_samples: int, n_seeds: int, *, level: float = LEVEL, power: float = POWER
) -> float:
    """The minimum detectable difference: the true difference a two-sided test at 1 - level finds with
    probability `power`, for a design of n_samples x n_seeds with these variance components:
    (t_{(1+level)/2, df} + t_{power, df}) * sqrt(V), the usual normal-theory approximation."""
    v, df = _projected(comp, n_samples, n_seeds)
    if not np.isfinite(df) or df < 1 or not np.isfinite(v):
        return NAN
    return float((stats.t.ppf(0.5 + level / 2, df) + stats.t.ppf(power, df)) * np.sqrt(max(v, 0.0)))


def power(
    comp: Components, n_samples: int, n_seeds: int, delta: float, *, level: float = LEVEL, sided: int = 2
) -> float:
    """The probability that a t test at 1 - level (two-sided, or one-sided in the true difference's
    direction with sided=1) finds a true difference `delta` in a design of n_samples x n_seeds with
    these components: P(T_df > t_crit - |delta| / sqrt(V)), V and df as `mdd` projects them. At
    delta = mdd (two-sided) it is about POWER."""
    v, df = _projected(comp, n_samples, n_seeds)
    if not np.isfinite(df) or df < 1 or not np.isfinite(v) or v <= 0:
        return NAN
    crit = stats.t.ppf(1 - (1 - level) / sided, df)
    return float(stats.t.sf(crit - abs(delta) / np.sqrt(v), df))


def directed_p(delta: float, se: float, df: float, direction: str) -> float:
    """The t test's p of a difference against 0: two-sided, or one-sided where a hypothesis said which
    way ('less': delta < 0 is the effect; 'greater': delta > 0). NaN where there is no test."""
    if not (np.isfinite(delta) and np.isfinite(se) and np.isfinite(df)) or se <= 0 or df < 1:
        return NAN
    t = delta / se
    if direction == "less":
        return float(stats.t.cdf(t, df))
    if direction == "greater":
        return float(stats.t.sf(t, df))
    return float(2 * stats.t.sf(abs(t), df))


@dataclass(frozen=True)
class Design:
    n_samples: int
    n_seeds: int
    mdd: float


def plan(
    comp: Components,
    delta: float,
    *,
    seeds: tuple[int, ...] = (2, 3, 4, 5, 8),
    max_samples: int = 2000,
    level: float = LEVEL,
    power: float = POWER,
) -> list[Design]:
    """For each number of seeds, the fewest samples whose design detects |delta| (mdd <= |delta|);
    seeds whose component alone keeps the mdd above delta at max_samples are left out. One seed is
    never proposed for a comparison whose seed component is estimable (it would leave it out)."""
    out = []
    for j in seeds:
        lo, hi = 2, max_samples
        if mdd(comp, hi, j, level=level, power=power) > abs(delta):
            continue
        while lo < hi:  # mdd falls as samples grow: bisect for the first that detects delta
            mid = (lo + hi) // 2
            if mdd(comp, mid, j, level=level, power=power) <= abs(delta):
                hi = mid
            else:
                lo = mid + 1
        out.append(Design(lo, j, mdd(comp, lo, j, level=level, power=power)))
    return out
