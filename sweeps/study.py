"""Optuna sweeps over experiment arms (`harness sweep NAME`).

A sweep file (`sweeps/<name>.yaml`) names a base experiment and arm, a search space over dotted
config keys, a sampler (TPE, or grid for table-style sweeps), one or more objectives with directions,
the number of trials and the storage (default: $HARNESS_SWEEP_STORAGE, else SQLite in the workspace).
Each trial runs the arm through the same stages as `harness run` and is one nested MLflow run under
the sweep's parent run. The study resumes when re-run; the paper's probabilities are enqueued as the
first trial; a failed trial is recorded with its error and the sweep goes on. Several workers share
one study through its RDB storage; the total trial count is capped across workers.

Pruning (`pruner:`): the trial's training writes a short probe rollout every `pruner.every` steps
(`train.probe_every`, see svi/training/train.py). While training runs, the worker scores each new probe with
`pruner.metric`, one window per probe clip, reduces the per-clip values to one number (`reduce`),
logs it to the trial's run as `probe/<metric>` at that training step and reports it to Optuna. When
the pruner says so, the training children are stopped (their checkpoints stay), the trial's run is
marked KILLED with tag `pruned=true`, and the trial is PRUNED. Optuna compares intermediate values in
the study's direction, so the reported value is negated when the metric's better direction is not
the objective's (a drift measure where lower is better, in a maximised study); `threshold` bounds are
given in the metric's own units, as logged. Optuna does not prune multi-objective studies.

Dead workers (`heartbeat:`): a running trial's worker records a heartbeat in the storage (Optuna's
RDB heartbeat). A trial silent for the grace period (its worker was SIGKILLed, its node lost) is
failed by the next worker that asks for a trial or the next `harness sweep`: its MLflow run is marked
FAILED (tag `failure=stale heartbeat`) and Optuna re-queues it with the same parameters (at most
`max_retry` times). The retry works in the dead trial's folder, so its training resumes from the last
checkpoint, and it takes the dead trial's place in the count of `trials`.

Constraints (`constraints:`): bounds on scores the trial is scored on beside its objective, such as
`{metric: consistent_50s/dynamic_degree, min: 0.5}`, so that a trial cannot win by standing still (a
frozen model maximises consistency). Each trial records one value per bound (`constraint_values`:
<= 0 when it holds) with Optuna's `Trial.set_constraint` (its samplers steer by them) and as its user
attribute `constraints`; the best trial is chosen among feasible trials only (`best_feasible`).
Infeasible trials are kept, tagged `feasible=false` on their MLflow run, and never chosen.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness import tracking
from harness.base import workspace
from harness.base.configs import SWEEPS_DIR
from harness.base.console import say
from harness.base.redact import redact_uri, register_uri, scrub
from harness.declare.experiment import (
    MAX_OVERRIDES,
    MAX_SUITES,
    MAX_UNITS,
    Experiment,
    SuiteSpec,
    load_experiment,
)
from harness.run import probe_watch as probes
from harness.run.launch import die_with_parent, interrupt, threads_per_rank
from harness.run.pipeline import StopArm
from harness.tracking import keys
from svi.config import ConfigError, format_validation_error, read_mapping

PARENT_ENV = "SVI_SWEEP_PARENT_RUN"
WORKER_ENV = "SVI_SWEEP_WORKER"
STORAGE_ENV = "HARNESS_SWEEP_STORAGE"
DEFAULT_PROBE_METRIC = "colour_shift"  # scoring/drift.py: a direct drift measure, no network


class Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False


class Objective(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metric: str
    direction: Literal["maximize", "minimize"] = "maximize"


class Constraint(BaseModel):
    """A bound on one score of the trial: `min` and/or `max`, in the metric's units as logged."""

    model_config = ConfigDict(extra="forbid")
    metric: str  # <track>/<metric>, as an objective
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _a_bound(self) -> Constraint:
        if self.min is None and self.max is None:
            raise ValueError(f"constraint on {self.metric}: give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"constraint on {self.metric}: min {self.min} is above max {self.max}")
        return self


CONSTRAINTS_ATTR = "constraints"  # the trial's user attribute: one value per bound, <= 0 when it holds


def constraint_values(constraints: list[Constraint], scores: dict[str, float]) -> list[float]:
    """One value per bound of `constraints` on `scores` (<= 0: the bound holds; its size: how far it is
    broken, in the metric's units). A score the trial lacks breaks its bounds (+inf)."""
    out = []
    for c in constraints:
        v = scores.get(c.metric)
        for bound, sign in ((c.min, -1.0), (c.max, 1.0)):
            if bound is not None:
                out.append(float("inf") if v is None or v != v else sign * (v - bound))
    return out


def feasible(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial holds every bound it recorded (a trial of a sweep without constraints does)."""
    return all(v <= 0 for v in trial.user_attrs.get(CONSTRAINTS_ATTR, []))


def best_feasible(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best complete trial of a single-objective study among those that hold their bounds; None when
    none does. (Optuna's `best_trial` reads constraints only where its sampler stored them.)"""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and feasible(t)]
    if not done:
        return None
    pick = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return pick(done, key=lambda t: t.value)


def record_constraints(trial: optuna.Trial, constraints: list[Constraint], scores: dict[str, float]) -> bool:
    """Record a finished trial's bounds: for Optuna (`set_constraint`: its samplers steer by them and its
    best trial is a feasible one) and as the user attribute CONSTRAINTS_ATTR, which the harness reads.
    -> whether the trial holds every bound."""
    values = constraint_values(constraints, scores)
    names = [
        f"{c.metric}{op}{b}" for c in constraints for op, b in ((">=", c.min), ("<=", c.max)) if b is not None
    ]
    for name, value in zip(names, values):
        trial.set_constraint(name, value)
    trial.set_user_attr(CONSTRAINTS_ATTR, values)
    return all(v <= 0 for v in values)


class Pruner(BaseModel):
    """When to stop a trial early, from the drift of probe rollouts during its training."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["median", "percentile", "threshold", "none"] = "median"
    metric: str = DEFAULT_PROBE_METRIC  # a registry metric, scored per probe clip
    backend: str | None = None  # metric backend; None: the experiment's metrics_backend
    # change: last clip - first clip (drift); mean: mean over clips; last: the last clip's value
    reduce: Literal["change", "mean", "last"] = "change"
    every: int | None = Field(None, ge=1)  # training steps between probes; None: train.checkpoint_every
    # generated clips between scorings of a trial's videos so far (pruning while it generates); None: none
    every_clips: int | None = Field(5, ge=2)
    clips: int = Field(3, ge=1)  # clips per probe rollout
    n_startup_trials: int = Field(5, ge=0)  # median, percentile: trials that are never pruned
    n_warmup_steps: int = Field(0, ge=0)  # no pruning before this training step
    interval_steps: int = Field(1, ge=1)
    n_min_trials: int = Field(1, ge=1)  # median, percentile: trials reported at a step before comparing
    percentile: float | None = Field(None, gt=0.0, lt=100.0)  # percentile: prune below this percentile
    lower: float | None = None  # threshold: prune when the probe value is below / above (metric units)
    upper: float | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        from scoring.specs import ALL

        if v in ALL and probes.needs_reference(v):
            raise ValueError(f"{v} needs a reference video or set; probes have none")
        if v not in probes.usable_metrics():
            raise ValueError(f"unknown metric {v!r}; choose one of {', '.join(probes.usable_metrics())}")
        return v

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, v: str | None) -> str | None:
        if v is not None and v not in probes.backends():
            raise ValueError(f"unknown backend {v!r}; choose one of {', '.join(probes.backends())}")
        return v

    @model_validator(mode="after")
    def _keys_fit_kind(self) -> Pruner:
        given = self.model_fields_set
        only = {
            "percentile": {"percentile"},
            "lower": {"threshold"},
            "upper": {"threshold"},
            "n_startup_trials": {"median", "percentile"},
            "n_min_trials": {"median", "percentile"},
        }
        if self.kind != "none":
            for key, kinds in only.items():
                if key in given and self.kind not in kinds:
                    raise ValueError(f"`{key}` applies to kind {' or '.join(sorted(kinds))}, not {self.kind}")
        if self.kind == "percentile" and self.percentile is None:
            raise ValueError(
                "kind percentile needs `percentile` (e.g. 25.0: prune below the 25th percentile)"
            )
        if self.kind == "threshold":
            if self.lower is None and self.upper is None:
                raise ValueError("kind threshold needs `lower`, `upper` or both (in the metric's units)")
            if self.lower is not None and self.upper is not None and self.lower > self.upper:
                raise ValueError(f"lower ({self.lower}) must not exceed upper ({self.upper})")
        if self.reduce == "change" and self.clips < 2:
            raise ValueError("reduce: change compares the last clip with the first: needs clips >= 2")
        return self

    @property
    def enabled(self) -> bool:
        return self.kind != "none"


class Heartbeat(BaseModel):
    """How a trial whose worker died is noticed and retried (Optuna's RDB heartbeat, see module doc)."""

    model_config = ConfigDict(extra="forbid")
    # One small UPDATE a minute per running trial: nothing for the database, even with many workers.
    interval_seconds: int = Field(60, ge=1)
    # Five missed beats before a trial is taken for dead: a worker stalled for a while (a database
    # failover, a swapping host) keeps its trial, and a dead trial's retry waits at most five minutes,
    # little beside a trial's training.
    grace_seconds: int = Field(300, ge=1)
    # A trial whose worker dies three times (one that kills its node?) stays FAIL and counts as one.
    max_retry: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _grace_after_beat(self) -> Heartbeat:
        if self.grace_seconds <= self.interval_seconds:
            raise ValueError(
                f"grace_seconds ({self.grace_seconds}) must exceed interval_seconds ({self.interval_seconds}), "
                "or live trials are failed between two heartbeats; allow a few missed beats (5x the interval)"
            )
        return self


class Sweep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    experiment: str
    arm: str
    # A sweep file may come from anyone, as an experiment file may: what drives work is bounded with the
    # experiment's bounds (harness/declare/experiment.py), a trial counting as one unit.
    suites: list[SuiteSpec] | None = Field(None, max_length=MAX_SUITES)
    space: dict[str, Range] = Field({}, max_length=MAX_OVERRIDES)
    grid: dict[str, Annotated[list[float], Field(max_length=MAX_UNITS)]] = Field({}, max_length=MAX_OVERRIDES)
    sampler: Literal["tpe", "grid", "random"] = "tpe"
    objective: list[Objective] = Field(max_length=MAX_SUITES)
    constraints: list[Constraint] = Field([], max_length=MAX_SUITES)  # bounds on scores besides the objective
    # needed: trials score only the objectives' and constraints' metrics; all: the experiment's metrics
    score: Literal["needed", "all"] = "needed"
    trials: int = Field(16, ge=1, le=MAX_UNITS)
    seed: int = 0
    storage: str | None = None
    enqueue_defaults: dict[str, float] | None = Field(None, max_length=MAX_OVERRIDES)
    overrides: list[str] = Field([], max_length=MAX_OVERRIDES)  # on the base experiment (train.steps=50)
    pruner: Pruner | None = None  # None: no pruning, no probes
    heartbeat: Heartbeat = Heartbeat()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        from harness.base.workspace import check_name

        return check_name(v, "sweep name")

    @property
    def searched(self) -> list[str]:
        """The dotted configuration keys the sweep varies."""
        return list(dict.fromkeys([*self.space, *self.grid]))


def sweep_names() -> dict[str, str]:
    out = {}
    for f in sorted(SWEEPS_DIR.glob("*.yaml")):
        try:  # the bounded reader of every declaration (svi/config.py)
            out[f.stem] = str(read_mapping(f).get("description", "")).strip()
        except ConfigError:  # listed all the same: `harness sweep NAME` says what is wrong with it
            out[f.stem] = f"(unreadable: see harness sweep {f.stem})"
    return out


def load_sweep(name_or_path: str, overrides: list[str] = (), check_inputs: bool = False) -> Sweep:
    """Read and validate a sweep: its own keys, its base experiment (with `overrides`), the arm, the
    objective metrics (scored on the trial's tracks) and the pruner. `check_inputs` also checks the
    files a trial needs (weights, benchmark samples, training clips), as `harness run` does."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = SWEEPS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown sweep {name_or_path!r}; known sweeps: {', '.join(sweep_names()) or '(none)'}"
        )
    raw = read_mapping(path)  # bounded: size, aliases, nesting, repeated keys (svi/config.py)
    try:
        sweep = Sweep.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, str(path))) from None
    sweep.overrides = [*sweep.overrides, *overrides]
    if sweep.sampler == "grid" and not sweep.grid:
        raise ConfigError(f"{path}: sampler grid needs `grid:` values per parameter")
    exp, source = trial_experiment(sweep)  # validates the base experiment now
    if sweep.arm not in exp.arms:
        raise ConfigError(
            f"{path}: experiment {exp.name} has no arm {sweep.arm!r}; its arms: {', '.join(exp.arms)}"
        )
    _check_objectives(sweep, exp, path)
    if sweep.pruner is not None and sweep.pruner.enabled:
        if len(sweep.objective) > 1:
            raise ConfigError(
                f"{path}: pruner.kind {sweep.pruner.kind} with {len(sweep.objective)} objectives: Optuna "
                "does not prune multi-objective studies; keep one objective or set pruner.kind: none"
            )
        if not exp.arms[sweep.arm].train:
            raise ConfigError(
                f"{path}: pruning needs training (its probes are rollouts at training steps), but arm "
                f"{sweep.arm!r} of {exp.name} has train: false; set pruner.kind: none"
            )
    if check_inputs:
        from harness.declare.bounds import check_sizes
        from harness.declare.plan import Plan, arm_plan, check_plan

        unit = arm_plan(exp, source, sweep.arm, sweep.seed, overrides=sweep_defaults(sweep))
        check_sizes((unit,))
        check_plan(Plan(exp, source, (unit,)))
    return sweep


def check_scale(sweep: Sweep, trials: int | None, workers: int) -> None:
    """`--trials` within the bound of a sweep file's `trials:` and `--workers` within what this machine
    holds (harness/declare/bounds.py `max_workers`): else a ConfigError naming the bound."""
    from harness.declare.bounds import max_workers
    from harness.declare.plan import arm_plan
    from harness.declare.preview import meta_model

    if trials is not None and not 1 <= trials <= MAX_UNITS:
        raise ConfigError(
            f"--trials {trials}: a sweep runs 1 to {MAX_UNITS} trials (as `trials:` in its file)"
        )
    if workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if workers > 1:
        exp, source = trial_experiment(sweep)
        unit = arm_plan(exp, source, sweep.arm, sweep.seed, overrides=sweep_defaults(sweep))
        most, why = max_workers(unit.cfg, meta_model(unit.cfg))
        if workers > most:
            raise ConfigError(
                f"--workers {workers}: at most {most} here ({why}); each worker runs one trial at a time"
            )


def trial_experiment(sweep: Sweep) -> tuple[Experiment, Path]:
    """The base experiment as the trials see it: with the sweep's overrides and suites, scored on the
    metrics its objectives and constraints name (`score: needed`, the default: a trial's time goes to
    what decides it) or on the experiment's own (`score: all`)."""
    exp, source = load_experiment(sweep.experiment, sweep.overrides)
    if sweep.suites:
        exp = exp.model_copy(update={"suites": sweep.suites})
    if sweep.score == "needed":
        from scoring.specs import expand

        try:
            metrics = ",".join(expand(",".join(needed_metrics(sweep))))
        except ValueError as e:
            raise ConfigError(f"sweep {sweep.name}: objective or constraint: {e}") from None
        exp = exp.model_copy(update={"metrics": metrics})
    return exp, source


def needed_metrics(sweep: Sweep) -> list[str]:
    """The metrics of the sweep's objectives and constraints (`<track>/<metric>`), in order."""
    names = [keys.split_score_key(o.metric) for o in [*sweep.objective, *sweep.constraints]]
    return list(dict.fromkeys(p[3] for p in names if p is not None))


def sweep_defaults(sweep: Sweep) -> dict[str, Any]:
    """The configuration checked before the sweep starts: the enqueued first trial, if any, else the
    arm as declared (a sampled value that proves invalid fails its own trial only)."""
    return dict(sweep.enqueue_defaults or {})


def _check_objectives(sweep: Sweep, exp: Experiment, path: Path) -> None:
    from scoring.specs import expand

    tracks, metrics = exp.tracks, expand(exp.metrics)
    for o in [*sweep.objective, *sweep.constraints]:
        parsed = keys.split_score_key(o.metric)
        what = "objective" if isinstance(o, Objective) else "constraint"
        if parsed is None or parsed[0] not in tracks or parsed[3] not in metrics:
            raise ConfigError(
                f"{path}: {what} metric {o.metric!r} is not scored by the trials; choose "
                f"<track>/<metric> with track one of {', '.join(tracks) or '(no suites)'} and metric one of "
                f"{', '.join(metrics)}"
            )


def storage_url(sweep: Sweep) -> str:
    """The study's database: the sweep file's `storage:`, else $HARNESS_SWEEP_STORAGE (a lab's
    PostgreSQL for every sweep), else SQLite in the workspace."""
    if sweep.storage:
        return sweep.storage
    if os.environ.get(STORAGE_ENV, "").strip():
        return os.environ[STORAGE_ENV].strip()
    workspace.home().mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{workspace.home() / 'optuna.db'}"


def make_pruner(p: Pruner | None, sign: int = 1) -> optuna.pruners.BasePruner:
    """The Optuna pruner; `sign` is -1 when reported values are the negated metric (see module doc)."""
    if p is None or not p.enabled:
        return optuna.pruners.NopPruner()
    common = {"n_warmup_steps": p.n_warmup_steps, "interval_steps": p.interval_steps}
    if p.kind == "threshold":
        lower, upper = (p.lower, p.upper) if sign > 0 else (_neg(p.upper), _neg(p.lower))
        return optuna.pruners.ThresholdPruner(lower=lower, upper=upper, **common)
    common.update(n_startup_trials=p.n_startup_trials, n_min_trials=p.n_min_trials)
    if p.kind == "percentile":
        return optuna.pruners.PercentilePruner(p.percentile, **common)
    return optuna.pruners.MedianPruner(**common)


def _neg(v: float | None) -> float | None:
    return None if v is None else -v


def worker_index() -> int:
    """This worker's index among the sweep's `--workers` (0 for the sweep process itself)."""
    return int(os.environ.get(WORKER_ENV, 0))


def make_sampler(sweep: Sweep) -> optuna.samplers.BaseSampler:
    if sweep.sampler == "grid":
        # One seed for all workers: it shuffles the grid, and workers share points by their index in it.
        return optuna.samplers.GridSampler(sweep.grid, seed=sweep.seed)
    # Each worker process gets its own seed, or parallel workers would propose the same points (TPE's
    # first trials and random sampling draw from the seed alone).
    seed = sweep.seed + worker_index()
    if sweep.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_storage(sweep: Sweep) -> optuna.storages.RDBStorage:
    """The study's RDB storage with heartbeats on; a ConfigError that says what to do when the database
    cannot be used (no driver, no answer)."""
    import sqlalchemy
    import sqlalchemy.exc

    url = storage_url(sweep)
    register_uri(url)  # masked wherever a message might quote it
    shown = redact_uri(url)
    try:
        sqlalchemy.engine.make_url(url).port  # noqa: B018 - a malformed URL (a non-numeric port) raises
    except (ValueError, sqlalchemy.exc.ArgumentError) as e:
        raise ConfigError(
            f"sweep {sweep.name}: the Optuna storage URL {shown} is malformed ({scrub(str(e))}); fix "
            f"`storage:` in the sweep file (or {STORAGE_ENV})"
        ) from None
    if url.startswith("sqlite"):
        # SQLite waits up to a minute for a worker holding the file (a PostgreSQL driver rejects
        # `timeout`: "invalid connection option").
        engine: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        # A worker keeps its connections for hours: pre-ping replaces one that the database or a
        # firewall dropped meanwhile, instead of failing the heartbeat (and so a live trial) on it.
        engine = {"pool_pre_ping": True}
        if url.startswith("postgresql"):  # a wrong host costs seconds, not the OS's TCP timeout
            engine["connect_args"] = {"connect_timeout": 10}
    hb = sweep.heartbeat
    try:
        with warnings.catch_warnings():  # Optuna calls its heartbeat experimental; it is what we want
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=hb.interval_seconds,
                grace_period=hb.grace_seconds,
                heartbeat_stale_trial_callback=StaleTrialCallback(hb),
            )
    except ImportError as e:
        raise ConfigError(
            f"sweep {sweep.name}: storage {shown}: no database driver ({e.__cause__ or e}). For PostgreSQL "
            "write postgresql+psycopg://USER@HOST:5432/DATABASE and install psycopg "
            "(pip install 'psycopg[binary]', or the project's `team` extra)"
        ) from None
    except sqlalchemy.exc.OperationalError as e:
        text = scrub(str(e.orig or e).strip())
        first = text.splitlines()[0][:300] if text else ""
        raise ConfigError(
            f"sweep {sweep.name}: the Optuna storage {shown} cannot be opened ({first}). Start the "
            "database, create the database named in the URL, give its password (PGPASSWORD or "
            f"~/.pgpass for PostgreSQL), or fix `storage:` in the sweep file (or {STORAGE_ENV})"
        ) from None


def make_study(sweep: Sweep, pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    study = optuna.create_study(
        study_name=sweep.name,
        storage=make_storage(sweep),
        sampler=make_sampler(sweep),
        pruner=pruner,
        directions=[o.direction for o in sweep.objective],
        load_if_exists=True,
    )
    if sweep.enqueue_defaults and not study.trials:
        study.enqueue_trial(sweep.enqueue_defaults, skip_if_exists=True)
    return study


# -- trials whose worker died ----------------------------------------------------------------------

STALE_FAILURE = "stale heartbeat"  # the MLflow tag `failure` of a dead trial's run
RETRY_OF = "retry_of"  # user attribute and MLflow tag of a retried trial: the first attempt's number
OWNER = "sweep_run"  # user attribute: the MLflow run of the invocation whose worker runs the trial


class StaleTrialCallback:
    """Optuna's callback for a trial failed for its silent heartbeat: its MLflow run is marked FAILED,
    then Optuna's retry re-queues it (same parameters) unless it was retried `max_retry` times."""

    def __init__(self, heartbeat: Heartbeat):
        self.heartbeat = heartbeat
        self.retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=heartbeat.max_retry)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        first = trial.system_attrs.get("failed_trial", trial.number)  # the first of a series of retries
        tries = len(trial.system_attrs.get("retry_history", [])) + 1
        run_id = fail_stale_run(study.study_name, trial, self.heartbeat.grace_seconds)
        retried = tries <= self.heartbeat.max_retry
        say(
            f"trial {trial.number} had no heartbeat for {self.heartbeat.grace_seconds} s (its worker died): "
            f"FAIL{f', MLflow run {run_id} FAILED' if run_id else ''}"
            + (f"; retried (attempt {tries + 1})" if retried else f"; not retried ({tries} attempts)")
        )
        # The retry copies the user attributes: it must not inherit the dead trial's MLflow run nor its
        # owner, and it learns the folder of the first attempt, where its training resumes from the last
        # checkpoint.
        attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("mlflow_run_id", OWNER)}
        trial.user_attrs = {**attrs, RETRY_OF: first}
        self.retry(study, trial)


