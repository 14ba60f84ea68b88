"""The sweep's Optuna study: per-worker sampler seeds, its storage (SQLite and a real PostgreSQL), and
dead trials (stale heartbeat) failed, retried and counted once. No training: trials are asked and told
by hand, as a worker would."""

import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from harness import tracking
from harness.base import workspace
from svi.config import ConfigError
from sweeps import study as runner
from sweeps.study import Sweep

pytestmark = pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize"
)

# long enough for `remaining_trials` to run within it on a busy machine (3 s ran out in a CI run)
GRACE_SECONDS = 10


def _sweep(storage: str | None, **extra) -> Sweep:
    return Sweep.model_validate(
        {
            "name": "study_test",
            "experiment": "unused",
            "arm": "unused",
            "space": {"erft.p_img": {"low": 0.0, "high": 1.0}, "erft.p_noi": {"low": 0.0, "high": 1.0}},
            "objective": [{"metric": "consistent_1s/subject_consistency"}],
            "trials": 2,
            "storage": storage,
            "heartbeat": {"interval_seconds": 1, "grace_seconds": GRACE_SECONDS},
            **extra,
        }
    )


@pytest.fixture(autouse=True)
def _no_lab_storage(monkeypatch):
    monkeypatch.delenv(runner.STORAGE_ENV, raising=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, home):
    """An empty storage URL: None (the workspace's SQLite file) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").database("optuna")


@pytest.mark.parametrize("sampler", ["tpe", "random", "grid"])
def test_two_workers_with_one_sweep_seed_draw_different_points(home, monkeypatch, sampler):
    """TPE and random sampling seed each worker with sweep.seed + its index (their first points are
    draws from the seed alone); grid workers share the seed, which shuffles the grid they share."""
    grid = {"generate.steps": [1, 2]}
    sweep = _sweep(None, sampler=sampler, **({"grid": grid, "space": {}} if sampler == "grid" else {}))
    drawn = []
    for worker in ("0", "1"):
        monkeypatch.setenv(runner.WORKER_ENV, worker)
        study = runner.make_study(sweep)
        trial = study.ask()
        if sampler == "grid":
            drawn.append({k: trial.suggest_categorical(k, v) for k, v in grid.items()})
        else:
            drawn.append({k: trial.suggest_float(k, 0.0, 1.0) for k in sweep.space})
    assert drawn[0] != drawn[1]  # (both trials are running at once, as with parallel workers)


def test_the_storage_opens_on_postgresql_and_sqlite(storage):
    """SQLite's connect_args (`timeout`) go to SQLite only: psycopg refuses them ("invalid connection
    option"). A trial round-trips, and the storage records heartbeats."""
    study = runner.make_study(_sweep(storage))
    trial = study.ask()
    trial.suggest_float("erft.p_img", 0.0, 1.0)
    study.tell(trial, 0.25)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE]
    assert study._storage.get_heartbeat_interval() == 1


def test_a_dead_trial_is_failed_retried_and_counted_once(storage, home):
    sweep = _sweep(storage)
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)
    study = runner.make_study(sweep)
    done = study.ask()
    done.suggest_float("erft.p_img", 0.0, 1.0)
    study.tell(done, 0.5)
    dead = study.ask()  # a worker starts a trial and its run, beats, and is SIGKILLed
    p_img = dead.suggest_float("erft.p_img", 0.0, 1.0)
    run_id = tracking.start_child(c, exp_id, "parent", f"trial{dead.number:03d}-seed0", {"trial": "1"})
    study._storage.record_heartbeat(dead._trial_id)
    # a trial still running (or dead within its grace period) holds its place: `trials: 2` is never 3
    assert runner.remaining_trials(sweep) == 0, "a running trial holds its place among the trials"
    assert c.get_run(run_id).info.status == "RUNNING"

    time.sleep(GRACE_SECONDS + 1.5)
    # the dead trial is FAIL and re-queued: it does not count, its retry will
    assert runner.remaining_trials(sweep) == 1
    trials = optuna.load_study(study_name=sweep.name, storage=runner.storage_url(sweep)).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "WAITING"]
    assert len(runner.counted(trials)) == 1
    run = MlflowClient(workspace.tracking_uri()).get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["failure"] == runner.STALE_FAILURE

    retry = runner.make_study(sweep).ask()  # what the next worker runs: the dead trial's parameters
    assert retry.number == 2 and retry.params == {"erft.p_img": p_img}
    assert retry.user_attrs[runner.RETRY_OF] == 1  # its folder: trial001's, where training resumes


