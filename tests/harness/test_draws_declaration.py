"""`draws:` in a declaration: the videos each trained model makes of a sample (scoring/energy.py). The
energy score needs 2 or more, and generate.noise=official, which gives every video the same noise,
cannot make them; `harness plan` refuses both in one line with exit 2, before any work."""

from cli import main
from harness.declare.experiment import load_experiment
from harness.declare.plan import ADDED_SETTINGS, unit_hash, unit_inputs


def test_the_energy_score_with_one_draw_is_refused(home, capsys):
    args = ["plan", "toy_erft_control", "draws=1", "metrics=truth_distance,energy_score", "primary=null"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "energy_score" in err and "declare `draws: 2` or more (draws: 1)" in err


def test_draws_under_the_official_noise_are_refused(home, capsys):
    overrides = ["draws=2", "generate.noise=official"]
    assert main(["plan", "toy_erft_control", *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "generate.noise=official" in err
        and "2 draws would be one video" in err
    )


def test_two_draws_with_the_energy_score_plan(home, capsys):
    args = ["plan", "toy_erft_control", "draws=2", "metrics=truth_distance,energy_score", "primary=null"]
    assert main(args) == 0, capsys.readouterr().err


def test_one_draw_keeps_the_plan_hash_of_units_made_before_draws_existed():
    """A unit recorded without `draws` ran with one video per sample: ADDED_SETTINGS says so, and a
    declaration with draws: 2 is another unit."""
    assert ADDED_SETTINGS["experiment.draws"] == 1
    exp, source = load_experiment("toy_erft_control", ["draws=1", "metrics=drift", "primary=truth_distance"])
    two, _ = load_experiment("toy_erft_control", ["draws=2"])
    plan_one = unit_inputs_of(exp, source)
    assert plan_one["experiment.draws"] == 1
    assert unit_hash(plan_one) != unit_hash(unit_inputs_of(two, source))


def unit_inputs_of(exp, source):
    arm = next(iter(exp.arms))
    cfg = exp.arm_config(arm, source)
    return unit_inputs(exp.model_dump(mode="json"), arm, cfg.model_dump(mode="json"), exp.seeds[0])
