"""Mistakes fail before any work: exit code 2, one message naming the cause, nothing logged."""

import json
import socket
import subprocess
import sys
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from cli import main, parse_args
from toyworld.synthetic import write_benchmark, write_dataset

EXPERIMENT = """
name: checked
config:
  model: {preset: tiny}
  lora: {rank: 4, alpha: 4}
  memory: {capacity: 4, budget_bytes: 16777216, warmup_steps: 2}
  train: {steps: 2, checkpoint_every: 2}
  generate: {steps: 1}
arms:
  base: {train: false, role: baseline}
  full: {}
seeds: [0]
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: colour_shift
metrics_backend: random
"""


def _write(home, text=EXPERIMENT, **replace):
    for old, new in replace.items():
        text = text.replace(old, new)
    path = home / "checked.yaml"
    path.write_text(text)
    return path


def _nothing_logged(home):
    db = home / "ws" / "mlflow.db"
    if not db.is_file():
        return True
    c = MlflowClient(f"sqlite:///{db}")
    return c.get_experiment_by_name("checked") is None


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"metrics: colour_shift": "metrics: colour_shfit"}, "unknown metric 'colour_shfit'"),
        ({"seeds: [0]": "seeds: []"}, "seeds"),
        ({"seeds: [0]": "seeds: [1, 1]"}, "distinct"),
        ({"arms:\n  base: {train: false, role: baseline}\n  full: {}": "arms: {}"}, "at least one arm"),
        ({"metrics_backend: random": "metrics_backend: random\nwindow: 2x"}, "window"),
        ({"seeds: [0]": "seeds: [0]\ncomparisons: [full - plain]"}, "not declared: plain; arms: base, full"),
    ],
)
def test_bad_experiment_fields_exit_2_and_log_nothing(home, capsys, change, needle):
    rc = main(["run", str(_write(home, **change))])
    assert rc == 2
    assert needle in capsys.readouterr().err
    assert _nothing_logged(home)


def test_a_metric_typo_is_caught_without_importing_torch(home):
    """Validation of names is torch-free, so a typo fails in well under a second (measured in the README)."""
    path = _write(home, **{"metrics: colour_shift": "metrics: vbench,fvdd"})
    code = (
        "import sys, time; t = time.perf_counter(); from cli import main; "
        f"rc = main(['run', {str(path)!r}]); "
        "print(rc, 'torch' in sys.modules, round(time.perf_counter() - t, 3))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    rc, torch_loaded, _seconds = out.stdout.split()
    assert rc == "2" and torch_loaded == "False", out.stderr
    assert "fvdd" in out.stderr


def _bench(home):
    return write_benchmark(home / "bench", samples=2)


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda s: (s / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image"), "unreadable image"),
        (lambda s: _truncate(s / "image.png"), "unreadable image"),
        (lambda s: (s / "prompt.txt").write_text("\n  \n"), "prompt.txt is empty"),
        (lambda s: (s / "prompt.txt").write_text('prompts = ["a cat", '), "cannot be read"),
        (lambda s: (s / "prompt.txt").write_bytes(b"\xff\xfe\x00bad"), "not UTF-8"),
    ],
)
def test_bad_benchmark_samples_exit_2_before_training(home, capsys, monkeypatch, damage, needle):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as VBench's AMT module leaves it
    bench = _bench(home)
    sample = sorted((bench / "consisent_video_gen").iterdir())[0]
    damage(sample)
    rc = main(["run", str(_write(home)), f"benchmark_root={bench}"])
    assert rc == 2
    err = capsys.readouterr().err
    assert needle in err and sample.name in err and "skip_bad_samples" in err
    assert _nothing_logged(home) and not (home / "ws" / "runs").exists()


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_prompt_files_in_both_official_forms(tmp_path):
    from scoring.suites import read_prompt_file

    lines, listed, one_line = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    lines.write_text("a cat walks\n\nthe cat sits\n")
    listed.write_text('prompts = [\n    "a cat walks",\n    "the cat sits",\n]\n')
    one_line.write_text("prompts = ['a cat walks', \"the cat sits\"]")
    for f in (lines, listed, one_line):
        assert read_prompt_file(f) == ("a cat walks", "the cat sits")
    (tmp_path / "d.txt").write_text("[scene 1] a cat walks\n[scene 2] it sits")  # lines that start with [
    assert read_prompt_file(tmp_path / "d.txt") == ("[scene 1] a cat walks", "[scene 2] it sits")
    (tmp_path / "e.txt").write_text("prompts = [__import__('os').system('echo no')]")
    with pytest.raises(ValueError, match="cannot be read"):
        read_prompt_file(tmp_path / "e.txt")  # never evaluated