def test_a_trial_that_died_max_retry_times_counts_as_failed(home):
    sweep = _sweep(None, heartbeat={"interval_seconds": 1, "grace_seconds": GRACE_SECONDS, "max_retry": 0})
    study = runner.make_study(sweep)
    dead = study.ask()
    study._storage.record_heartbeat(dead._trial_id)
    time.sleep(GRACE_SECONDS + 1.5)
    assert runner.remaining_trials(sweep) == 1  # the FAIL counts: no retry to take its place
    assert [t.state.name for t in runner.make_study(sweep).trials] == ["FAIL"]


def test_an_interrupt_fails_the_trials_its_workers_left_running_and_no_one_elses(home):
    """A worker killed after the grace period, or interrupted between Optuna's ask and tell, leaves its
    trial RUNNING: the interrupted sweep marks it FAIL and its MLflow run KILLED. Trials of another
    invocation (tagged with its parent, or there before this one's workers started) stay as they are."""
    sweep = _sweep(None, trials=5)
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)
    study = runner.make_study(sweep)
    elsewhere = study.ask()  # another invocation's trial, running before this one started
    before = {elsewhere.number}
    theirs = study.ask()  # another invocation's, started since: its objective tagged it
    theirs.set_user_attr(runner.OWNER, "other-parent")
    mine = study.ask()  # this invocation's, inside its objective: tagged, with an MLflow run
    mine.set_user_attr(runner.OWNER, "my-parent")
    run_id = tracking.start_child(
        c, exp_id, "my-parent", f"trial{mine.number:03d}-seed0", {"trial": str(mine.number)}
    )
    asked = study.ask()  # this invocation's, asked but interrupted before its objective began
    done = study.ask()
    study.tell(done, 0.5)

    assert runner.fail_left_running(sweep, "my-parent", before) == [mine.number, asked.number]
    states = {t.number: t.state.name for t in runner.make_study(sweep).trials}
    assert states == {elsewhere.number: "RUNNING", theirs.number: "RUNNING", mine.number: "FAIL",
                      asked.number: "FAIL", done.number: "COMPLETE"}  # fmt: skip
    assert c.get_run(run_id).info.status == "KILLED"
    assert (
        runner.fail_left_running(sweep, "my-parent", before) == []
    )  # nothing left: a second call is a no-op


def test_the_storage_is_the_sweep_files_else_the_environments_else_the_workspaces(home, monkeypatch):
    lab = "postgresql+psycopg://svi@db.lab:5432/optuna"
    assert runner.storage_url(_sweep(None)) == f"sqlite:///{home / 'ws' / 'optuna.db'}"
    monkeypatch.setenv(runner.STORAGE_ENV, lab)
    assert runner.storage_url(_sweep(None)) == lab
    assert runner.storage_url(_sweep("sqlite:////tmp/own.db")) == "sqlite:////tmp/own.db"


def test_an_unusable_storage_is_a_config_error_that_hides_the_password(home):
    from harness.run.launch import free_port

    url = f"postgresql://svi:secret@127.0.0.1:{free_port()}/optuna"  # nothing listens there
    with pytest.raises(ConfigError) as e:
        runner.make_study(_sweep(url))
    assert "storage" in str(e.value) and "secret" not in str(e.value)


def test_the_grace_period_must_exceed_the_heartbeat_interval():
    with pytest.raises(ValidationError, match="grace_seconds"):
        _sweep(None, heartbeat={"interval_seconds": 60, "grace_seconds": 60})


FROZEN = {"consistent_1s/subject_consistency": 1.0, "consistent_1s/dynamic_degree": 0.0}  # held still
MOVING = {"consistent_1s/subject_consistency": 0.74, "consistent_1s/dynamic_degree": 1.0}


