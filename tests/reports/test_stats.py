"""reports.stats: known answers (scipy on fixed data, cases whose answer is known by construction)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.stats import curve_band, holm, mean_ci, paired_bootstrap, seed_spread

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


def test_identical_arms_give_zero_with_a_zero_width_interval():
    a = np.random.default_rng(1).normal(0.8, 0.05, size=(12, 2))
    d = paired_bootstrap(a, a.copy())
    assert d.mean == 0.0 and d.low == 0.0 and d.high == 0.0 and d.p == 1.0
    assert d.n_samples == 12 and d.n_seeds == 2 and d.paired_seeds


@pytest.mark.parametrize("seeds", [1, 3])
def test_a_constant_shift_is_found_exactly(seeds):
    a = np.random.default_rng(2).normal(0.8, 0.05, size=(10, seeds))
    d = paired_bootstrap(a, a + 0.125)
    assert d.mean == pytest.approx(0.125, abs=1e-12)
    assert d.low == pytest.approx(0.125, abs=1e-12) and d.high == pytest.approx(0.125, abs=1e-12)
    assert d.p == pytest.approx(2 / 10_001)  # the smallest p this many resamples can give


def test_a_clear_effect_excludes_zero():
    rng = np.random.default_rng(3)
    a = rng.normal(0.8, 0.05, size=(20, 1))
    d = paired_bootstrap(a, a + 0.03 + rng.normal(0, 0.01, size=(20, 1)))
    assert 0 < d.low < d.mean < d.high and d.p < 0.001


def test_one_seed_per_sample_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(4)
    a = rng.normal(0.8, 0.05, size=25)
    b = a + rng.normal(0.01, 0.02, size=25)
    d = paired_bootstrap(a[:, None], b[:, None], resamples=50_000)
    ref = stats.bootstrap(
        (b - a,), np.mean, method="percentile", n_resamples=50_000, random_state=np.random.default_rng(0)
    ).confidence_interval
    width = ref.high - ref.low
    assert d.mean == pytest.approx(np.mean(b - a))
    assert abs(d.low - ref.low) < 0.03 * width and abs(d.high - ref.high) < 0.03 * width


def test_seeds_are_nested_in_samples():
    """Series by (sample, seed): paired when both arms ran the same seeds, else per-sample means."""
    idx = pd.MultiIndex.from_product([["s0", "s1", "s2", "s3"], [0, 1]], names=["sample", "seed"])
    base = pd.Series([0.80, 0.82, 0.70, 0.72, 0.90, 0.92, 0.60, 0.62], index=idx)
    # the same seeds: every paired difference is 0.15 -> a zero-width interval at 0.15
    paired = paired_bootstrap(base, base + 0.15)
    assert paired.paired_seeds and paired.low == pytest.approx(0.15) and paired.high == pytest.approx(0.15)
    # one seed (0) against two: the reference's seeds are resampled within each sample, so the
    # interval has width though the observed difference is exactly 0.9 - mean(0.80, 0.82) = 0.09
    one = (base + 0.1).xs(0, level="seed", drop_level=False)
    nested = paired_bootstrap(base, one)
    assert not nested.paired_seeds and nested.n_seeds == 2 and nested.n_samples == 4
    assert nested.mean == pytest.approx(0.09)
    assert nested.low < 0.09 < nested.high
    assert nested.low >= 0.08 - 1e-9 and nested.high <= 0.10 + 1e-9  # within the seeds' range
    # a sample only one arm has is left out
    extra = pd.concat([one, pd.Series([5.0], index=pd.MultiIndex.from_tuples([("s9", 0)]))])
    assert paired_bootstrap(base, extra).mean == pytest.approx(0.09)


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap(a, b, seed=7) != paired_bootstrap(a, b, seed=8)


def test_arms_without_a_common_sample_are_an_error():
    a = pd.Series([1.0], index=pd.MultiIndex.from_tuples([("s0", 0)]))
    b = pd.Series([1.0], index=pd.MultiIndex.from_tuples([("s1", 0)]))
    with pytest.raises(ValueError, match="no sample in common"):
        paired_bootstrap(a, b)
