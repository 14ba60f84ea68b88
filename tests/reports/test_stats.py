"""reports.stats: known answers (scipy on fixed data, hand-computed ANOVAs, cases whose answer is
known by construction). Calibration by simulation: test_calibration.py."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.stats import (
    Components,
    components,
    crossed_difference,
    crossed_mean,
    curve_band,
    holm,
    mdd,
    mean_ci,
    mean_squares,
    plan,
    seed_spread,
)

DATA = np.array([0.81, 0.84, 0.79, 0.88, 0.83, 0.80, 0.86, 0.82])


def test_mean_ci_matches_scipy_t_interval():
    got = mean_ci(DATA)
    low, high = stats.t.interval(0.95, len(DATA) - 1, loc=DATA.mean(), scale=stats.sem(DATA))
    assert got.n == 8 and got.mean == pytest.approx(DATA.mean(), rel=1e-12)
    assert (got.low, got.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    low90, _ = stats.t.interval(0.90, 7, loc=DATA.mean(), scale=stats.sem(DATA))
    assert mean_ci(DATA, level=0.90).low == pytest.approx(low90, rel=1e-12)


def test_mean_ci_ignores_nan_and_has_no_bounds_for_one_value():
    assert mean_ci([*DATA, np.nan]) == mean_ci(DATA)
    one = mean_ci([0.5])
    assert one.mean == 0.5 and one.n == 1 and np.isnan(one.low) and np.isnan(one.high)


def test_curve_band_matches_scipy_per_point_and_skips_missing_values():
    curves = np.array([[1.0, 2.0, 3.0], [2.0, 2.5, np.nan], [1.5, 4.0, np.nan], [1.2, 3.0, 5.0]])
    mean, low, high = curve_band(curves)
    for k in range(3):
        col = curves[:, k][~np.isnan(curves[:, k])]
        lo, hi = stats.t.interval(0.95, len(col) - 1, loc=col.mean(), scale=stats.sem(col))
        assert (
            mean[k] == pytest.approx(col.mean())
            and low[k] == pytest.approx(lo)
            and high[k] == pytest.approx(hi)
        )
    _, low, _ = curve_band(np.array([[1.0, np.nan], [2.0, 3.0]]))
    assert np.isnan(low[1])  # one value at that point: no interval


def test_holm_known_answer():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.02] * 5) == pytest.approx([0.10] * 5)  # five equal tests: each needs 5x
    assert holm([0.02]) == pytest.approx([0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    out = holm([0.01, np.nan, 0.04])  # NaN: not a test, not counted in m
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.04)


def test_seed_spread():
    values = np.array([[0.80, 0.82], [0.90, 0.94]])  # per-seed means 0.85, 0.88
    assert seed_spread(values) == pytest.approx(np.std([0.85, 0.88], ddof=1))
    assert np.isnan(seed_spread(values[:, :1]))


def test_two_way_anova_known_answer():
    # by hand: grand 2.75, sample means 1.5 / 4, seed means 2 / 3.5, residuals +-0.25
    m = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert mean_squares(m) == pytest.approx((6.25, 2.25, 0.25))
    e = crossed_mean(m)
    # V = (MS_s + MS_t - MS_e) / (I J) = 8.25 / 4; df = 8.25^2 / (6.25^2 + 2.25^2 + 0.25^2)
    df = 8.25**2 / (6.25**2 + 2.25**2 + 0.25**2)
    assert e.mean == 2.75 and e.se == pytest.approx(np.sqrt(8.25 / 4)) and e.df == pytest.approx(df)
    half = stats.t.ppf(0.975, df) * np.sqrt(8.25 / 4)
    assert (e.low, e.high) == (pytest.approx(2.75 - half), pytest.approx(2.75 + half))
    assert e.p == pytest.approx(2 * stats.t.sf(2.75 / np.sqrt(8.25 / 4), df))
    # components: sample (6.25 - 0.25) / 2, seed (2.25 - 0.25) / 2, residual 0.25
    assert components(m) == Components(3.0, 1.0, 0.25)


def test_a_component_estimated_below_zero_is_truncated_and_the_interval_kept():
    # MS_s < MS_e: the sample component is 0, V = MS_t / (I J) on J - 1 df (before: Satterthwaite's df
    # of MS_s + MS_t - MS_e fell below 1 and the interval was lost)
    seed_shift = np.array([0.0, 0.3, -0.3])  # [J]
    noise = np.array([[0.1, -0.1, 0.0], [-0.1, 0.1, 0.0], [0.05, 0.0, -0.05], [-0.05, 0.0, 0.05]])  # [I, J]
    m = seed_shift[None, :] + noise
    ms_s, ms_t, ms_e = mean_squares(m)
    assert ms_s < ms_e < ms_t
    e = crossed_mean(m)
    se = np.sqrt(ms_t / m.size)
    half = stats.t.ppf(0.975, 2) * se
    assert e.df == 2 and e.se == pytest.approx(se)
    assert (e.low, e.high) == (pytest.approx(m.mean() - half), pytest.approx(m.mean() + half))
    # and the transpose: the seed component at 0, V = MS_s / (I J) on I - 1 df
    t_ = crossed_mean(m.T)
    assert t_.df == 2 and t_.se == pytest.approx(se)


def test_one_seed_is_the_t_interval_over_samples_without_a_seed_component():
    e = crossed_mean(DATA[:, None])
    low, high = stats.t.interval(0.95, 7, loc=DATA.mean(), scale=stats.sem(DATA))
    assert (e.low, e.high) == (pytest.approx(low), pytest.approx(high)) and e.df == 7
    assert not e.components.seed_estimable and e.components.sample == pytest.approx(DATA.var(ddof=1))


def test_a_pure_sample_effect_has_the_samples_degrees_of_freedom():
    # every seed agrees on every sample: no seed and no residual variation, the interval is the
    # t-interval of the sample means on I - 1 df
    m = np.repeat(DATA[:, None], 3, axis=1)
    e = crossed_mean(m)
    low, high = stats.t.interval(0.95, 7, loc=DATA.mean(), scale=stats.sem(DATA))
    assert (e.low, e.high, e.df) == (pytest.approx(low), pytest.approx(high), pytest.approx(7))


def test_a_seed_shift_shared_by_all_samples_widens_the_interval():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, size=(8, 3))
    shifted = base + np.array([0.0, 0.05, -0.05])  # one seed effect per training run, on every sample
    assert crossed_mean(shifted).se > 3 * crossed_mean(base).se
    assert crossed_mean(shifted).components.seed == pytest.approx(np.var([0.0, 0.05, -0.05], ddof=1), rel=0.2)


def test_identical_arms_give_zero_with_a_zero_width_interval():
    a = np.random.default_rng(1).normal(0.8, 0.05, size=(12, 2))
    d = crossed_difference(a, a.copy())
    assert d.mean == 0 and d.low == 0 and d.high == 0 and d.p == 1.0 and d.paired_seeds


@pytest.mark.parametrize("seeds", [1, 3])
def test_a_constant_shift_is_found_exactly(seeds):
    a = np.random.default_rng(2).normal(0.8, 0.05, size=(10, seeds))
    d = crossed_difference(a, a + 0.125)
    assert d.mean == pytest.approx(0.125) and d.se == pytest.approx(0, abs=1e-12) and d.p == 0.0
    assert (d.n_samples, d.n_seeds) == (10, seeds)


def test_paired_by_seed_label_and_aligned_by_sample():
    idx = pd.MultiIndex.from_product([["s1", "s2", "s3"], [0, 1]], names=["sample", "seed"])
    a = pd.Series([0.1, 0.2, 0.3, 0.5, 0.2, 0.1], index=idx)
    b = (a + 0.01).iloc[::-1]  # any order: aligned by label
    b = pd.concat([b, pd.Series([9.0], index=pd.MultiIndex.from_tuples([("s9", 0)]))])  # only b has s9
    d = crossed_difference(a, b)
    assert d.paired_seeds and d.n_samples == 3 and d.mean == pytest.approx(0.01)


def test_arms_on_different_seeds_add_each_arms_seed_component():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.01, size=(8, 3)) + np.array([0.0, 0.04, -0.04])
    b = rng.normal(0.02, 0.01, size=(8, 3)) + np.array([0.03, -0.03, 0.0])
    ia = pd.MultiIndex.from_product([range(8), [0, 1, 2]], names=["sample", "seed"])
    ib = pd.MultiIndex.from_product([range(8), [3, 4, 5]], names=["sample", "seed"])
    d = crossed_difference(pd.Series(a.ravel(), ia), pd.Series(b.ravel(), ib))
    assert not d.paired_seeds and d.mean == pytest.approx((b - a).mean())
    # the seed parts: each arm's (MS_t - MS_e) / (I J); the sample part: var of per-sample differences / I
    m = b.mean(axis=1) - a.mean(axis=1)
    expect = m.var(ddof=1) / 8
    for x in (a, b):
        _, ms_t, ms_e = mean_squares(x)
        expect += max(0.0, ms_t - ms_e) / 24
    assert d.se**2 == pytest.approx(expect)
    one = crossed_difference(
        pd.Series(a[:, 0], pd.MultiIndex.from_product([range(8), [0]])), pd.Series(b.ravel(), ib)
    )
    assert not one.components.seed_estimable  # an arm with one seed: its training variance is unknown


def test_arms_without_a_common_sample_are_an_error():
    a = pd.Series([0.1], index=pd.MultiIndex.from_tuples([("s1", 0)]))
    b = pd.Series([0.2], index=pd.MultiIndex.from_tuples([("s2", 0)]))
    with pytest.raises(ValueError, match="no sample in common"):
        crossed_difference(a, b)


def test_mdd_known_answer_and_plan():
    # one seed: sd 1 per sample, 16 samples: (t_.975,15 + t_.8,15) / 4
    comp = Components(1.0, float("nan"), float("nan"))
    assert mdd(comp, 16, 1) == pytest.approx((stats.t.ppf(0.975, 15) + stats.t.ppf(0.8, 15)) / 4)
    crossed = Components(0.5, 0.2, 1.0)
    assert mdd(crossed, 16, 3) < mdd(crossed, 8, 3) < mdd(crossed, 8, 2)
    # the seed component bounds what more samples can do: V >= seed / J
    assert mdd(crossed, 2000, 2) > (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * np.sqrt(0.2 / 2)
    designs = plan(crossed, 0.8)
    assert designs and all(d.mdd <= 0.8 for d in designs)
    for d in designs:  # the fewest samples: one fewer would not do
        assert d.n_samples == 2 or mdd(crossed, d.n_samples - 1, d.n_seeds) > 0.8
    assert [d.n_seeds for d in designs] == sorted(d.n_seeds for d in designs)