def test_constraint_values_hold_at_zero_and_a_missing_score_breaks_them():
    c = [runner.Constraint(metric="t/dynamic_degree", min=0.5), runner.Constraint(metric="t/x", max=2.0)]
    assert runner.constraint_values(c, {"t/dynamic_degree": 0.5, "t/x": 3.0}) == [0.0, 1.0]
    assert runner.constraint_values(c, {}) == [float("inf"), float("inf")]
    with pytest.raises(ValidationError, match="give min, max or both"):
        runner.Constraint(metric="t/x")


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_a_frozen_trial_is_kept_but_never_chosen_as_best(home, sampler):
    """Trials told by hand as the objective does: the frozen model's consistency is the highest, and the
    constraint on dynamic degree keeps it from being the best; without the constraint it wins."""
    bound = [{"metric": "consistent_1s/dynamic_degree", "min": 0.5}]
    sweep = _sweep(None, sampler=sampler, constraints=bound, trials=4)
    study = runner.make_study(sweep)
    for scores in (FROZEN, MOVING):
        trial = study.ask()
        runner.record_constraints(trial, sweep.constraints, scores)
        study.tell(trial, scores["consistent_1s/subject_consistency"])
    best = runner.best_feasible(study)
    assert best.value == 0.74 and not runner.feasible(study.trials[0])
    assert len(study.trials) == 2  # the frozen trial is kept, marked
    assert study.best_trial.number == best.number  # Optuna's own choice agrees
    free = runner.make_study(_sweep(None, name="study_free", sampler=sampler))
    for scores in (FROZEN, MOVING):
        trial = free.ask()
        free.tell(trial, scores["consistent_1s/subject_consistency"])
    assert runner.best_feasible(free).value == 1.0  # with no constraint, standing still wins


LOOPING = {  # the first clip repeated: it moves, but shows nothing new (scoring/repetition.py)
    "consistent_50s/subject_consistency": 0.99,
    "consistent_50s/dynamic_degree": 0.875,
    "consistent_50s/non_repetition": 0.0,
}
GOING_ON = {
    "consistent_50s/subject_consistency": 0.74,
    "consistent_50s/dynamic_degree": 1.0,
    "consistent_50s/non_repetition": 0.004,
}


def test_a_looping_trial_is_infeasible_under_the_committed_sweeps_guards(home):
    """The injection_probs sweep's own constraints: a trial whose videos loop passes the motion bound
    (dynamic degree 0.875) and fails the non-repetition one, so the trial that goes on is the best; with
    the motion bound alone the loop would win."""
    sweep = runner.load_sweep("injection_probs")
    assert [c.metric for c in sweep.constraints] == [
        "consistent_50s/dynamic_degree",
        "consistent_50s/non_repetition",
    ]
    assert runner.constraint_values(sweep.constraints, LOOPING)[0] <= 0  # it moves enough
    for bounds, best in ((sweep.constraints, 0.74), (sweep.constraints[:1], 0.99)):
        study = runner.make_study(_sweep(None, name=f"study_loop{len(bounds)}", trials=4))
        for scores in (LOOPING, GOING_ON):
            trial = study.ask()
            runner.record_constraints(trial, bounds, scores)
            study.tell(trial, scores["consistent_50s/subject_consistency"])
        assert runner.best_feasible(study).value == best
    assert not runner.feasible(runner.make_study(_sweep(None, name="study_loop2")).trials[0])


def test_trials_score_what_decides_them_unless_told_all(home):
    sweep = runner.load_sweep("injection_probs")
    exp, _ = runner.trial_experiment(sweep)
    # the objective's, then the constraints'
    assert exp.metrics == "subject_consistency,dynamic_degree,non_repetition"
    everything = sweep.model_copy(update={"score": "all"})
    assert (
        runner.trial_experiment(everything)[0].metrics
        == "vbench,drift,drift_protocols,psnr_ssim,fvd,energy,clip_energy"
    )


def test_an_interrupted_trial_is_failed_without_a_traceback(caplog):
    """Ctrl-C or SIGTERM inside a trial: Optuna marks it FAIL and passes the interrupt on, and logs no
    traceback for it (sweeps/study.py quiet_interrupts); another error is still logged with its own."""
    import optuna

    from sweeps.study import quiet_interrupts

    quiet_interrupts()
    study = optuna.create_study()

    def interrupted(trial):
        raise KeyboardInterrupt

    with caplog.at_level("WARNING", logger="optuna"), pytest.raises(KeyboardInterrupt):
        study.optimize(interrupted, n_trials=1, catch=(Exception,))
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert not [r for r in caplog.records if r.exc_info or "KeyboardInterrupt" in r.getMessage()], caplog.text

    def broken(trial):
        raise ValueError("a real failure")

    with caplog.at_level("WARNING", logger="optuna"):
        study.optimize(broken, n_trials=1, catch=(Exception,))
    assert [r for r in caplog.records if r.exc_info and "a real failure" in r.getMessage()], caplog.text
