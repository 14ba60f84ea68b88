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
metrics_backend: random
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