def fail_stale_run(experiment: str, trial: optuna.trial.FrozenTrial, grace_seconds: int) -> str | None:
    """Mark the MLflow run of a dead trial FAILED (tag failure=stale heartbeat); -> its run id, or None
    when it has none that is still RUNNING. A tracking problem is reported, never raised: the sweep
    goes on."""
    return _end_trial_run(
        experiment, trial, "FAILED",
        {
            "failure": STALE_FAILURE,
            "trial_state": "FAIL",
            "error": f"the trial's worker sent no heartbeat for {grace_seconds} s: it was killed "
            "or its host was lost; the sweep retries the trial",
        },
    )  # fmt: skip


def _end_trial_run(experiment: str, trial: optuna.trial.FrozenTrial, status: str, tags: dict) -> str | None:
    """Give the trial's MLflow run, if it is still RUNNING, `tags` and `status`; -> its run id, or None.
    Reported, never raised."""
    try:
        c = tracking.client()
        exp = c.get_experiment_by_name(experiment)
        if exp is None:
            return None
        run_id = trial.user_attrs.get("mlflow_run_id")  # known early when the trial prunes on probes
        if run_id and c.get_run(run_id).info.status != "RUNNING":
            return None
        if not run_id:  # the run is found by its trial number, among runs started since the trial
            since_ms = int(trial.datetime_start.timestamp() * 1000) - 1000 if trial.datetime_start else 0
            runs = c.search_runs(
                [exp.experiment_id],
                filter_string=f"tags.trial = '{trial.number}' and attributes.status = 'RUNNING' "
                f"and attributes.start_time >= {since_ms}",
                max_results=10,
            )
            if not runs:
                return None
            run_id = runs[0].info.run_id
        tracking.set_tags(c, run_id, tags)
        tracking.finish(c, run_id, status)
        return run_id
    except Exception as e:
        say(f"trial {trial.number}: could not mark its MLflow run {status} ({type(e).__name__}: {e})")
        return None


