"""Units as jobs (harness/run/jobs.py) and liveness (heartbeats, stale runs, live curves in harness/tracking.py).

The local executor is submitit's own, for real: every unit runs in its own process. SLURM cannot run
here; its path is followed up to `sbatch`, which a stand-in script on PATH answers, and the batch
script submitit wrote for it is checked.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from cli import main
from harness import tracking
from harness.run.launch import Allocation, child_env, train_command
from tests.harness.mini import mini_experiment

EXPERIMENT = mini_experiment("jobs_mini", "two units for the job executors")


@pytest.fixture()
def home(home):
    (home / "jobs_mini.yaml").write_text(EXPERIMENT)
    return home


def _client(home) -> tuple[MlflowClient, str]:
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    return c, c.get_experiment_by_name("jobs_mini").experiment_id


def _runs(home):
    c, exp_id = _client(home)
    runs = c.search_runs([exp_id], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if r.data.tags.get("role") == "parent"]
    # the units' runs; the degenerate references (role reference) are logged beside them after the jobs
    return c, parents, [r for r in runs if r.data.tags.get("role") not in ("parent", "reference")]


# -- pure parts ------------------------------------------------------------------------------------


def test_a_multi_node_allocation_runs_torchrun_on_every_node():
    a = Allocation(nodes=4, node_rank=2, master_addr="gpu-017", master_port=23456)
    cmd = train_command("c.yaml", nproc=8, allocation=a)
    flags = dict(zip(cmd[3:-4:2], cmd[4:-4:2]))
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert flags == {
        "--nnodes": "4",
        "--node-rank": "2",
        "--nproc-per-node": "8",
        "--master-addr": "gpu-017",
        "--master-port": "23456",
    }
    with pytest.raises(ValueError, match="torchrun on every node"):
        train_command("c.yaml", nproc=8, launcher="deepspeed", allocation=a)
    assert Allocation.from_job() is None  # not inside a submitit job


def test_stale_reason_tells_dead_runs_from_live_ones():
    host, now = socket.gethostname(), time.time()
    me = {tracking.HOST_TAG: host, tracking.PID_TAG: str(os.getpid())}
    import psutil

    me[tracking.PID_START_TAG] = f"{psutil.Process().create_time():.2f}"
    assert tracking.stale_reason({**me, tracking.HEARTBEAT_TAG: f"{now:.0f}"}, now) is None
    assert tracking.stale_reason({}, now) is None  # never beat: an old run, or a parent of --no-wait jobs
    # silent past STALE_SECONDS on another host: node loss
    other = {tracking.HOST_TAG: "elsewhere", tracking.PID_TAG: "1", tracking.HEARTBEAT_TAG: "0"}
    assert "no heartbeat" in tracking.stale_reason(other, tracking.STALE_SECONDS + 100)
    # this host, a process that no longer exists (or a recycled PID started later): gone at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = {**me, tracking.PID_TAG: str(dead.pid), tracking.HEARTBEAT_TAG: f"{now:.0f}"}
    assert "is gone" in tracking.stale_reason(gone, now)
    recycled = {**me, tracking.PID_START_TAG: "1.00", tracking.HEARTBEAT_TAG: f"{now:.0f}"}
    assert "is gone" in tracking.stale_reason(recycled, now)


def test_curves_reach_the_run_while_written_and_catch_up_after_an_outage(home, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, "jobs_mini")
    run_id = c.create_run(exp_id).info.run_id
    metrics = home / "metrics.jsonl"
    fwd = tracking.CurveForwarder(c, run_id, metrics, every_seconds=0)

    def write(*steps, tail=""):
        with open(metrics, "a") as f:
            for s in steps:
                f.write(json.dumps({"step": s, "train/loss": 1.0 / (s + 1)}) + "\n")
            f.write(tail)

    write(0, 1, tail='{"step": 2, "train/lo')  # the trainer is in the middle of step 2's line
    fwd.poll()
    assert [m.step for m in c.get_metric_history(run_id, "train/loss")] == [0, 1]
    with open(metrics, "a") as f:
        f.write('ss": 0.33}\n')
    # the store goes away (a server that does not answer): rows wait, training is not disturbed
    fwd.c = MlflowClient(f"http://127.0.0.1:{_closed_port()}")
    write(3)
    fwd.poll()
    assert fwd.failures == 1 and len(fwd.pending) == 2
    fwd.c = c  # back: the curve catches up
    # a resumed trainer truncates to its checkpoint and rewrites the steps after it
    metrics.write_text("".join(json.dumps({"step": s, "train/loss": 1.0 / (s + 1)}) + "\n" for s in range(3)))
    write(3, 4)
    fwd.poll(final=True)
    steps = sorted(m.step for m in c.get_metric_history(run_id, "train/loss"))
    assert steps == [0, 1, 2, 3, 4]  # nothing lost, nothing twice


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- end to end --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_local_executor_runs_each_unit_as_its_own_job_under_one_parent(home, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    rc = main(["run", str(home / "jobs_mini.yaml"), "--executor", "local", "--parallel", "2"])
    assert rc == 0, capsys.readouterr()
    c, parents, kids = _runs(home)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.tags["executor"] == "local"
    assert sorted(k.info.run_name for k in kids) == ["base-seed0", "full-seed0"]
    references = [
        r for r in c.search_runs([parents[0].info.experiment_id]) if r.data.tags.get("role") == "reference"
    ]
    assert {r.data.tags["arm"] for r in references} >= {"frozen", "loop", "pingpong"}  # after the jobs, here
    pids = set()
    for k in kids:
        assert k.info.status == "FINISHED"
        assert k.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert "consistent_1s/subject_consistency" in k.data.metrics
        pids.add(k.data.tags[tracking.PID_TAG])
    assert len(pids) == 2 and str(os.getpid()) not in pids  # each unit ran in a job process of its own
    full = next(k for k in kids if k.info.run_name == "full-seed0")
    assert len(c.get_metric_history(full.info.run_id, "train/loss")) == 3
    assert any(key.startswith("system/cpu_utilization") for key in full.data.metrics)
    jobs = home / "ws" / "jobs" / "jobs_mini" / parents[0].info.run_id
    assert len(list(jobs.glob("*_log.out"))) == 2  # submitit's per-job logs
    assert (home / "ws" / "reports" / "jobs_mini" / "report.md").is_file()
    # one unit alone: a second parent with only that child; the finished stages are reused
    rc = main(["run", str(home / "jobs_mini.yaml"), "--arm", "full", "--seed", "0"])
    assert rc == 0
    c, parents, kids = _runs(home)
    latest = [k for k in kids if k.data.tags["mlflow.parentRunId"] == parents[-1].info.run_id]
    assert [k.info.run_name for k in latest] == ["full-seed0"]
    assert "train skipped (done)" in capsys.readouterr().out


def test_unknown_arm_or_seed_and_slurm_without_sbatch_fail_before_any_work(home, monkeypatch, capsys):
    assert main(["run", str(home / "jobs_mini.yaml"), "--arm", "nope"]) == 2
    assert "its arms: base, full" in capsys.readouterr().err
    assert main(["run", str(home / "jobs_mini.yaml"), "--seed", "7"]) == 2
    monkeypatch.setenv("PATH", str(home))  # no sbatch anywhere
    assert main(["run", str(home / "jobs_mini.yaml"), "--executor", "slurm"]) == 2
    assert "sbatch" in capsys.readouterr().err
    assert main(["run", str(home / "jobs_mini.yaml"), "--executor", "local", "--nodes", "2"]) == 2
    assert not (home / "ws" / "mlflow.db").exists() or _client_has_no_runs(home)


def _client_has_no_runs(home) -> bool:
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("jobs_mini")
    return exp is None or not c.search_runs([exp.experiment_id])


def test_slurm_jobs_are_submitted_with_the_requested_allocation(home, monkeypatch):
    """Up to sbatch: a stand-in `sbatch` records what submitit hands it and answers with a job id."""
    bin_dir = home / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\ncat "$@" >> {home}/submitted.sh\necho "Submitted batch job 4242"\n')
    sbatch.chmod(0o755)
    srun = bin_dir / "srun"  # submitit looks for it on the submitting host; the job would call it
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    argv = ["run", str(home / "jobs_mini.yaml"), "--executor", "slurm", "--no-wait", "--nodes", "2"]
    argv += ["--gpus-per-node", "8", "--partition", "gpu", "--time-limit", "90"]
    assert main(argv) == 0
    script = (home / "submitted.sh").read_text()
    for line in ("--nodes=2", "--gpus-per-node=8", "--partition=gpu", "--time=90", "--ntasks-per-node=1"):
        assert f"#SBATCH {line}" in script
    assert script.count("#SBATCH --job-name=jobs_mini") == 2  # one job per unit
    c, parents, kids = _runs(home)
    assert parents[0].data.tags["harness.run.jobs"] == "4242,4242" and not kids
    assert parents[0].info.status == "RUNNING"  # waiting for its jobs: `harness report` settles it


@pytest.mark.slow
def test_a_sigkilled_run_is_marked_failed_by_the_next_report(home):
    slow = EXPERIMENT.replace(
        "steps: 3, lr: 0.001, checkpoint_every: 3", "steps: 400, lr: 0.001, checkpoint_every: 400"
    )
    (home / "slow.yaml").write_text(slow.replace("  base: {train: false, role: baseline}\n", ""))
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "cli", "run", str(home / "slow.yaml")]
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = home / "ws" / "runs" / "jobs_mini" / "full" / "seed0" / "train" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not metrics.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert metrics.is_file(), "training never started"
    c, parents, kids = _runs(home)
    assert parents[0].info.status == kids[0].info.status == "RUNNING"  # nobody marked them
    res = subprocess.run(
        [sys.executable, "-m", "cli", "report", "jobs_mini"], env=env, capture_output=True, text=True
    )
    assert "marked FAILED" in res.stderr
    c, parents, kids = _runs(home)
    for r in (parents[0], kids[0]):
        assert r.info.status == "FAILED"
        assert r.data.tags[tracking.FAILURE_TAG].startswith("stale: its process")


@pytest.mark.slow
def test_a_two_node_job_trains_one_unit_across_both_nodes(home):
    """Two "nodes" on this host: the first runs the unit's training stage, the second joins it, and the
    torchrun groups meet as one world of 2 ranks (rank 1's replay memory is in the checkpoint)."""
    import threading

    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.run.launch import free_port
    from harness.run.pipeline import join_training, stage_train
    from harness.run.provision import training_data

    exp, source = load_experiment(str(home / "jobs_mini.yaml"))
    plan = make_plan(exp, source)
    unit = next(u for u in plan.units if u.arm == "full")
    cfg = unit.cfg.model_copy(deep=True)
    cfg.data.root = training_data(cfg)
    port = free_port()
    first, other = Allocation(2, 0, "127.0.0.1", port), Allocation(2, 1, "127.0.0.1", port)
    joined = threading.Thread(target=join_training, args=(plan, unit, other))
    joined.start()
    lora, _, skipped = stage_train(exp, cfg, unit.folder / "train", False, allocation=first)
    joined.join(timeout=300)
    assert lora.is_file() and not skipped and not joined.is_alive()
    step = (unit.folder / "train" / "checkpoints" / "latest").read_text().strip()
    assert sorted(p.name for p in (unit.folder / "train" / "checkpoints" / step).glob("replay_rank*.pt")) == [
        "replay_rank0.pt",
        "replay_rank1.pt",
    ]
    log = unit.folder / "train" / "train.node1.log"
    log.unlink()
    join_training(plan, unit, other)  # the stage is done: a late node starts nothing
    assert not log.exists()
