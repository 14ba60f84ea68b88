"""`harness run` end to end on the tiny preset, read back through the MLflow client."""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cli import main
from harness.run.launch import child_env
from harness.tracking import keys
from tests.harness.mini import mini_experiment

pytestmark = pytest.mark.slow

EXPERIMENT = mini_experiment(
    backend="random",  # the one end-to-end run on VBench's architectures (random init)
    more_arms="  broken: {overrides: {train.lr: 1.0e+30}}   # diverges while it trains: fails at run time\n",
)


@pytest.fixture()
def home(home):
    (home / "mini.yaml").write_text(EXPERIMENT)
    return home


def _runs(home):
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("mini")
    return c, c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_run_logs_arms_to_mlflow_and_a_rerun_skips_finished_stages(home, capsys, monkeypatch):
    rc = main(["run", str(home / "mini.yaml")])
    assert rc == 1  # the broken arm failed; the others finished
    c, runs = _runs(home)
    by_name = {r.info.run_name: r for r in runs}
    parent = next(r for r in runs if r.data.tags.get("role") == "parent")
    assert parent.info.status == "FINISHED"
    base, full, broken = by_name["base-seed0"], by_name["full-seed0"], by_name["broken-seed0"]
    for r in (base, full, broken):
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert base.data.tags["role"] == "baseline" and full.data.tags["arm"] == "full"
    assert full.data.params["erft.p_img"] == "0.9" and full.data.params["train.steps"] == "3"
    assert base.info.status == full.info.status == "FINISHED"
    assert broken.info.status == "FAILED" and "loss became" in broken.data.tags["error"]
    # final score, drift curve (step = clip index), training curve, backend label, dataset input
    assert "consistent_1s/subject_consistency" in full.data.metrics
    drift = c.get_metric_history(full.info.run_id, "drift/consistent_1s/subject_consistency")
    assert sorted(m.step for m in drift) == [0, 1]
    assert len(c.get_metric_history(full.info.run_id, "train/loss")) == 3
    assert full.data.tags["metric_backend.subject_consistency"] == "random-init"
    assert full.inputs.dataset_inputs[0].dataset.name == "consistent_1s"
    artifacts = {a.path for a in c.list_artifacts(full.info.run_id)}
    assert {"config.yaml", "lora.safetensors", "videos", "scores"} <= artifacts
    strips = [a.path for a in c.list_artifacts(full.info.run_id, "videos/consistent_1s")]
    assert any(p.endswith(".keyframes.png") for p in strips) and any(p.endswith(".mp4") for p in strips)
    # per-sample scores as an MLflow table: what `harness report` recomputes its intervals from
    table = json.loads(
        Path(c.download_artifacts(full.info.run_id, keys.samples_artifact("consistent_1s"))).read_text()
    )
    assert table["columns"] == [*keys.SAMPLE_COLUMNS, "subject_consistency"]
    rows = [dict(zip(table["columns"], r)) for r in table["data"]]
    assert {r["level"] for r in rows} == {"video", "window"} and {r["seed"] for r in rows} == {0}
    assert len([r for r in rows if r["level"] == "video"]) == 1  # limit: 1 sample

    # the report is written under the workspace and logged to the parent run
    report = home / "ws" / "reports" / "mini" / "report.md"
    assert report.is_file() and "| base |" in report.read_text() and "broken" in report.read_text()
    assert {a.path for a in c.list_artifacts(parent.info.run_id, "report")} >= {
        "report/report.md",
        "report/results.csv",
    }

    capsys.readouterr()
    assert main(["run", str(home / "mini.yaml")]) == 1
    out = capsys.readouterr().out
    assert "train skipped (done)" in out
    _, runs2 = _runs(home)
    full2 = [r for r in runs2 if r.info.run_name == "full-seed0"][-1]
    assert full2.info.run_id != full.info.run_id
    assert (
        full2.data.metrics["consistent_1s/subject_consistency"]
        == full.data.metrics["consistent_1s/subject_consistency"]
    )
    # videos drawn under another noise scheme are generated again, not reused
    marker = home / "ws" / "runs" / "mini" / "full" / "seed0" / "videos" / "consistent_1s" / "stage.json"
    before = json.loads(marker.read_text())["hash"]
    monkeypatch.setattr("svi.generation.sampling.NOISE_STREAMS", "another scheme")
    assert main(["run", str(home / "mini.yaml"), "--arm", "full"]) == 0
    assert json.loads(marker.read_text())["hash"] != before


def test_bad_experiments_exit_2_and_log_nothing(home, capsys):
    assert main(["run", "no_such_experiment"]) == 2
    assert "known experiments: ablation_eimg" in capsys.readouterr().err
    assert main(["run", str(home / "mini.yaml"), "erft.p_img=1.5"]) == 2
    assert "less than or equal to 1" in capsys.readouterr().err
    assert main(["run", str(home / "mini.yaml"), "seeds=zero"]) == 2
    assert main(["run", str(home / "mini.yaml"), "erft.bogus=1"]) == 2
    assert "erft.bogus: unknown key" in capsys.readouterr().err
    assert main(["run", str(home / "mini.yaml"), "benchmark_root=/nonexistent/bench"]) == 2
    assert "consisent_video_gen" in capsys.readouterr().err
    assert (
        main(
            # checkpointing on, so the real model fits one GPU by the plan's estimate (harness/declare/bounds.py)
            # and what is refused is the missing weights, with where to put them
            [
                "run",
                str(home / "mini.yaml"),
                "model.preset=wan2.1-i2v-14b",
                "model.weights=/nonexistent/wan",
                "model.gradient_checkpointing=true",
            ]
        )
        == 2
    )
    assert "transformer/config.json" in capsys.readouterr().err
    bad = home / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    assert main(["run", str(bad)]) == 2
    assert not (home / "ws" / "mlflow.db").exists()  # nothing logged as a half run


