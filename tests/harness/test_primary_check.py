"""`harness plan` checks the declared primary against the toy world's committed verdicts
(harness/declare/primary.py `check_primary`, results/toy_verdicts.csv): an invalid primary and a one-sided
primary without guards are refused in one line with exit 2, before any work; a registered experiment
keeps its registered primary."""

import pandas as pd
import pytest

from cli import main
from harness.declare.experiment import load_experiment
from harness.declare.primary import check_primary
from reports import verdicts as V
from svi.config import ConfigError
from svi.model.presets import TOY_WORLD


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """Plant a verdicts table (rows of (track, metric, validity) in today's toy world) as the committed one."""

    def plant(*rows, world=TOY_WORLD):
        (tmp_path / "repo" / "results").mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame([[world, *r, "planted"] for r in rows], columns=V.VERDICT_COLUMNS)
        (tmp_path / "repo" / V.VERDICTS_FILE).write_text(V.verdicts_csv(table))
        monkeypatch.setattr(V, "REPOSITORY", tmp_path / "repo")
        return table

    return plant


# toy_erft_control as world 2 declared it (a colour-shift primary guarded by the distance from the truth):
# the vehicle of the checks below, whatever its declaration says today
AS_WORLD_2 = ["primary=colour_shift", "guards=[truth_distance]"]


def _configs(exp, source):
    return [exp.arm_config(a, source) for a in exp.arms]