def fail_left_running(sweep: Sweep, parent_run: str, before: set[int]) -> list[int]:
    """After an interrupt, once this invocation's workers are gone: the trials they left RUNNING are
    marked FAIL and their MLflow runs KILLED, as an interrupted worker marks its own. A worker leaves one
    behind when the signal lands between Optuna's `ask` and `tell` (outside the objective), or when it
    outlives the grace period and is killed. Theirs: tagged with `parent_run` by the objective (OWNER),
    or untagged and not in `before` (the trials that existed when they started: a trial asked but not
    yet in the objective). Another invocation's running trials carry its own parent. -> the numbers."""
    study = make_study(sweep)
    left = [
        t for t in study.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.RUNNING
        and t.user_attrs.get(OWNER, None if t.number in before else parent_run) == parent_run
    ]  # fmt: skip
    for t in left:
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        _end_trial_run(sweep.name, t, "KILLED", {"trial_state": "FAIL", "error": "interrupted"})
    if left:
        say(f"trial(s) {', '.join(str(t.number) for t in left)} of {sweep.name}: interrupted, marked FAIL")
    return [t.number for t in left]


def counted(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials that count towards `trials`: finished ones (complete, pruned, failed), except a dead
    trial that was retried (its retry takes its place)."""
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return [t for t in trials if t.state.is_finished() and t.number not in retried]


class MlflowTrialCallback:
    """Our small MLflow callback: the trial's state and objective on its run (Optuna's is deprecated)."""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        if not run_id:
            return
        c = tracking.client()
        tracking.set_tags(c, run_id, {"trial": str(trial.number), "trial_state": trial.state.name})
        # (a pruned trial's value is its last intermediate value, not an objective)
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.values:
            tracking.log_metrics(c, run_id, [(keys.OBJECTIVE, trial.values[0], 0)])


# -- pruning on probe rollouts -------------------------------------------------------------------


class ProbePruned(StopArm, optuna.TrialPruned):
    """Stops the trial's arm (its run KILLED, tagged pruned) and marks the Optuna trial PRUNED."""


