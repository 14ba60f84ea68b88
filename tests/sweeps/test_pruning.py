"""`harness sweep` with a pruner: probes during training, a pruned trial, and the sweep goes on.

Read back through the Optuna storage and the MLflow client. The threshold pruner's upper bound lies
below any possible probe value (a colour shift is >= 0), so every trial is pruned at its first probe
after the warm-up: the 100-step trial at step 4 (its training far from done, so the children are
stopped), while the 2-step trial ends inside the warm-up and completes. colour_shift needs no network,
so the probes cost the parent almost nothing.
"""

import json

import optuna
import psutil
import pytest
from mlflow.tracking import MlflowClient

from cli import main

pytestmark = pytest.mark.slow

EXPERIMENT = """
name: prunebase
config:
  variant: shot
  model: {preset: tiny}
  lora: {rank: 4, alpha: 4}
  memory: {capacity: 4, budget_bytes: 16777216, warmup_steps: 2}
  train: {steps: 100, lr: 0.001, checkpoint_every: 4}
  generate: {steps: 2}
arms:
  full: {}
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: colour_shift
metrics_backend: random
"""

SWEEP = """
name: prune_sweep
experiment: {experiment}
arm: full
grid:
  train.steps: [2, 100]
sampler: grid
objective: [{{metric: consistent_1s/colour_shift, direction: minimize}}]
trials: 2
enqueue_defaults: {{train.steps: 100}}   # the trial to prune runs first; the sweep must go on after it
pruner:
  kind: threshold
  upper: -1.0            # a colour shift is within [0, 1]: always above
  n_warmup_steps: 4
  metric: colour_shift
  backend: random
  every: 2
  clips: 2
"""


def test_threshold_pruner_prunes_during_training_and_the_sweep_goes_on(home, monkeypatch, capsys):
    from toyworld.synthetic import write_benchmark

    monkeypatch.setenv("SVI_BENCHMARK", str(write_benchmark(home / "bench", samples=1)))
    (home / "base.yaml").write_text(EXPERIMENT)
    sweep_file = home / "prune_sweep.yaml"
    sweep_file.write_text(SWEEP.format(experiment=home / "base.yaml"))

    assert main(["sweep", str(sweep_file)]) == 0
    assert "2 trials (1 complete, 1 pruned)" in capsys.readouterr().out

    study = optuna.load_study(study_name="prune_sweep", storage=f"sqlite:///{home / 'ws' / 'optuna.db'}")
    by_steps = {t.params["train.steps"]: t for t in study.trials}
    pruned, done = by_steps[100], by_steps[2]
    assert pruned.number == 0 and pruned.state == optuna.trial.TrialState.PRUNED
    assert sorted(pruned.intermediate_values) == [
        2,
        4,
    ]  # a probe every 2 steps; pruned at the first after warm-up
    assert done.state == optuna.trial.TrialState.COMPLETE
    assert sorted(done.intermediate_values) == [2]  # the last step's probe, inside the warm-up
    assert all(0.0 <= v <= 1.0 for v in [*pruned.intermediate_values.values(), done.intermediate_values[2]])

    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("prune_sweep")
    runs = {r.data.tags.get("trial"): r for r in c.search_runs([exp.experiment_id])}
    parent = runs[None]
    assert parent.info.status == "FINISHED"
    killed, finished = runs["0"], runs["1"]
    assert killed.info.status == "KILLED" and finished.info.status == "FINISHED"
    assert killed.data.tags["pruned"] == "true" and killed.data.tags["pruned_step"] == "4"
    assert killed.data.tags["trial_state"] == "PRUNED" and "pruned" not in finished.data.tags
    assert "objective" not in killed.data.metrics and "objective" in finished.data.metrics
    history = c.get_metric_history(killed.info.run_id, "probe/colour_shift")
    # logged in the metric's units; reported to Optuna as is (lower is better, the study minimises)
    assert {m.step: m.value for m in history} == pytest.approx(pruned.intermediate_values)
    assert [m.step for m in c.get_metric_history(finished.info.run_id, "probe/colour_shift")] == [2]
    assert c.get_metric_history(killed.info.run_id, "train/loss")  # the curves up to the stop

    # the pruned trial's training was stopped midway and left resumable; no training process is left
    train = home / "ws" / "runs" / "prune_sweep" / "trial000" / "train"
    assert (train / "checkpoints" / "latest").is_file() and not (train / "lora.safetensors").exists()
    # claimed by its configuration (a changed one is recognised) but not done: the next run resumes it
    assert json.loads((train / "stage.json").read_text())["status"] == "running"
    assert (train / "probes" / "step_00000004.mp4").is_file() and (
        train / "probes" / "reference.png"
    ).is_file()
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if str(train) in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers

    report = (home / "ws" / "reports" / "prune_sweep" / "report.md").read_text()
    section = report.split("## Pruned trials")[1].split("## ")[0]
    assert "| 0 | PRUNED | 4 |" in section and killed.info.run_id in section
