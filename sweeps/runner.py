"""Optuna sweeps over experiment arms (`harness sweep NAME`).

A sweep file (`sweeps/<name>.yaml`) names a base experiment and arm, a search space over dotted
config keys, a sampler (TPE, or grid for table-style sweeps), one or more objectives with directions,
the number of trials and the storage (SQLite in the workspace by default). Each trial runs the arm
through the same stages as `harness run` and is one nested MLflow run under the sweep's parent run.
The study resumes when re-run; the paper's probabilities are enqueued as the first trial; a failed
trial is recorded with its error and the sweep goes on. Several workers share one study through its
RDB storage; the total trial count is capped across workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from harness import tracking, workspace
from harness.experiment import Arm, SuiteSpec, load_experiment
from svi.config import ConfigError, format_validation_error

SWEEPS_DIR = Path(__file__).parent
PARENT_ENV = "SVI_SWEEP_PARENT_RUN"
WORKER_ENV = "SVI_SWEEP_WORKER"


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    direction: Literal["maximize", "minimize"] = "maximize"


class Sweep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    experiment: str
    arm: str
    suites: list[SuiteSpec] | None = None
    space: dict[str, Range] = {}
    grid: dict[str, list[float]] = {}
    sampler: Literal["tpe", "grid", "random"] = "tpe"
    objective: list[Objective]
    trials: int = 16
    seed: int = 0
    storage: str | None = None
    enqueue_defaults: dict[str, float] | None = None
    overrides: list[str] = []  # applied to the base experiment (e.g. train.steps=50)


def sweep_names() -> dict[str, str]:
    out = {}
    for f in sorted(SWEEPS_DIR.glob("*.yaml")):
        out[f.stem] = str((yaml.safe_load(f.read_text()) or {}).get("description", "")).strip()
    return out


def load_sweep(name_or_path: str, overrides: list[str] = ()) -> Sweep:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = SWEEPS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown sweep {name_or_path!r}; known sweeps: {', '.join(sweep_names()) or '(none)'}"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        sweep = Sweep.model_validate(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path))) from None
    sweep.overrides = [*sweep.overrides, *overrides]
    if sweep.sampler == "grid" and not sweep.grid:
        raise ConfigError(f"{path}: sampler grid needs `grid:` values per parameter")
    load_experiment(sweep.experiment, sweep.overrides)  # validate the base experiment now
    return sweep


def storage_url(sweep: Sweep) -> str:
    if sweep.storage:
        return sweep.storage
    workspace.home().mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{workspace.home() / 'optuna.db'}"


def make_study(sweep: Sweep) -> optuna.Study:
    if sweep.sampler == "grid":
        sampler = optuna.samplers.GridSampler(sweep.grid, seed=sweep.seed)
    elif sweep.sampler == "random":
        sampler = optuna.samplers.RandomSampler(seed=sweep.seed)
    else:
        # Each worker process gets its own seed, or parallel workers would propose the same points.
        sampler = optuna.samplers.TPESampler(seed=sweep.seed + int(os.environ.get(WORKER_ENV, 0)))
    storage = optuna.storages.RDBStorage(storage_url(sweep), engine_kwargs={"connect_args": {"timeout": 60}})
    study = optuna.create_study(
        study_name=sweep.name,
        storage=storage,
        sampler=sampler,
        directions=[o.direction for o in sweep.objective],
        load_if_exists=True,
    )
    if sweep.enqueue_defaults and not study.trials:
        study.enqueue_trial(sweep.enqueue_defaults, skip_if_exists=True)
    return study


class MlflowTrialCallback:
    """Our small MLflow callback: the trial's state and objective on its run (Optuna's is deprecated)."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id:
            return
        c = tracking.client()
        tracking.set_tags(c, run_id, {"trial": str(trial.number), "trial_state": trial.state.name})
        if trial.values:
            tracking.log_metrics(c, run_id, [("objective", trial.values[0], 0)])