def test_list_shows_the_shipped_experiments():
    res = subprocess.run(
        [sys.executable, "-m", "cli", "list"], capture_output=True, text=True, env=child_env()
    )
    assert res.returncode == 0
    for name in (
        "ablation_eimg",
        "ablation_errors",
        "svi_shot",
        "svi_film",
        "baseline_wan",
        "toy_erft_control",
    ):
        assert name in res.stdout


def test_a_run_killed_during_training_resumes(home):
    import os
    import signal
    import time

    slow = EXPERIMENT.replace(
        "steps: 3, lr: 0.001, checkpoint_every: 3", "steps: 40, lr: 0.001, checkpoint_every: 2"
    )
    slow = slow.replace(
        "  broken: {overrides: {train.lr: 1.0e+30}}   # diverges while it trains: fails at run time\n", ""
    ).replace("  base: {train: false, role: baseline}\n", "")
    (home / "slow.yaml").write_text(slow)
    cmd = [sys.executable, "-m", "cli", "run", str(home / "slow.yaml")]
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    latest = home / "ws" / "runs" / "mini" / "full" / "seed0" / "train" / "checkpoints" / "latest"
    deadline = time.monotonic() + 240
    while not latest.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert latest.is_file(), "training never reached its first checkpoint"
    killed_at = latest.read_text().strip()
    assert killed_at < "step_00000040"
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    log = (home / "ws" / "runs" / "mini" / "full" / "seed0" / "train" / "train.log").read_text()
    assert f"resumed from {latest.parent / killed_at}" in log


def _group(p) -> int | None:
    import os

    try:
        return os.getpgid(p.pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_ui_serves_the_workspace_store(home):
    import time
    import urllib.request

    import psutil

    from harness.run.launch import free_port

    port = free_port()
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: the MLflow server's workers are stopped with it below
    )
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    status = r.status
                break
            except OSError:
                time.sleep(0.5)
        assert status == 200
    finally:
        import os
        import signal

        # What a scheduler or process manager sends: SIGTERM to the harness alone, not its group.
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
            time.sleep(1)
            left = [
                p for p in psutil.process_iter(["status"])
                if _group(p) == proc.pid and p.info["status"] != psutil.STATUS_ZOMBIE
            ]  # fmt: skip
            assert not left, f"still running after the harness stopped: {left}"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything of the server still left
            except ProcessLookupError:
                pass


CONCURRENT = """
name: together
config:
  model: {preset: tiny}
  generate: {steps: 1}
arms:
  base: {train: false, role: baseline}
seeds: [0]
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: colour_shift
metrics_backend: random
"""


def test_two_invocations_on_one_workspace_do_not_collide(home):
    """Started together on a fresh workspace: MLflow's store is created once, and each stage folder
    has one writer at a time (the second waits), also with --force generate.

    Whether two processes started together meet at a stage depends on the scheduler: on a busy
    machine one may finish generating before the other asks. So for the second pair this test holds
    the videos' lock itself until both have said they wait, then lets them race for it."""
    from harness.base import workspace

    (home / "together.yaml").write_text(CONCURRENT)
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    cmd = [sys.executable, "-m", "cli", "run", str(home / "together.yaml")]

    def start(*extra):
        procs = [subprocess.Popen([*cmd, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for _ in range(2)]  # fmt: skip
        outs = [[] for _ in procs]
        readers = [threading.Thread(target=lambda p=p, o=o: o.extend(p.stdout), daemon=True)
                   for p, o in zip(procs, outs)]  # fmt: skip
        for r in readers:
            r.start()
        return procs, outs, readers

    def finish(procs, outs, readers):
        for p, r in zip(procs, readers):
            p.wait(timeout=400)
            r.join(30)
        texts = ["".join(o) for o in outs]
        for p, out in zip(procs, texts):
            assert p.returncode == 0, out[-3000:]
        return texts

    finish(*start())
    video = home / "ws" / "runs" / "together" / "base" / "seed0" / "videos" / "consistent_1s"
    assert len(list(video.glob("*.mp4"))) == 1
    with workspace.stage_lock(video):
        procs, outs, readers = start("--force", "generate")
        try:
            deadline = time.monotonic() + 300
            while not all(any("waiting for" in line for line in o) for o in outs):
                assert time.monotonic() < deadline and all(p.poll() is None for p in procs), outs
                time.sleep(0.5)
        except BaseException:
            for p in procs:  # nothing left running after a failed wait
                p.kill()
            raise
    finish(procs, outs, readers)  # released: one regenerates, then the other (each was forced)
    assert len(list(video.glob("*.mp4"))) == 1 and not list(video.glob("*.parts"))
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("together").experiment_id])
    assert sum(r.data.tags.get("role") == "parent" for r in runs) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
