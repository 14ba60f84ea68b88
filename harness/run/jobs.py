"""Units as jobs: each (arm, seed) of an experiment as its own submitit job (SLURM, or local processes).

    harness run EXP --executor local|slurm
      submitter  checks the plan, opens the parent run, submits one job per unit, waits (progress
                 bar), writes the report and finishes the parent
      each job   rebuilds the plan from the same experiment file and overrides and runs its unit through
                 train -> generate -> score as a child run of that parent (`runner.run_arm`)

The job receives only names (experiment, overrides, arm, seed, run ids), never a pickled model or
config, so a job re-submitted days later rebuilds the same unit, and its stage hashes find the work
already done: a job that reaches its time limit or is pre-empted is re-queued by submitit
(`UnitJob.checkpoint`) and resumes (training from its last checkpoint, generation from its last clip).
A job that dies without marking its run (SIGKILL, node loss) leaves a heartbeat that stops; the next
`run` or `report` marks that run FAILED (`tracking.reap_stale`).

A multi-node job (`executor.nodes > 1`) runs this module's job function on every node: the first node
runs the whole unit, the others join its training (torchrun across the nodes, `launch.Allocation`).
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import submitit

from harness import tracking
from harness.base import workspace
from harness.base.console import say
from harness.declare.experiment import ExecutorSpec
from harness.declare.plan import ArmPlan, Plan
from harness.run import launch
from svi.config import ConfigError

POLL_SECONDS = 2.0
LOCAL_PARALLEL = 2  # local units at once unless executor.parallel says otherwise


@dataclass(frozen=True)
class UnitRef:
    """What a job needs to rebuild and log its unit: small, picklable, stable across re-submission."""

    experiment: str  # the name or path given to `harness run`
    overrides: tuple[str, ...]
    arm: str
    seed: int
    experiment_id: str
    parent_id: str
    force: tuple[str, ...]
    home: str  # HARNESS_HOME of the submitter (a shared file system on a cluster)
    # No tracking URI: it may carry a password, and this record is pickled into the job folder. The job
    # inherits MLFLOW_TRACKING_URI (and MLflow's credential variables) from the submitter's
    # environment (submitit's local executor passes it on; sbatch exports it by default), or, unset,
    # tracks into the workspace's SQLite file as the submitter does.
    threads: int | None = None  # torch threads per job (local jobs share the cores)


def find_unit(plan: Plan, arm: str, seed: int) -> ArmPlan:
    for unit in plan.units:
        if unit.arm == arm and unit.seed == seed:
            return unit
    units = ", ".join(f"{u.arm} seed {u.seed}" for u in plan.units)
    raise ConfigError(f"{plan.exp.name} has no unit {arm} seed {seed}; its units: {units}")


class UnitJob(submitit.helpers.Checkpointable):
    """The job function. `checkpoint` (submitit calls it at the time limit or on pre-emption) marks the
    unit's run KILLED and re-queues the same call, which resumes the unit's stages."""

    def __init__(self) -> None:
        self.run_id: str | None = None

    def __call__(self, ref: UnitRef) -> dict:
        os.environ["HARNESS_HOME"] = ref.home
        if ref.threads:
            os.environ["OMP_NUM_THREADS"] = str(ref.threads)
            import torch

            torch.set_num_threads(ref.threads)
        # A scheduler's SIGTERM (scancel, the local executor's cancel) stops the unit as Ctrl-C does:
        # its run is marked KILLED, its training children are stopped and its stages stay resumable.
        signal.signal(signal.SIGTERM, _interrupt)
        from harness.declare.experiment import load_experiment
        from harness.declare.plan import make_plan

        exp, source = load_experiment(ref.experiment, list(ref.overrides))
        plan = make_plan(exp, source)
        unit = find_unit(plan, ref.arm, ref.seed)
        alloc = launch.Allocation.from_job()
        if alloc is not None and alloc.node_rank > 0:
            from harness.run.pipeline import join_training

            join_training(plan, unit, alloc)
            return {"arm": unit.arm, "seed": unit.seed, "status": "JOINED", "node": alloc.node_rank}
        from harness.run.pipeline import run_arm

        c = tracking.client()
        result = run_arm(
            c, ref.experiment_id, ref.parent_id, plan, unit, force=ref.force, on_run=self._remember
        )
        return asdict(result)

    def _remember(self, run_id: str) -> None:
        self.run_id = run_id

    def checkpoint(self, ref: UnitRef) -> submitit.helpers.DelayedSubmission:
        if self.run_id is not None:
            try:
                c = tracking.client()
                tracking.set_tags(c, self.run_id, {"requeued": "true"})
                tracking.finish(c, self.run_id, "KILLED")
            except Exception:  # the re-queue matters more than the mark; reap_stale catches it later
                pass
        return submitit.helpers.DelayedSubmission(UnitJob(), ref)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def make_executor(spec: ExecutorSpec, folder: Path, name: str) -> submitit.Executor:
    """The submitit executor of `spec` (local or slurm), writing its job logs under `folder`."""
    if spec.kind == "local":
        ex = submitit.LocalExecutor(folder=folder)
        ex.update_parameters(timeout_min=spec.time_limit_min, nodes=1, tasks_per_node=1)
        return ex
    if spec.kind != "slurm":
        raise ValueError(f"executor kind {spec.kind!r} runs no jobs")
    params = {
        "job_name": name,
        "time": spec.time_limit_min,
        "nodes": spec.nodes,
        "ntasks_per_node": 1,  # one job function per node; it starts that node's training processes
        "gpus_per_node": spec.gpus_per_node or None,
        "cpus_per_task": spec.cpus_per_task,
        "mem": f"{int(spec.mem_gb)}G" if spec.mem_gb else None,
        "partition": spec.partition,
        "account": spec.account,
        "setup": list(spec.setup) or None,
        "additional_parameters": dict(spec.slurm_extra) or None,
    }
    ex = submitit.SlurmExecutor(folder=folder)
    ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
    return ex


def check_executor(spec: ExecutorSpec) -> None:
    """What the executor needs on this machine, before anything is submitted or logged."""
    if spec.kind == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise ConfigError(
            "--executor slurm needs SLURM's sbatch and srun on PATH: submit from a login node of the cluster, or "
            "use --executor local (parallel jobs on this machine) or inline (the default)"
        )
    if spec.kind == "local" and spec.nodes > 1:
        raise ConfigError("--executor local runs on this machine: nodes must be 1 (use slurm for more)")


@dataclass
class Submitted:
    unit: ArmPlan
    job: submitit.Job | None = None
    result: dict | None = None


def run_jobs(
    plan: Plan,
    spec: ExecutorSpec,
    *,
    experiment_arg: str,
    overrides: list[str],
    units: list[ArmPlan],
    force: tuple[str, ...] = (),
    wait: bool = True,
    bundle: Path | None = None,
    clock=None,
) -> list:
    """Submit `units` as jobs under one new parent run; with `wait`, follow them to the end (at most
    `spec.parallel` local jobs at once), then write the report. `bundle` (with `wait`): each unit is
    exported into that results bundle as its job ends (harness/run/bundle_export.py). -> ArmResult per unit."""
    from harness.base.clock import StageClock
    from harness.run.pipeline import ArmResult, open_parent, references_stage, timed_report

    check_executor(spec)
    exp = plan.exp
    c = tracking.client()
    exp_id, parent = open_parent(c, exp, {"executor": spec.kind})
    # Job files (submitit's pickles and logs) are the owner's alone: a shared cluster file system
    # shows other users the workspace, and a job's log may quote its environment.
    workspace.private_dir(workspace.path("jobs"))
    folder = workspace.private_dir(workspace.path("jobs", exp.name, parent))
    executor = make_executor(spec, folder, f"{exp.name}")
    parallel = len(units) if spec.kind == "slurm" or not wait else (spec.parallel or LOCAL_PARALLEL)
    threads = launch.threads_per_rank(min(parallel, len(units))) if spec.kind == "local" else None
    todo = [Submitted(u) for u in units]

    def submit(s: Submitted) -> None:
        ref = UnitRef(
            experiment_arg, tuple(overrides), s.unit.arm, s.unit.seed, exp_id, parent, force,
            str(workspace.home()), threads,
        )  # fmt: skip
        s.job = executor.submit(UnitJob(), ref)
        say(f"{s.unit.arm} seed {s.unit.seed}: job {s.job.job_id} ({spec.kind})")

    beat = tracking.Heartbeat(c, parent) if wait else None
    try:
        if not wait:
            for s in todo:
                submit(s)
            ids = ",".join(str(s.job.job_id) for s in todo)
            tracking.set_tags(c, parent, {"harness.run.jobs": ids, "harness.awaiting": "jobs"})
            say(
                f"submitted {len(todo)} job(s); logs in {folder}; `harness report {exp.name}` when they are done"
            )
            return [ArmResult(s.unit.arm, s.unit.seed, "", "SUBMITTED") for s in todo]
        on_done = None
        if bundle is not None:
            from harness.run.bundle_export import export

            def on_done(s: Submitted) -> None:
                export(exp, plan.source, bundle, parent, keep=bundle)
                say(f"{s.unit.arm} seed {s.unit.seed}: exported into {bundle}")

        _follow(todo, submit, parallel, on_done)
    except BaseException as e:  # Ctrl-C, or a submission the scheduler refused: no job outlives it
        for s in todo:
            if s.job is not None and not s.job.done():
                s.job.cancel(check=False)
        if beat is not None:
            beat.stop()
        tracking.finish(c, parent, "KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    beat.stop()
    results = []
    for s in todo:
        r = s.result or {}
        results.append(
            ArmResult(
                s.unit.arm,
                s.unit.seed,
                r.get("run_id", ""),
                r.get("status", "FAILED"),
                r.get("scores", {}),
                r.get("error"),
                r.get("seconds", {}),
            )  # fmt: skip
        )
    for run_id in tracking.reap_stale(c, exp_id):  # units whose job died without marking its run
        say(f"run {run_id}: its job died without marking it: marked FAILED")
    clock = clock or StageClock()
    references_stage(c, exp_id, parent, plan, force, bundle, clock)
    timed_report(c, exp, parent, bundle, clock)
    tracking.finish(c, parent, "FINISHED")
    return results


def _follow(todo: list[Submitted], submit, parallel: int, on_done=None) -> None:
    """Keep `parallel` jobs running until every unit's job has ended; collect each job's result, then
    call `on_done(submitted)`."""
    from tqdm import tqdm

    waiting, running = list(todo), []
    with tqdm(total=len(todo), desc="units", unit="job") as bar:
        while waiting or running:
            while waiting and len(running) < parallel:
                s = waiting.pop(0)
                submit(s)
                running.append(s)
            time.sleep(POLL_SECONDS)
            for s in [s for s in running if s.job.done()]:
                running.remove(s)
                try:
                    s.result = _first_task(s.job.result())
                except Exception as e:  # the job died outside run_arm (import error, killed, lost)
                    s.result = {"status": "FAILED", "error": f"job {s.job.job_id}: {type(e).__name__}: {e}"}
                say(f"{s.unit.arm} seed {s.unit.seed}: {s.result.get('status')}")
                if on_done is not None:
                    on_done(s)
                bar.update(1)


def _first_task(result):
    """A multi-node job returns one result per node; the first node's is the unit's."""
    return result[0] if isinstance(result, list) else result
