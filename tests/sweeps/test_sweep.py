"""`harness sweep`: two workers share one SQLite study; every trial is recorded, failures included."""

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cli import main

pytestmark = pytest.mark.slow

EXPERIMENT = """
name: sweepbase
config:
  model: {preset: tiny}
  generate: {steps: 1}
arms:
  base: {train: false, role: baseline}
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: subject_consistency
metrics_backend: toy  # the committed toy networks: a random-init ViT-B/16 costs tens of seconds a trial
"""

SWEEP = """
name: steps_sweep
description: grid over sampling steps; steps=0 is invalid and must fail its trial only
experiment: {experiment}
arm: base
grid:
  generate.steps: [0, 1, 2, 3]
sampler: grid
objective: [{{metric: consistent_1s/subject_consistency, direction: maximize}}]
trials: 4
"""


def test_two_workers_record_every_trial(home, monkeypatch, capsys):
    (home / "base.yaml").write_text(EXPERIMENT)
    sweep_file = home / "steps_sweep.yaml"
    sweep_file.write_text(SWEEP.format(experiment=home / "base.yaml"))
    # the synthetic benchmark is written once here, not raced by the two workers
    from toyworld.synthetic import write_benchmark

    monkeypatch.setenv("SVI_BENCHMARK", str(write_benchmark(home / "bench", samples=1)))

    assert main(["sweep", str(sweep_file), "--workers", "2"]) == 0
    assert "4 trials (3 complete, 1 fail)" in capsys.readouterr().out

    study = optuna.load_study(study_name="steps_sweep", storage=f"sqlite:///{home / 'ws' / 'optuna.db'}")
    states = sorted(t.state.name for t in study.trials)
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL"]
    assert sorted(t.params["generate.steps"] for t in study.trials) == [0, 1, 2, 3]

    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("steps_sweep")
    runs = c.search_runs([exp.experiment_id])
    parent = [r for r in runs if r.data.tags.get("role") == "sweep"]
    trials = [r for r in runs if "trial" in r.data.tags]
    assert len(parent) == 1 and len(trials) == 4
    assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id for r in trials)
    failed = [r for r in trials if r.info.status == "FAILED"]
    assert len(failed) == 1 and "generate.steps" in failed[0].data.tags["error"]
    finished = [r for r in trials if r.info.status == "FINISHED"]
    assert all("objective" in r.data.metrics for r in finished)
    table = (home / "ws" / "reports" / "steps_sweep" / "report.md").read_text()
    assert "objective" in table.lower() and "FAILED" in table


def test_a_sigterm_to_a_two_worker_sweep_stops_every_process_and_marks_what_ran(home, monkeypatch):
    """`kill <pid>` of the sweep's parent alone (a scheduler, a process manager): the workers and the
    trainings they launched stop too (none is left under PID 1), their Optuna trials end FAIL and
    their MLflow runs KILLED, and the sweep's parent run KILLED: nothing is left RUNNING."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil
    import yaml

    from harness.run.launch import child_env
    from tests.harness.mini import mini_experiment
    from toyworld.synthetic import write_benchmark

    # a training far longer than the test: it is running when the signal comes
    (home / "base.yaml").write_text(mini_experiment("sigtermbase", steps=100_000, checkpoint_every=50_000))
    sweep = {
        "name": "sigterm_sweep", "experiment": str(home / "base.yaml"), "arm": "full", "trials": 2,
        "space": {"erft.p_img": {"low": 0.0, "high": 1.0}},
        "objective": [{"metric": "consistent_1s/subject_consistency", "direction": "maximize"}],
    }  # fmt: skip
    sweep_file = home / "sigterm_sweep.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep))
    env = {
        **child_env(),
        "HARNESS_HOME": str(home / "ws"),
        "SVI_BENCHMARK": str(write_benchmark(home / "bench", samples=1)),
        "OMP_NUM_THREADS": "1",
    }
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen(
        [sys.executable, "-m", "cli", "sweep", str(sweep_file), "--workers", "2"],
        env=env, cwd=root, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        me = psutil.Process(parent.pid)
        deadline = time.monotonic() + 400
        while True:  # both workers training: each has a child of its own
            workers = me.children()
            if len(workers) == 2 and all(w.children() for w in workers):
                break
            assert parent.poll() is None, parent.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the two trainings did not start"
            time.sleep(1)
        tree = me.children(recursive=True)
        assert len(tree) >= 4
        parent.send_signal(signal.SIGTERM)  # the parent alone, not its group
        assert parent.wait(timeout=240) == 130
        _, alive = psutil.wait_procs(tree, timeout=60)
        assert not alive, [(p.pid, p.cmdline()[:4]) for p in alive]
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)  # whatever the test leaves, never the harness's promise
        except ProcessLookupError:
            pass

    study = optuna.load_study(study_name="sigterm_sweep", storage=f"sqlite:///{home / 'ws' / 'optuna.db'}")
    assert len(study.trials) == 2 and all(t.state.name == "FAIL" for t in study.trials), study.trials
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("sigterm_sweep").experiment_id])
    statuses = sorted(
        ("sweep" if r.data.tags.get("role") == "sweep" else "trial", r.info.status) for r in runs
    )
    assert statuses == [("sweep", "KILLED"), ("trial", "KILLED"), ("trial", "KILLED")], statuses