def probe_metric(sweep: Sweep, exp_backend: str):
    """The pruner's metric with its networks; a ConfigError when it cannot be built here."""
    p = sweep.pruner
    try:
        return probes.build_metric(p.metric, p.backend or exp_backend)
    except ConfigError as e:
        raise ConfigError(
            f"sweep {sweep.name}: pruner.metric: {e}. Choose another metric or backend, or set "
            "pruner.kind: none"
        ) from None


def objective_fn(sweep: Sweep, parent_run: str, probe: tuple | None = None):
    """The Optuna objective; `probe` = (metric, sign) when the sweep prunes on probe rollouts."""
    from harness.declare.bounds import check_sizes
    from harness.declare.plan import Plan, arm_plan
    from harness.run.pipeline import run_arm

    exp, source = trial_experiment(sweep)
    plan = Plan(exp, source, ())
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)
    probe_overrides: dict[str, Any] = {}
    if probe is not None:
        every = sweep.pruner.every or exp.arm_config(sweep.arm, source).train.checkpoint_every
        probe_overrides = {"train.probe_every": every, "train.probe_clips": sweep.pruner.clips}

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        params: dict[str, Any] = {}
        for key, r in sweep.space.items():
            params[key] = trial.suggest_float(key, r.low, r.high, log=r.log)
        for key, values in sweep.grid.items():
            params[key] = trial.suggest_categorical(key, values)
        trial.set_user_attr(OWNER, parent_run)  # whose it is, should its worker die before `tell`
        name, tags = f"trial{trial.number:03d}", {"trial": str(trial.number)}
        first = trial.user_attrs.get(RETRY_OF)  # a retry works in the dead trial's folder (resumes)
        if first is not None:
            tags[RETRY_OF] = str(first)
        folder = workspace.path("runs", sweep.name, name if first is None else f"trial{first:03d}")
        try:
            unit = arm_plan(
                exp, source, sweep.arm, 0, overrides={**probe_overrides, **params}, name=name,
                folder=folder, experiment=sweep.name, tags=tags,
            )  # fmt: skip
            check_sizes((unit,))  # sampled sizes the machine cannot hold: this trial fails, on the record
        except ConfigError as e:  # a sampled value the schema refuses: this trial fails, on the record
            run = tracking.start_child(
                c, exp_id, parent_run, f"{name}-seed0", {"arm": name, "seed": "0", **tags}
            )
            tracking.log_params(c, run, params)
            tracking.set_tags(c, run, {"error": f"ConfigError: {e}"[:5000]})
            tracking.finish(c, run, "FAILED")
            trial.set_user_attr("mlflow_run_id", run)
            raise
        watch = generating = None
        if probe is not None:
            p = sweep.pruner
            describe = f"{p.reduce} over {p.clips} clips, {p.kind} pruner"
            watch = probes.ProbeWatcher(trial, *probe, p.reduce, describe, ProbePruned)
            if p.every_clips:  # then while it generates, after the training probes' steps
                generating = probes.GenerationWatcher(
                    trial, *probe, p.reduce, f"{p.reduce} over the clips so far, {p.kind} pruner", ProbePruned,
                    offset=unit.cfg.train.steps, every=p.every_clips,
                )  # fmt: skip
        result = run_arm(c, exp_id, parent_run, plan, unit, train_watch=watch, generate_watch=generating)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        if result.status != "FINISHED":
            raise RuntimeError(result.error or result.status)
        if sweep.constraints:
            holds = record_constraints(trial, sweep.constraints, result.scores)
            tracking.set_tags(c, result.run_id, {"feasible": str(holds).lower()})
        values = []
        for o in sweep.objective:
            v = result.scores.get(o.metric)
            if v is None:
                raise RuntimeError(f"trial produced no {o.metric}; scored: {', '.join(result.scores)}")
            values.append(v)
        return values[0] if len(values) == 1 else tuple(values)

    return objective