def objective_fn(sweep: Sweep, parent_run: str):
    from harness.runner import run_arm

    exp, source = load_experiment(sweep.experiment, sweep.overrides)
    if sweep.suites:
        exp.suites = sweep.suites
    if sweep.arm not in exp.arms:
        raise ConfigError(f"sweep {sweep.name}: experiment {exp.name} has no arm {sweep.arm!r}")
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params: dict[str, Any] = {}
        for key, r in sweep.space.items():
            params[key] = trial.suggest_float(key, r.low, r.high, log=r.log)
        for key, values in sweep.grid.items():
            params[key] = trial.suggest_categorical(key, values)
        base_arm = exp.arms[sweep.arm]
        name = f"trial{trial.number:03d}"
        exp.arms[name] = Arm(train=base_arm.train, role="arm", overrides={**base_arm.overrides, **params})
        workdir = workspace.home() / "runs" / sweep.name / name
        result = run_arm(
            c, exp_id, parent_run, exp, source, name, 0, tags={"trial": str(trial.number)}, workdir=workdir
        )
        trial.set_user_attr("mlflow_run_id", result.run_id)
        if result.status != "FINISHED":
            raise RuntimeError(result.error or result.status)
        values = []
        for o in sweep.objective:
            v = result.scores.get(o.metric)
            if v is None:
                raise RuntimeError(f"trial produced no {o.metric}; scored: {', '.join(result.scores)}")
            values.append(v)
        return values[0] if len(values) == 1 else tuple(values)

    return objective


def work(sweep: Sweep, parent_run: str, n_trials: int) -> None:
    """One worker: run `n_trials` trials (a failed trial counts; it is recorded and the worker goes on)."""
    if n_trials > 0:
        study = make_study(sweep)
        callbacks = [MlflowTrialCallback()]
        study.optimize(
            objective_fn(sweep, parent_run), n_trials=n_trials, catch=(Exception,), callbacks=callbacks
        )


def remaining_trials(sweep: Sweep) -> int:
    """Trials still to run: a re-run resumes the study up to `sweep.trials` finished trials."""
    study = make_study(sweep)
    return max(0, sweep.trials - len([t for t in study.trials if t.state.is_finished()]))


def run_sweep(sweep: Sweep, sweep_source: str, overrides: list[str], workers: int = 1) -> optuna.Study:
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)  # created before any worker starts
    parent = tracking.start_parent(
        c, exp_id, f"{sweep.name} {time.strftime('%Y-%m-%d %H:%M:%S')}", {"role": "sweep"}
    )
    tracking.set_tags(c, parent, {"role": "sweep", "sweep": sweep.name})
    todo = remaining_trials(sweep)  # creates the study (and enqueues the defaults) before workers race
    status = "FINISHED"
    try:
        if workers <= 1:
            work(sweep, parent, todo)
        else:
            # Split the count exactly, so the study ends with `trials` trials, none lost, none extra.
            shares = [todo // workers + (1 if i < todo % workers else 0) for i in range(workers)]
            env = {**os.environ, PARENT_ENV: parent}
            base = [sys.executable, "-m", "sweeps.runner", sweep_source]
            procs = [
                subprocess.Popen(
                    [*base, str(n), str(sweep.trials), *overrides], env={**env, WORKER_ENV: str(i)}
                )
                for i, n in enumerate(shares)
                if n
            ]
            if any(p.wait() for p in procs):
                status = "FAILED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if status != "KILLED":
            from harness.runner import write_report

            tracking.set_tags(c, parent, {"direction": sweep.objective[0].direction})
            write_report(c, sweep.name, parent, sweep=True)
        tracking.finish(c, parent, status)
    return make_study(sweep)


if __name__ == "__main__":  # a worker started by run_sweep: SOURCE N_TRIALS TOTAL [overrides]
    _sweep = load_sweep(sys.argv[1], sys.argv[4:])
    _sweep.trials = int(sys.argv[3])
    work(_sweep, os.environ[PARENT_ENV], int(sys.argv[2]))