@pytest.mark.parametrize("damage", ["unreadable", "missing"])
def test_bad_training_data_exits_2_unless_skipped(home, capsys, damage):
    root = home / "clips"
    write_dataset(root, categories=("moving",), videos_per_category=3, num_frames=12, height=32, width=32)
    csv = root / "moving" / "moving.csv"
    if damage == "unreadable":
        next((root / "moving").glob("*.mp4")).write_bytes(b"not a video")
    else:
        csv.write_text(csv.read_text() + "ghost.mp4,a clip that is not there\n")
    path = _write(home)
    rc = main(["run", str(path), f"data.root={root}", "suites=[]"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "training data of arm full" in err and "data.skip_bad=true" in err
    assert _nothing_logged(home)
    # with the skip option the plan is accepted (the bad clip is left out when training starts)
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import check_plan, make_plan

    exp, source = load_experiment(str(path), [f"data.root={root}", "data.skip_bad=true", "suites=[]"])
    check_plan(make_plan(exp, source))


def test_an_unreachable_tracking_server_fails_fast(home, capsys, monkeypatch):
    # a server that accepts the connection and never answers: without a timeout this hangs
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    uri = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    t = time.perf_counter()
    try:
        rc = main(["run", str(_write(home))])
    finally:
        server.close()
    assert rc == 2 and time.perf_counter() - t < 60
    err = capsys.readouterr().err
    assert uri in err and "MLFLOW_TRACKING_URI" in err


def test_an_unwritable_workspace_fails_fast(home, capsys, monkeypatch):
    blocker = home / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("HARNESS_HOME", str(blocker / "ws"))
    rc = main(["run", str(_write(home))])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(blocker / "ws") in err and "HARNESS_HOME" in err


def test_options_and_overrides_in_any_order():
    a = parse_args(["sweep", "injection_probs", "--trials", "2", "train.steps=30", "--workers", "2"])
    b = parse_args(["sweep", "--trials", "2", "injection_probs", "train.steps=30", "--workers", "2"])
    for args in (a, b):
        assert (args.sweep, args.trials, args.workers, args.overrides) == (
            "injection_probs", 2, 2, ["train.steps=30"]
        )  # fmt: skip
    r = parse_args(["run", "ablation_eimg", "--force", "score", "seeds=[0,1]", "train.steps=5"])
    assert r.force == ["score"] and r.overrides == ["seeds=[0,1]", "train.steps=5"]


def test_a_sweep_objective_that_is_not_scored_exits_2(home, capsys):
    """With `score: all` the trials score the experiment's metrics, so the objective must be one of them;
    with `score: needed` (the default) they score the objective's, which must be a metric at all."""
    sweep = home / "s.yaml"
    head = f"name: s\nexperiment: {home / 'checked.yaml'}\narm: full\nspace: {{erft.p_img: {{low: 0, high: 1}}}}\n"
    sweep.write_text(head + "score: all\nobjective: [{metric: consistent_1s/subject_consistency}]\n")
    _write(home)
    rc = main(["sweep", str(sweep), "--trials", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "consistent_1s/subject_consistency" in err and "colour_shift" in err
    sweep.write_text(head + "objective: [{metric: consistent_1s/subject_consistensy}]\n")
    assert main(["sweep", str(sweep), "--trials", "1"]) == 2
    assert "subject_consistensy" in capsys.readouterr().err
    assert not (home / "ws" / "optuna.db").exists()


def test_list_names_experiments_and_sweeps(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "ablation_eimg" in out and "sweeps (harness sweep NAME)" in out and "injection_probs" in out


def test_stage_lock_waits_for_its_holder_and_a_dead_holders_lock_is_free(tmp_path):
    from harness.base import workspace

    folder = tmp_path / "stage"
    order = []
    with workspace.stage_lock(folder):
        holder = json.loads(workspace.lock_path(folder).read_text())
        assert holder["pid"] > 0 and holder["host"]
        with workspace.stage_lock(folder):  # the holder may re-enter
            pass

        def second():
            with workspace.stage_lock(folder):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(10)
    assert order == ["first done", "second"]
    # a holder killed with SIGKILL leaves its lock file, but not its lock
    code = (
        "import os, sys; from harness.base import workspace; "
        f"cm = workspace.stage_lock(__import__('pathlib').Path({str(folder)!r})); cm.__enter__(); "
        "print('held', flush=True); os.kill(os.getpid(), 9)"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert json.loads(workspace.lock_path(folder).read_text())["pid"] > 0  # its record is still there
    with workspace.stage_lock(folder, wait=False):  # and it is taken over at once
        pass


def test_every_shipped_experiment_validates_and_plans():
    """Each experiment in configs/experiments loads, resolves every arm's configuration and plans."""
    from harness.declare.plan import make_plan
    from tests.harness.mini import shipped_experiments

    for name, exp, source in shipped_experiments():
        plan = make_plan(exp, source)
        assert {u.arm for u in plan.units} == set(exp.arms), name


def test_conditional_suites_and_missing_toy_adapter_are_named(tmp_path, monkeypatch):
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import check_plan, make_plan
    from svi.conditions import attach as conditions
    from svi.config import ConfigError

    exp, source = load_experiment("svi_talk")
    assert exp.tracks == ["conditional_talk_60s"]
    plan = make_plan(exp, source)
    assert plan.units[0].cfg.condition.kind == "audio" and plan.units[0].cfg.generate.fps == 25
    monkeypatch.setitem(
        conditions.TOY_ADAPTERS, "audio", (tmp_path / "none.safetensors", "pretrain_toy_talk")
    )
    with pytest.raises(ConfigError, match="harness run pretrain_toy_talk"):
        check_plan(plan)