def pruning(sweep: Sweep) -> tuple[tuple | None, optuna.pruners.BasePruner | None]:
    """-> ((probe metric, sign), Optuna pruner), or (None, None) for a sweep that does not prune."""
    if sweep.pruner is None or not sweep.pruner.enabled:
        return None, None
    exp, _ = load_experiment(sweep.experiment, sweep.overrides)
    metric = probe_metric(sweep, exp.metrics_backend)
    sign = probes.probe_sign(metric, sweep.objective[0].direction)
    return (metric, sign), make_pruner(sweep.pruner, sign)


class _NoInterruptTraceback(logging.Filter):
    """Optuna logs a trial stopped by Ctrl-C or SIGTERM ("Trial 3 failed ... KeyboardInterrupt") with the
    whole traceback before it passes the interrupt on: an interrupt is the user's, not an error, so that
    record is dropped (the trial is still marked FAIL, and the sweep says in one line that it stopped).
    Any other failure of a trial is logged as Optuna logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


def quiet_interrupts() -> None:
    """Install `_NoInterruptTraceback` on Optuna's optimize logger (once)."""
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _NoInterruptTraceback) for f in logger.filters):
        logger.addFilter(_NoInterruptTraceback())


def work(sweep: Sweep, parent_run: str, n_trials: int) -> None:
    """One worker: run `n_trials` trials (a failed trial counts; it is recorded and the worker goes on)."""
    if n_trials > 0:
        probe, pruner = pruning(sweep)
        study = make_study(sweep, pruner)
        callbacks = [MlflowTrialCallback()]
        quiet_interrupts()
        study.optimize(
            objective_fn(sweep, parent_run, probe),
            n_trials=n_trials,
            catch=(Exception,),
            callbacks=callbacks,
        )