def test_plan_refuses_an_invalid_primary(home, planted, capsys):
    planted(("consistent_100s", "colour_shift", V.INVALID), ("consistent_100s", "psnr", V.VALID))
    assert main(["plan", "toy_erft_control", *AS_WORLD_2]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "primary colour_shift is invalid on consistent_100s" in err and "(valid there: psnr)" in err


def test_plan_refuses_a_one_sided_primary_without_guards(home, planted, capsys):
    planted(("consistent_100s", "colour_shift", V.ONE_SIDED))
    assert main(["plan", "toy_erft_control", "primary=colour_shift", "guards=[]"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "primary colour_shift is one-sided on consistent_100s" in err and "declare `guards:`" in err
    exp, source = load_experiment("toy_erft_control", AS_WORLD_2)  # with guards: accepted
    assert exp.guards == ["truth_distance"] and check_primary(exp, _configs(exp, source)) == []


def test_plan_refuses_a_primary_that_rewards_the_mean(home, planted, capsys):
    """The distance from one sample to the truth where a trivial video beats another true future: a
    perfect sampler would lose on it, so it cannot be the primary; the energy score is named instead."""
    planted(("consistent_100s", "truth_distance", V.REWARDS_MEAN), ("consistent_100s", "psnr", V.VALID))
    assert main(["plan", "toy_erft_control", "primary=truth_distance", "guards=[]"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "primary truth_distance rewards the mean on consistent_100s" in err
    assert "(valid there: psnr)" in err and "energy_score" in err


def test_a_guard_the_toy_world_calls_one_sided_is_refused(home, planted):
    table = planted(
        ("consistent_100s", "colour_shift", V.ONE_SIDED), ("consistent_100s", "truth_distance", V.ONE_SIDED)
    )
    exp, source = load_experiment("toy_erft_control", AS_WORLD_2)
    with pytest.raises(ConfigError, match="guard truth_distance is one-sided on consistent_100s"):
        check_primary(exp, _configs(exp, source), table)


def test_what_the_toy_world_does_not_know_is_not_refused(home, planted):
    exp, source = load_experiment("toy_erft_control", ["primary=colour_shift", "guards=[]"])
    table = planted(("consistent_100s", "colour_shift", V.INVALID), world=TOY_WORLD + 1)  # another world
    assert check_primary(exp, _configs(exp, source), table) == []
    assert (
        check_primary(exp, _configs(exp, source), planted(("creative_100s", "colour_shift", V.INVALID))) == []
    )


def test_a_guard_must_be_a_scored_metric_other_than_the_primary(home, capsys):
    assert main(["plan", "toy_erft_control", "guards=[dynamic_degree]"]) == 2
    assert "a guard is a scored metric other than the primary" in capsys.readouterr().err
    assert main(["plan", "toy_erft_control", "guards=[colour_shift]"]) == 2


def test_erft_confirm_keeps_its_registered_primary(home):
    """Its registered primary, colour shift on creative_100s, is invalid there by the committed verdicts
    of the world it ran in (2), read here as today's world's; the registration is not rewritten, and the
    plan check passes with a note that says so."""
    exp, source = load_experiment("erft_confirm")
    committed = V.read_verdicts()
    assert V.known_verdict(committed, 2, "creative_100s", "colour_shift") == V.INVALID
    as_today = committed[committed["world"] == 2].assign(world=TOY_WORLD)
    notes = check_primary(exp, _configs(exp, source), table=as_today)
    assert notes == [
        "primary colour_shift is invalid on creative_100s in the toy world (results/toy_verdicts.csv); the "
        "registered experiment keeps it, and its report says so"
    ]
    assert "guards" not in exp.model_dump(mode="json")  # the registered declaration is unchanged


HYPOTHESIS = "hypotheses=[{comparison: full - plain, metric: colour_shift, direction: less, primary: true}]"


@pytest.mark.parametrize(
    "overrides",
    [
        ["primary=null", "guards=[]", HYPOTHESIS],  # the primary only in hypotheses
        ["primary=truth_distance", "guards=[]", HYPOTHESIS],  # beside a valid top-level primary
    ],
    ids=["only in hypotheses", "beside a valid primary"],
)
def test_a_primary_declared_in_hypotheses_is_checked_too(home, planted, capsys, overrides):
    planted(("consistent_100s", "colour_shift", V.INVALID), ("consistent_100s", "truth_distance", V.VALID))
    assert main(["plan", "toy_erft_control", *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "primary colour_shift is invalid on consistent_100s" in err, err


@pytest.mark.parametrize("length", ["101s", "250s"])
def test_a_track_the_verdicts_do_not_name_is_judged_by_its_suite(home, planted, capsys, length):
    """Unknown is not fine where the suite is known: colour shift invalid on consistent_100s is invalid
    on consistent_101s and consistent_250s, which no bundle measured."""
    planted(("consistent_100s", "colour_shift", V.INVALID), ("consistent_50s", "colour_shift", V.VALID))
    suites = f"suites=[{{suite: consistent, length: {length}}}]"
    assert main(["plan", "toy_erft_control", *AS_WORLD_2, suites]) == 2
    err = capsys.readouterr().err.strip()
    assert f"primary colour_shift is invalid on consistent_{length}" in err, err
    assert "the toy world's on consistent_100s" in err and len(err.splitlines()) == 1, err


def test_an_uncommitted_registration_keeps_no_primary(home, planted, capsys):
    """A hand-written preregistration.yaml that git does not hold (here: no git at all) naming colour
    shift as its primary does not make the invalid primary a registered one."""
    import yaml

    planted(("consistent_100s", "colour_shift", V.INVALID))
    folder = V.REPOSITORY / "results" / "toy_erft_control"
    folder.mkdir(parents=True)
    registration = {"number": 1, "registered_at": "2026-01-01", "primary": {"metric": "colour_shift"},
                    "hypotheses": [{"comparison": "full - plain", "metric": "colour_shift", "primary": True}]}  # fmt: skip
    (folder / "preregistration.yaml").write_text(yaml.safe_dump(registration))
    assert main(["plan", "toy_erft_control", *AS_WORLD_2]) == 2
    err = capsys.readouterr().err.strip()
    assert "primary colour_shift is invalid on consistent_100s" in err and "keeps it" not in err, err


def test_run_checks_the_primary_as_plan_does(home, planted, capsys):
    planted(("consistent_100s", "colour_shift", V.INVALID))
    # a benchmark that is not there: a run that did not check the primary would stop at the inputs' check
    assert main(["run", "toy_erft_control", *AS_WORLD_2, "benchmark_root=/nonexistent/bench"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "primary colour_shift is invalid on consistent_100s" in err, err
    assert not (home / "ws" / "mlruns").exists() and not list((home / "ws").glob("*/toy_erft_control"))
