"""Team mode against real servers: `mlflow server` on PostgreSQL with its artifacts in an S3 bucket
(moto), and Optuna studies on PostgreSQL (tests/servers.py starts them).

What a lab relies on: every run, metric and artifact of `harness run` reaches the server and its
bucket (none stays on the machine that ran it); a two-worker sweep on PostgreSQL records every trial
in both stores; a worker killed with SIGKILL mid-trial leaves a trial that the next `harness sweep`
fails (its MLflow run FAILED, tagged) and retries to completion, resuming its training.
"""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from cli import main
from harness import tracking
from harness.base import workspace
from harness.run.launch import child_env
from tests.harness.mini import mini_experiment

SWEEP = """
name: {name}
experiment: {experiment}
arm: {arm}
{search}
objective: [{{metric: consistent_1s/subject_consistency, direction: maximize}}]
trials: 2
storage: {storage}
heartbeat: {{interval_seconds: 1, grace_seconds: {grace}}}
"""
GRACE_SECONDS = 3  # the test's: a killed worker's trial is stale seconds after the kill, not minutes


@pytest.fixture()
def team(home, monkeypatch, mlflow_server):
    """The workspace tracks to the MLflow server; one synthetic benchmark, written once (not raced by
    sweep workers)."""
    from toyworld.synthetic import write_benchmark

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.delenv(tracking.ARTIFACT_ROOT_ENV, raising=False)
    monkeypatch.setenv("SVI_BENCHMARK", str(write_benchmark(home / "bench", samples=1)))
    return mlflow_server


def _runs(server, name: str) -> tuple[MlflowClient, str, list]:
    c = MlflowClient(server.url)
    exp = c.get_experiment_by_name(name)
    return c, exp.experiment_id, c.search_runs([exp.experiment_id])


def _artifacts_of(keys: list[str], run_id: str) -> list[str]:
    """The bucket keys of one run's artifacts, relative to its artifact root."""
    marker = f"/{run_id}/artifacts/"
    return [k.split(marker, 1)[1] for k in keys if marker in k]


def _local_artifacts(home) -> list:
    folder = home / "ws" / "artifacts"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_the_artifact_location_follows_the_store(home, monkeypatch):
    """A server decides (None); a store without one keeps the workspace's folder; HARNESS_ARTIFACT_ROOT
    wins everywhere."""
    monkeypatch.delenv(tracking.ARTIFACT_ROOT_ENV, raising=False)
    assert tracking.artifact_location("http://mlflow.lab:5000", "e") is None
    assert tracking.artifact_location("https://mlflow.lab", "e") is None
    local = f"{workspace.artifact_root()}/e"
    assert tracking.artifact_location(workspace.tracking_uri(), "e") == local  # sqlite:///.../mlflow.db
    assert tracking.artifact_location("postgresql+psycopg://svi@db.lab/mlflow", "e") == local
    monkeypatch.setenv(tracking.ARTIFACT_ROOT_ENV, "s3://svi-mlflow/direct/")
    for uri in ("postgresql+psycopg://svi@db.lab/mlflow", "http://mlflow.lab:5000"):
        assert tracking.artifact_location(uri, "e") == "s3://svi-mlflow/direct/e"