def remaining_trials(sweep: Sweep) -> int:
    """Trials still to run: a re-run resumes the study up to `sweep.trials` trials (`counted`).

    Dead trials (silent for the grace period) are failed and re-queued first, so their MLflow runs
    are marked and their retries run before new trials. A trial still running (another invocation's,
    or a dead one within its grace period) holds its place: it counts when it ends, and if its worker
    died a later `harness sweep` retries it in that place, so the study never runs more than
    `sweep.trials` (a re-run right after a SIGKILL runs fewer, never a trial too many).
    """
    study = make_study(sweep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    if running:
        say(
            f"trial(s) {', '.join(map(str, running))} of {sweep.name} are running elsewhere, or their worker "
            f"died less than {sweep.heartbeat.grace_seconds} s ago: they hold their places among the "
            f"{sweep.trials} (a dead one is retried by a `harness sweep` after that)"
        )
    return max(0, sweep.trials - len(counted(trials)) - len(running))


def run_sweep(sweep: Sweep, sweep_source: str, overrides: list[str], workers: int = 1) -> optuna.Study:
    pruning(sweep)  # the probe metric must build here (ConfigError otherwise) before anything is logged
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, sweep.name)  # created before any worker starts
    # Opens the storage (a ConfigError when it cannot be used, before the parent run exists), creates
    # the study, enqueues the defaults and re-queues dead trials before workers race.
    todo = remaining_trials(sweep)
    tracking.reap_stale(c, exp_id)  # a killed sweep's parent (its trials' runs are failed with the trials)
    parent = tracking.start_parent(
        c, exp_id, f"{sweep.name} {time.strftime('%Y-%m-%d %H:%M:%S')}", {"role": "sweep"}
    )
    beat = tracking.Heartbeat(c, parent)
    tracking.set_tags(
        c, parent, {"role": "sweep", "sweep": sweep.name, keys.SEARCHED_TAG: ",".join(sweep.searched)}
    )
    status = "FINISHED"
    before = {t.number for t in make_study(sweep).get_trials(deepcopy=False)}
    try:
        if workers <= 1:
            work(sweep, parent, todo)
        else:
            # Split the count exactly, so the study ends with `trials` trials, none lost, none extra.
            shares = [todo // workers + (1 if i < todo % workers else 0) for i in range(workers)]
            # Each worker (and the training it launches) gets its share of the cores: two torch
            # processes on two threads each on two cores slow each other down many times over.
            env = {**os.environ, PARENT_ENV: parent}
            env.setdefault("OMP_NUM_THREADS", str(threads_per_rank(workers)))
            base = [sys.executable, "-m", "sweeps.study", sweep_source]
            # Each worker dies with this process (SIGKILL: its trials' heartbeats stop and a later sweep
            # fails and retries them); an interrupt of this process alone (SIGTERM) is passed on to
            # them as Ctrl-C, so each marks its trial FAIL and its run KILLED and stops its training.
            procs = []
            try:
                for i, n in enumerate(shares):
                    if n:
                        procs.append(
                            subprocess.Popen(
                                [*base, str(n), str(sweep.trials), *overrides],
                                env={**env, WORKER_ENV: str(i)},
                                preexec_fn=die_with_parent,
                            )
                        )
                if any(p.wait() for p in procs):
                    status = "FAILED"
            except BaseException:
                interrupt(procs, grace_seconds=60)
                raise
    except KeyboardInterrupt:
        status = "KILLED"
        fail_left_running(sweep, parent, before)
        raise
    finally:
        if status != "KILLED":
            from harness.run.pipeline import write_report

            tracking.set_tags(c, parent, {"direction": sweep.objective[0].direction})
            write_report(c, sweep.name, parent, sweep=True)
        beat.stop()
        tracking.finish(c, parent, status)
    return make_study(sweep)


def _interrupted(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":  # a worker started by run_sweep: SOURCE N_TRIALS TOTAL [overrides]
    import signal

    # SIGTERM (a scheduler, a kill of the group) stops the worker as Ctrl-C does: the training it runs
    # is stopped, its MLflow run marked KILLED and its Optuna trial FAIL.
    signal.signal(signal.SIGTERM, _interrupted)
    _sweep = load_sweep(sys.argv[1], sys.argv[4:])
    _sweep.trials = int(sys.argv[3])
    try:
        work(_sweep, os.environ[PARENT_ENV], int(sys.argv[2]))
    except KeyboardInterrupt:
        sys.exit(130)
