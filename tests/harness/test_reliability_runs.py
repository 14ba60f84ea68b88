"""What the harness promises when a run breaks or meets a hostile store, made to happen for real (slow):
a planted password searched for in everything a run writes and prints (PostgreSQL store, local jobs,
the UI's processes), a basic-auth MLflow server with wrong and missing credentials, a torn log line, a
changed step count, a truncated checkpoint, a garbage stage record, a corrupted video and a full file
system. Each broken state is cleared by the next run (or `--force`)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from harness.run.launch import child_env, free_port
from tests.harness.mini import mini_experiment

pytestmark = pytest.mark.slow

PLANTED = "Pl4nted-s3cret"


def _harness(
    home: Path, *args: str, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """`harness ARGS` as a user runs it (its own process), in the workspace home/ws."""
    full = {
        **child_env(),
        "HARNESS_HOME": str(home / "ws"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _said(res: subprocess.CompletedProcess) -> str:
    return res.stdout + res.stderr


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# -- secrets --------------------------------------------------------------------------------------------


def _database_text(url: str) -> str:
    """Every row of every table of the store's database, as text."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return "\n".join(str(conn.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)


def test_a_planted_password_is_in_nothing_a_run_writes_or_prints(home, postgres):
    (home / "mini.yaml").write_text(mini_experiment(name="secret"))
    url = postgres.password_user("svi_planted", PLANTED, postgres.database("secret"))
    env = {"MLFLOW_TRACKING_URI": url}

    wrong = _harness(
        home, "run", str(home / "mini.yaml"), env={"MLFLOW_TRACKING_URI": url.replace(PLANTED, "Wr0ng-pw")}
    )
    assert wrong.returncode == 2, _said(wrong)
    assert "authentication failed" in wrong.stderr and len(wrong.stderr.strip().splitlines()) == 1
    assert "Wr0ng-pw" not in _said(wrong) and "svi_planted:***@" in wrong.stderr

    res = _harness(home, "run", str(home / "mini.yaml"), "--executor", "local", env=env)
    assert res.returncode == 0, _said(res)[-3000:]
    assert PLANTED not in _said(res) and "svi_planted:***@" in res.stdout
    assert _files_holding(home / "ws", PLANTED) == []  # job pickles, logs, configs, reports, stage records
    jobs = home / "ws" / "jobs"
    assert jobs.stat().st_mode & 0o077 == 0 and all(
        p.stat().st_mode & 0o077 == 0 for p in jobs.glob("secret/*")
    ), "job folders are the owner's alone"
    assert PLANTED not in _database_text(url)  # no tag, param or description quotes it

    report = _harness(home, "report", "secret", env=env)
    assert report.returncode == 0 and PLANTED not in _said(report)

    # the UI gets the URI by its environment: no process's command line shows it (`ps`)
    import psutil

    port = free_port()
    full_env = {**child_env(), "HARNESS_HOME": str(home / "ws"), **env}
    ui = subprocess.Popen(
        [sys.executable, "-m", "cli", "ui", "--port", str(port)], env=full_env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        import requests

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        assert ui.poll() is None, ui.stdout.read()
        lines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        assert any("mlflow" in line and "ui" in line for line in lines)
        assert not [line for line in lines if PLANTED in line]
    finally:
        import signal

        os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(timeout=60)
    assert PLANTED not in ui.stdout.read()


def test_a_basic_auth_server_refuses_wrong_or_missing_credentials_in_one_line(home, auth_server):
    (home / "mini.yaml").write_text(mini_experiment(name="guarded"))
    auth_server.add_user("alice", PLANTED)
    base = {"MLFLOW_TRACKING_URI": auth_server.url}
    cases = {
        "wrong": {**base, "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "Wr0ng-pw"},
        "missing": base,
    }
    for what, env in cases.items():
        res = _harness(home, "run", str(home / "mini.yaml"), env=env)
        assert res.returncode == 2, (what, _said(res))
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in _said(res), res.stderr
        assert "authentication failed (HTTP 401" in res.stderr
        assert "Wr0ng-pw" not in _said(res)
    assert "no credentials were given" in _harness(home, "report", "guarded", env=base).stderr
    good = {**base, "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": PLANTED}
    res = _harness(home, "run", str(home / "mini.yaml"), "--arm", "base", env=good)
    assert res.returncode == 0, _said(res)[-3000:]
    assert PLANTED not in _said(res) and _files_holding(home / "ws", PLANTED) == []


# -- broken states ------------------------------------------------------------------------------------


def test_broken_training_and_stage_records_are_cleared_by_a_rerun(home):
    (home / "mini.yaml").write_text(mini_experiment(name="mend", steps=4, checkpoint_every=2))
    train = home / "ws" / "runs" / "mend" / "full" / "seed0" / "train"
    run = ["run", str(home / "mini.yaml"), "--arm", "full"]
    assert _harness(home, *run).returncode == 0

    # a crash left half a line at the end of the training log; the user asks for more steps
    with open(train / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "train/lo')
    res = _harness(home, *run, "train.steps=6")
    assert res.returncode == 0, _said(res)[-3000:]
    assert "train.steps 4 -> 6: resuming from its checkpoint at step 4" in res.stdout
    log = (train / "train.log").read_text()
    assert "dropped 1 torn line(s)" in log and "resumed from" in log and "step_00000004" in log
    steps = [json.loads(line)["step"] for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]

    # the newest checkpoint was cut short (a full disk while saving): the one before it serves
    states = next((train / "checkpoints" / "step_00000006").rglob("*model_states.pt"))
    states.write_bytes(states.read_bytes()[: states.stat().st_size // 3])
    res = _harness(home, *run, "train.steps=8")
    assert res.returncode == 0, _said(res)[-3000:]
    log = (train / "train.log").read_text()
    assert "step_00000006 cannot be loaded" in log and "trying the one before it" in log
    assert (train / "checkpoints" / "unloadable_step_00000006").is_dir()
    assert (train / "checkpoints" / "latest").read_text().strip() == "step_00000008"

    # a garbage stage record: the stage runs again; --force does not even read it
    scores = home / "ws" / "runs" / "mend" / "full" / "seed0" / "scores" / "consistent_1s"
    (scores / "stage.json").write_text("{garbage")
    res = _harness(home, *run, "train.steps=8")
    assert res.returncode == 0 and "stage.json is unreadable" in res.stdout
    (scores / "stage.json").write_text("{garbage")
    res = _harness(home, *run, "train.steps=8", "--force", "score")
    assert res.returncode == 0 and "unreadable" not in res.stdout


def test_a_corrupt_video_fails_its_arm_by_name_unless_skipping_is_allowed(home):
    (home / "mini.yaml").write_text(mini_experiment(name="decode", limit=2))
    run = ["run", str(home / "mini.yaml"), "--arm", "base"]
    assert _harness(home, *run).returncode == 0
    videos = sorted(
        (home / "ws" / "runs" / "decode" / "base" / "seed0" / "videos" / "consistent_1s").glob("*.mp4")
    )
    assert len(videos) == 2
    bad = videos[0]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # its index (moov) is gone

    res = _harness(home, *run, "--force", "score")
    assert res.returncode == 1 and f"{bad.name}" in res.stdout and "cannot be decoded" in res.stdout
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    exp = c.get_experiment_by_name("decode")
    latest = c.search_runs([exp.experiment_id], "tags.arm = 'base'", order_by=["attributes.start_time DESC"])[
        0
    ]
    assert latest.info.status == "FAILED" and bad.name in latest.data.tags["error"]

    res = _harness(home, *run, "skip_bad_videos=true", "--force", "score")
    assert res.returncode == 0, _said(res)[-3000:]
    assert f"1 undecodable video(s) left out: {bad.stem}" in res.stdout
    latest = c.search_runs([exp.experiment_id], "tags.arm = 'base'", order_by=["attributes.start_time DESC"])[
        0
    ]
    assert latest.data.tags["skipped_videos.consistent_1s"] == bad.stem
    report = (home / "ws" / "reports" / "decode" / "report.md").read_text()
    assert "## Videos left out" in report and f"| base | 0 | consistent_1s | {bad.stem} | 1 |" in report


def _mount_tmpfs(folder: Path, size: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if res.returncode:
        pytest.skip(f"cannot mount a small file system here (needs root): {res.stderr.decode().strip()}")


def test_a_full_disk_is_one_clear_message_and_the_next_run_finishes(home, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    (home / "mini.yaml").write_text(mini_experiment(name="full_disk"))
    disk = tmp_path / "small"
    _mount_tmpfs(disk, "700k")  # a run of this experiment writes about 1.5 MB besides its store
    try:
        env = {"HARNESS_HOME": str(disk / "ws"), "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
        res = _harness(home, "run", str(home / "mini.yaml"), env=env)
        said = _said(res)
        assert res.returncode != 0 and "the disk is full" in said, said[-3000:]
        assert "Traceback" not in said, said
        # every mention of the cause is the one message (tqdm's bars make line counts meaningless)
        assert all("the disk is full" in line for line in said.splitlines() if "space left" in line), said
        c = MlflowClient(env["MLFLOW_TRACKING_URI"])
        runs = c.search_runs([c.get_experiment_by_name("full_disk").experiment_id])
        assert runs and all(r.info.status != "RUNNING" for r in runs)  # the failure path marked them
        failed = [r for r in runs if r.info.status == "FAILED" and "error" in r.data.tags]
        assert failed and all("the disk is full" in r.data.tags["error"] for r in failed)

        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        res = _harness(home, "run", str(home / "mini.yaml"), env=env)
        assert res.returncode == 0, _said(res)[-3000:]
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