def test_an_old_experiment_with_a_local_location_on_the_server_gets_a_warning(
    home, monkeypatch, mlflow_server, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    MlflowClient(mlflow_server.url).create_experiment(
        "team_old", artifact_location="file:///old/ws/artifacts"
    )
    tracking.ensure_experiment(tracking.client(), "team_old")
    assert "rename_experiment" in capsys.readouterr().out
    tracking.ensure_experiment(tracking.client(), "team_new")  # created by the harness: no warning
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_a_run_sends_runs_metrics_and_artifacts_to_the_server_and_its_bucket(team, home):
    (home / "team_run.yaml").write_text(mini_experiment("team_run", "team mode", steps=2, checkpoint_every=2))
    # two local jobs (submitit), each logging its unit to the server from its own process
    assert main(["run", str(home / "team_run.yaml"), "--executor", "local", "--parallel", "2"]) == 0

    c, exp_id, runs = _runs(team, "team_run")
    assert c.get_experiment(exp_id).artifact_location.startswith("mlflow-artifacts:")  # the server's
    parent = next(r for r in runs if r.data.tags.get("role") == "parent")
    children = {
        r.info.run_name: r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") and r.data.tags.get("role") != "reference"
    }
    assert parent.info.status == "FINISHED" and set(children) == {"base-seed0", "full-seed0"}
    references = [r for r in runs if r.data.tags.get("role") == "reference"]  # scored on the submitting side
    assert references and all(r.info.status == "FINISHED" for r in references)
    keys = team.artifact_keys(exp_id)
    for r in children.values():
        assert r.info.status == "FINISHED"
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert "consistent_1s/subject_consistency" in r.data.metrics
        assert r.data.params["model.preset"] == "tiny"
        steps = c.get_metric_history(r.info.run_id, "drift/consistent_1s/subject_consistency")
        assert sorted(m.step for m in steps) == [0, 1]
        stored = _artifacts_of(keys, r.info.run_id)
        assert "config.yaml" in stored and "scores/consistent_1s/samples.json" in stored
        assert any(k.startswith("videos/consistent_1s/") and k.endswith(".mp4") for k in stored)
        assert any(k.endswith(".keyframes.png") for k in stored)
    assert len({r.data.tags[tracking.PID_TAG] for r in children.values()}) == 2  # one process per job
    full = children["full-seed0"]
    assert len(c.get_metric_history(full.info.run_id, "train/loss")) == 2
    assert "lora.safetensors" in _artifacts_of(keys, full.info.run_id)
    assert "report/report.md" in _artifacts_of(keys, parent.info.run_id)
    # the client reads them back through the server, and nothing stayed on this machine
    assert {"config.yaml", "lora.safetensors", "videos", "scores"} <= {
        a.path for a in c.list_artifacts(full.info.run_id)
    }
    assert _local_artifacts(home) == []


@pytest.mark.slow
def test_a_two_worker_sweep_on_postgresql_records_every_trial(team, home, postgres, capsys):
    storage = postgres.database("optuna")
    (home / "base.yaml").write_text(
        mini_experiment("team_sweepbase", "team mode", steps=2, checkpoint_every=2)
    )
    sweep_file = home / "team_sweep.yaml"
    search = "grid: {generate.steps: [1, 2]}\nsampler: grid"
    sweep_file.write_text(
        SWEEP.format(
            name="team_sweep", experiment=home / "base.yaml", arm="base", search=search, storage=storage,
            grace=GRACE_SECONDS,
        )
    )  # fmt: skip

    assert main(["sweep", str(sweep_file), "--workers", "2"]) == 0
    assert "2 trials (2 complete)" in capsys.readouterr().out

    study = optuna.load_study(study_name="team_sweep", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert sorted(t.params["generate.steps"] for t in study.trials) == [1, 2]
    c, exp_id, runs = _runs(team, "team_sweep")
    parent = next(r for r in runs if r.data.tags.get("role") == "sweep")
    trials = {r.data.tags["trial"]: r for r in runs if "trial" in r.data.tags}
    assert parent.info.status == "FINISHED" and set(trials) == {"0", "1"}
    keys = team.artifact_keys(exp_id)
    for t in study.trials:
        run = trials[str(t.number)]
        assert run.info.run_id == t.user_attrs["mlflow_run_id"]
        assert run.info.status == "FINISHED" and run.data.tags["trial_state"] == "COMPLETE"
        assert run.data.metrics["objective"] == pytest.approx(t.value)
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert any(k.endswith(".mp4") for k in _artifacts_of(keys, run.info.run_id))
    assert _local_artifacts(home) == []


@pytest.mark.slow
def test_a_sweep_worker_killed_mid_trial_is_failed_and_retried_by_the_next_sweep(
    team, home, postgres, capsys
):
    storage = postgres.database("optuna")
    (home / "base.yaml").write_text(
        mini_experiment("team_stalebase", "team mode", steps=8, checkpoint_every=2)
    )
    sweep_file = home / "team_stale.yaml"
    search = "space: {erft.p_img: {low: 0.5, high: 0.9}}"
    sweep_file.write_text(
        SWEEP.format(
            name="team_stale", experiment=home / "base.yaml", arm="full", search=search, storage=storage,
            grace=GRACE_SECONDS,
        ).replace("trials: 2", "trials: 1")
    )  # fmt: skip

    # The sweep in its own process group (its worker and the worker's training process); SIGKILL it
    # once training has written its first checkpoint.
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "sweep", str(sweep_file)],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    train = home / "ws" / "runs" / "team_stale" / "trial000" / "train"
    deadline = time.monotonic() + 300
    while not (train / "checkpoints" / "latest").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "the trial's training never reached its first checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.monotonic()
    assert (train / "checkpoints" / "latest").is_file(), f"the sweep ended early with code {proc.returncode}"
    assert not (train / "lora.safetensors").exists()

    dead = optuna.load_study(study_name="team_stale", storage=storage).trials
    assert [t.state.name for t in dead] == ["RUNNING"]  # what SIGKILL leaves behind
    c, _, runs = _runs(team, "team_stale")
    assert [r.info.status for r in runs if r.data.tags.get("trial") == "0"] == ["RUNNING"]

    time.sleep(max(0.0, killed_at + GRACE_SECONDS + 1 - time.monotonic()))
    assert main(["sweep", str(sweep_file)]) == 0
    out = capsys.readouterr().out
    assert "trial 0 had no heartbeat" in out and "retried" in out

    first, retry = optuna.load_study(study_name="team_stale", storage=storage).trials
    assert first.state.name == "FAIL" and retry.state.name == "COMPLETE"
    assert retry.params == first.params and retry.system_attrs["failed_trial"] == 0
    _, _, runs = _runs(team, "team_stale")
    by_trial = {r.data.tags["trial"]: r for r in runs if "trial" in r.data.tags}
    assert by_trial["0"].info.status == "FAILED" and by_trial["0"].data.tags["failure"] == "stale heartbeat"
    assert by_trial["1"].info.status == "FINISHED" and by_trial["1"].data.tags["retry_of"] == "0"
    assert "objective" in by_trial["1"].data.metrics
    # the retry trained in the dead trial's folder, from its last checkpoint
    assert "resumed from" in (train / "train.log").read_text()
    assert (train / "lora.safetensors").is_file()
