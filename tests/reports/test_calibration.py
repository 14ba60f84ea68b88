"""The reports' difference test is calibrated for the design `harness run` produces (reports/stats.py):
null experiments of 8 samples x 3 seeds and 8 x 1, simulated with a fixed RNG, must give 2-8% false
positives at a nominal 5% and 95% intervals that cover the truth at least 92% of the time; with a
planted effect the power must follow the minimum detectable difference. Seconds, not minutes."""

import numpy as np
import pytest

from reports.stats import Components, crossed_difference, mdd

RUNS = 2000
SAMPLE_SD = 1.0  # scene difficulty, shared by both arms (cancels in a paired comparison)
INTERACTION_SD = 0.5  # how each arm reacts to each scene its own way
NOISE_SD = 1.0  # per video: the sampling noise of one generation


def experiment(rng, n_samples: int, n_seeds: int, seed_sd: float, effect: float = 0.0):
    """One simulated experiment: arms a and b on the same samples and seed labels, each (arm, seed) a
    training run whose effect t is shared by every sample (the crossed design)."""
    s = rng.normal(0, SAMPLE_SD, (n_samples, 1))

    def arm(shift: float) -> np.ndarray:  # [samples, seeds]
        return (
            shift
            + s
            + rng.normal(0, INTERACTION_SD, (n_samples, 1))
            + rng.normal(0, seed_sd, (1, n_seeds))
            + rng.normal(0, NOISE_SD, (n_samples, n_seeds))
        )

    return arm(0.0), arm(effect)


def rates(n_samples: int, n_seeds: int, seed_sd: float, effect: float = 0.0, seed: int = 0):
    """(rejection rate at 5%, coverage of the true effect by the 95% interval)."""
    rng = np.random.default_rng(seed)
    reject = cover = 0
    for _ in range(RUNS):
        d = crossed_difference(*experiment(rng, n_samples, n_seeds, seed_sd, effect))
        reject += d.p < 0.05
        cover += d.low <= effect <= d.high
    return reject / RUNS, cover / RUNS


@pytest.mark.parametrize("seed_sd", [0.0, 0.25, 0.5, 1.0])
def test_null_experiments_of_8_samples_by_3_seeds(seed_sd):
    false_positives, coverage = rates(8, 3, seed_sd)
    assert 0.02 <= false_positives <= 0.08, false_positives
    assert coverage >= 0.92


def test_null_experiments_of_8_samples_by_1_seed_without_a_seed_effect():
    # one seed of untrained arms: the seed changes only sampling noise, which the samples vary
    false_positives, coverage = rates(8, 1, 0.0)
    assert 0.02 <= false_positives <= 0.08 and coverage >= 0.92


def test_one_seed_of_a_trained_arm_cannot_hold_its_training_variance():
    # why the reports never star a one-seed trained arm: its training run's effect looks like a real one
    false_positives, _ = rates(8, 1, 1.0)
    assert false_positives > 0.2


def test_power_rises_with_n_as_the_minimum_detectable_difference_says():
    seed_sd = 0.5
    # the components of the cell differences b - a: interaction and noise of two arms, two seed effects
    comp = Components(2 * INTERACTION_SD**2, 2 * seed_sd**2, 2 * NOISE_SD**2)
    effect = mdd(comp, 16, 4)  # 80% power at 16 x 4 by the formula
    powers = [rates(n, 4, seed_sd, effect, seed=1)[0] for n in (4, 16, 64)]
    assert powers[0] < powers[1] < powers[2]
    assert 0.70 <= powers[1] <= 0.90, powers  # the approximation's promise at the design it was made for
    _, coverage = rates(16, 4, seed_sd, effect, seed=2)
    assert coverage >= 0.92


@pytest.mark.parametrize("seed_sd", [0.25, 0.5])
def test_the_planned_n_gives_the_power_it_states(seed_sd):
    """What `harness plan --detect` (and a pre-registration) promises: the fewest samples per number of
    seeds whose design detects a difference (`plan`), simulated from the components it was planned
    with, rejects at about the power `power` states (80% at the MDD). Measured (2000 runs each): the
    formula is optimistic by up to about 5 points with 3 to 5 seeds (12x3: stated 81.5%, simulated
    76.3%; 40x4: 80.0% vs 76.7%) and exact with 8 (6x8: 85.3% vs 85.0%)."""
    from reports.stats import plan, power

    comp = Components(2 * INTERACTION_SD**2, 2 * seed_sd**2, 2 * NOISE_SD**2)
    effect = 1.5
    designs = plan(comp, effect)
    assert len(designs) >= 3
    for d in designs[:2]:  # the fewest seeds that can detect it, and one more
        stated = power(comp, d.n_samples, d.n_seeds, effect)
        assert 0.80 <= stated <= 0.90  # the fewest samples that reach 80%
        simulated, _ = rates(d.n_samples, d.n_seeds, seed_sd, effect, seed=3 + d.n_seeds)
        assert -0.06 <= simulated - stated <= 0.03, (d, simulated, stated)


def energy_cells(rng, n_samples: int, n_seeds: int, draws: int, seed_sd: float, truth):
    """One arm's energy scores [samples, seeds]: each (sample, seed) cell is the fair energy score of
    `draws` scalar draws from N(its mean, 1) against the sample's truth, the mean an arm-by-sample
    reaction plus the seed's training effect (the crossed design), as a sampler's draws are scored."""
    centre = rng.normal(0, INTERACTION_SD, (n_samples, 1)) + rng.normal(0, seed_sd, (1, n_seeds))
    x = centre[..., None] + rng.normal(0, NOISE_SD, (n_samples, n_seeds, draws))  # [I, J, K]
    accuracy = np.abs(x - truth[:, :, None]).mean(-1)
    pairs = np.abs(x[..., :, None] - x[..., None, :]).sum((-1, -2)) / 2  # each unordered pair once
    return accuracy - pairs / (draws * (draws - 1))


def test_energy_cells_are_the_fair_energy_score():
    from scoring.energy import energy_score

    rng = np.random.default_rng(1)
    truth = np.array([[0.3]])
    cells = energy_cells(np.random.default_rng(1), 1, 1, 4, 0.0, truth)
    centre = rng.normal(0, INTERACTION_SD, (1, 1)) + rng.normal(0, 0.0, (1, 1))
    x = (centre[..., None] + rng.normal(0, NOISE_SD, (1, 1, 4)))[0, 0]
    between = np.abs(x[:, None] - x[None, :])
    assert cells[0, 0] == pytest.approx(energy_score(np.abs(x - 0.3), between).score, rel=1e-12)


@pytest.mark.parametrize("draws", [2, 4])
def test_the_interval_is_calibrated_on_energy_scores_over_draws(draws):
    """Null experiments of 8 samples x 3 seeds whose cells are energy scores over `draws` draws (a
    skewed, non-normal cell, with a truth shared by both arms): 2-8% false positives at 5%, coverage
    of the zero difference at least 92%."""
    rng = np.random.default_rng(draws)
    reject = cover = 0
    for _ in range(RUNS):
        truth = rng.normal(0, SAMPLE_SD, (8, 1))  # each sample's one true future, the same for both arms
        a, b = (energy_cells(rng, 8, 3, draws, 0.5, truth) for _ in range(2))
        d = crossed_difference(a, b)
        reject += d.p < 0.05
        cover += d.low <= 0.0 <= d.high
    assert 0.02 <= reject / RUNS <= 0.08, reject / RUNS
    assert cover / RUNS >= 0.92
