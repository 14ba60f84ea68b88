"""What the harness promises when inputs are hostile or a run breaks (README, "Reliability"), the fast
cases: names that would climb out of the workspace, passwords in store URLs, torn logs and stage
records, changed step counts, over-long prompts. The end-to-end cases (a full disk, a corrupt
checkpoint and video, real servers with wrong passwords) are in test_reliability_runs.py."""

import json
import logging
import os
import time

import pytest

from cli import main
from harness.base import workspace
from harness.base.redact import redact_uri, scrub
from harness.declare import plan
from harness.run import pipeline as runner
from harness.run.launch import child_env
from svi.config import ConfigError
from svi.files import truncate_jsonl
from tests.harness.mini import mini_experiment

PLANTED = "Pl4nted-s3cret"


def _outside(tmp_path):
    """Everything under tmp_path's parent except tmp_path's own tree: where an escape would land."""
    return {p for p in tmp_path.parent.rglob("*") if tmp_path not in p.parents and p != tmp_path}


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"name: mini": "name: ../../x"}, "experiment name '../../x' is not allowed"),
        ({"  full: {}": "  ../../../../outside: {}"}, "arm name '../../../../outside' is not allowed"),
        ({"  full: {}": "  ../escape: {}"}, "arm name '../escape'"),
        ({"name: mini": "name: /etc"}, "experiment name '/etc'"),
        ({"name: mini": "name: .hidden"}, "experiment name '.hidden'"),
        ({"name: mini": "name: a/b"}, "experiment name 'a/b'"),
    ],
)
def test_names_that_would_climb_out_are_refused_before_anything_is_written(home, capsys, change, needle):
    text = mini_experiment()
    for old, new in change.items():
        text = text.replace(old, new)
    (home / "bad.yaml").write_text(text)
    before = _outside(home)
    assert main(["run", str(home / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "letters, digits" in err
    assert not (home / "ws").exists()  # nothing written, not even the workspace
    assert _outside(home) == before


def test_every_workspace_path_is_checked_to_lie_inside(home):
    assert workspace.path("runs", "mini", "full") == home / "ws" / "runs" / "mini" / "full"
    for parts in (("reports", "../../x"), ("runs", "/etc"), ("jobs", "a", "../../../b")):
        with pytest.raises(ConfigError, match="outside the workspace"):
            workspace.path(*parts)
    with pytest.raises(ConfigError, match="outside the workspace"):
        workspace.report_dir("../../elsewhere")
    # the report of a name given on the command line is confined too (exit 2, nothing written)
    assert main(["report", "../../elsewhere"]) == 2


def test_sweep_and_pretrain_names_are_identifiers(home, capsys):
    from harness.declare import pretrain_experiment
    from sweeps.study import Sweep

    with pytest.raises(ValueError, match="sweep name"):
        Sweep.model_validate({"name": "../x", "experiment": "ablation_eimg", "arm": "full", "objective": []})
    (home / "p.yaml").write_text("name: ../../p\nkind: pretrain\n")
    assert main(["run", str(home / "p.yaml")]) == 2
    assert "experiment name '../../p' is not allowed" in capsys.readouterr().err
    assert (
        pretrain_experiment.PretrainExperiment.model_validate({"name": "pretrain_toy-2.v1"}).name
        == "pretrain_toy-2.v1"
    )


def test_training_builds_its_extensions_under_the_workspace(home, monkeypatch):
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    assert child_env()["TORCH_EXTENSIONS_DIR"] == str(home / "ws" / "cache" / "torch_extensions")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", "/opt/ext")  # the user's choice wins
    assert child_env()["TORCH_EXTENSIONS_DIR"] == "/opt/ext"


# -- secrets -----------------------------------------------------------------------------------------


def test_passwords_are_masked_in_uris_and_messages(monkeypatch):
    uri = f"postgresql+psycopg://alice:{PLANTED}@db.lab:5432/mlflow"
    assert redact_uri(uri) == "postgresql+psycopg://alice:***@db.lab:5432/mlflow"
    assert redact_uri("http://bob:p@ss:w0rd@host/x") == "http://bob:***@host/x"
    assert redact_uri("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "another-one")
    text = f"FATAL: password {PLANTED} rejected; token another-one; url {uri}"
    assert PLANTED not in scrub(text) and "another-one" not in scrub(text)
    assert scrub(text).count("***") == 3


def test_credentials_in_a_query_and_fragments_of_a_password_with_an_at_are_masked(monkeypatch):
    assert (
        redact_uri(f"postgresql://127.0.0.1:9/db?password={PLANTED}")
        == "postgresql://127.0.0.1:9/db?password=***"
    )
    assert redact_uri(f"http://h/x?a=1&token={PLANTED}&b=2") == "http://h/x?a=1&token=***&b=2"
    assert redact_uri(f"http://h/x?sslpassword={PLANTED}#f") == "http://h/x?sslpassword=***#f"
    assert redact_uri("http://h/x?page=2&sort=name") == "http://h/x?page=2&sort=name"
    # libpq splits at the first '@': the rest of the password comes back as a host it cannot resolve
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "postgresql://u:ab@Pl4nted@s3cret@nohost.invalid/db")
    message = "failed to resolve host 'Pl4nted@s3cret@nohost.invalid': Name or service not known"
    assert "Pl4nted" not in scrub(message) and "s3cret" not in scrub(message)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:9/?token={PLANTED}")
    assert PLANTED not in scrub(f"Max retries exceeded with url: /?token={PLANTED}/api/2.0/mlflow")


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (f"http://ghp_{PLANTED}@host/", "http://***@host/"),  # a token as the user name
        (f"postgresql://u:sec/{PLANTED}@host/db", "postgresql://u:***@host/db"),  # a '/' in the password
        (
            f"https://a.blob.core.windows.net/c?sv=2022-11-02&sig={PLANTED}",
            "https://a.blob.core.windows.net/c?sv=2022-11-02&sig=***",
        ),
        (f"http://host/x#token={PLANTED}", "http://host/x#token=***"),
        (f"http://host/x#access_token={PLANTED}&state=1", "http://host/x#access_token=***&state=1"),
        ("http://host/x?design=1&signal=2#top", "http://host/x?design=1&signal=2#top"),  # no credential
    ],
)
def test_every_shape_of_a_credential_in_a_url_is_masked_by_one_function(monkeypatch, uri, shown):
    """redact_uri is the one function every message goes through (scrub): each shape a credential takes
    in a URL, in the URL and in a message that holds it."""
    assert redact_uri(uri) == shown
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert scrub(f"the store {uri} did not answer") == f"the store {shown} did not answer"


@pytest.mark.parametrize(
    "uri",
    [
        f"postgresql://127.0.0.1:{{port}}/db?password={PLANTED}",
        f"http://127.0.0.1:{{port}}/?token={PLANTED}",
        f"postgresql://alice:pw@{PLANTED}@nohost.invalid:5432/db",
        f"http://alice:pw@{PLANTED}@nohost.invalid/x",
        f"http://ghp_{PLANTED}@127.0.0.1:{{port}}/",  # a token as the user name
        f"postgresql://u:sec/{PLANTED}@127.0.0.1:{{port}}/db",  # a password with a '/'
        f"http://127.0.0.1:{{port}}/?sv=2022-11-02&se=2030-01-01&sig={PLANTED}",  # an Azure SAS
        f"http://127.0.0.1:{{port}}/#token={PLANTED}",  # a token in the fragment
    ],
)
def test_a_store_url_with_credentials_in_its_query_or_an_at_in_its_password_is_masked(
    home, capsys, monkeypatch, uri
):
    from harness.run.launch import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.format(port=free_port()))  # nothing listens there
    assert main(["report", "svi_talk"]) == 2
    err = capsys.readouterr().err
    assert PLANTED not in err and "Pl4nted" not in err and "s3cret" not in err, err
    assert "***" in err and len(err.strip().splitlines()) == 1, err


# the variables under which MLflow 3 turns telemetry off by itself (mlflow/telemetry/utils.py), and the
# two switches
_NOT_TRACKED = {
    *"PYTEST_CURRENT_TEST GITHUB_ACTIONS CI CIRCLECI GITLAB_CI JENKINS_URL TRAVIS TF_BUILD".split(),
    *"BITBUCKET_BUILD_NUMBER CODEBUILD_BUILD_ARN BUILDKITE TEAMCITY_VERSION CLOUD_RUN_EXECUTION".split(),
    "MLFLOW_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
}


def _telemetry_in_a_fresh_harness(env_extra: dict[str, str]) -> list[str]:
    """What a `harness` process and a child it starts see of MLflow's telemetry switch, run outside
    pytest (MLflow turns itself off under PYTEST_CURRENT_TEST and CI variables, which are removed)."""
    import subprocess
    import sys

    env = {k: v for k, v in child_env().items() if k not in _NOT_TRACKED and not k.startswith("RUNBOT_")}
    env.update(env_extra)
    code = (
        "import os, subprocess, sys\n"
        "import cli\n"
        "from mlflow.telemetry import get_telemetry_client\n"
        "from mlflow.telemetry.utils import is_telemetry_disabled\n"
        "assert cli.main(['list']) == 0\n"
        "child = subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"MLFLOW_DISABLE_TELEMETRY\"))'],"
        " capture_output=True, text=True).stdout.strip()\n"
        "print('RESULT', is_telemetry_disabled(), get_telemetry_client() is None, child)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return next(line for line in out.stdout.splitlines() if line.startswith("RESULT")).split()[1:]


def test_the_harness_turns_mlflow_telemetry_off_in_itself_and_its_children_unless_the_user_set_it(home):
    assert _telemetry_in_a_fresh_harness({}) == ["True", "True", "true"]
    # the user's own setting is kept as written, in the process and its children (the test turns no
    # telemetry on: it would send)
    assert _telemetry_in_a_fresh_harness({"MLFLOW_DISABLE_TELEMETRY": "1"}) == ["True", "True", "1"]
    assert _telemetry_in_a_fresh_harness({"DO_NOT_TRACK": "true"}) == ["True", "True", "None"]


def _only_masked(out: str) -> None:
    assert PLANTED not in out, out
    assert "***" in out, out


def test_an_unreachable_database_store_is_named_without_its_password(home, capsys, monkeypatch):
    from harness.run.launch import free_port

    (home / "mini.yaml").write_text(mini_experiment())
    port = free_port()  # nothing listens there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"postgresql+psycopg://alice:{PLANTED}@127.0.0.1:{port}/db")
    t0 = time.monotonic()
    assert main(["run", str(home / "mini.yaml")]) == 2
    err = capsys.readouterr().err
    _only_masked(err)
    assert "did not answer" in err and len(err.strip().splitlines()) == 1
    assert main(["report", "mini"]) == 2  # the same 5 s check, not MLflow's minutes of retries
    _only_masked(capsys.readouterr().err)
    assert time.monotonic() - t0 < 60


@pytest.mark.parametrize(
    "uri",
    [
        f"postgresql+psycopg://alice:{PLANTED}@127.0.0.1:notaport/db",
        f"http://alice:{PLANTED}@127.0.0.1:notaport",
    ],
)
def test_a_malformed_store_url_is_one_line_and_exit_2(home, capsys, monkeypatch, uri):
    (home / "mini.yaml").write_text(mini_experiment())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for command in (["run", str(home / "mini.yaml")], ["report", "mini"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        _only_masked(err)
        assert "malformed" in err and len(err.strip().splitlines()) == 1


def test_a_malformed_sweep_storage_is_one_line(home, capsys, monkeypatch):
    from sweeps.study import Sweep, make_storage

    sweep = Sweep.model_validate(
        {
            "name": "s",
            "experiment": "ablation_eimg",
            "arm": "full",
            "objective": [],
            "storage": f"postgresql+psycopg://alice:{PLANTED}@127.0.0.1:notaport/db",
        }
    )
    with pytest.raises(ConfigError) as e:
        make_storage(sweep)
    assert "malformed" in str(e.value) and PLANTED not in str(e.value)


# -- broken states ------------------------------------------------------------------------------------


def test_a_torn_last_line_of_a_log_is_dropped_and_counted(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "loss": 0.4}\n{"step": 3, "lo')
    assert truncate_jsonl(log, lambda r: r["step"] > 1) == 1
    assert [json.loads(x) for x in log.read_text().splitlines()] == [{"step": 1, "loss": 0.5}]
    assert truncate_jsonl(log, lambda r: False) == 0  # nothing torn any more


@pytest.mark.parametrize("garbage", ["{not json", "", "[1, 2]", "\x00\xff"])
def test_an_unreadable_stage_record_counts_as_not_done_and_force_never_reads_it(tmp_path, capsys, garbage):
    folder = tmp_path / "stage"
    folder.mkdir()
    (folder / "stage.json").write_bytes(garbage.encode("latin-1"))
    (folder / "work.txt").write_text("kept")
    assert workspace.stage_done(folder, "abc") is False
    assert "stage.json is unreadable" in capsys.readouterr().out
    assert not (folder / "stage.json").exists() and (folder / "work.txt").is_file()  # resumable work kept
    (folder / "stage.json").write_bytes(garbage.encode("latin-1"))
    assert workspace.open_stage(folder, "abc", force=True) is False
    assert capsys.readouterr().out == ""  # not read under --force
    assert not folder.exists()


def _trained_folder(tmp_path, steps: int, at: int | None) -> tuple:
    from harness.declare.experiment import Experiment

    exp = Experiment.model_validate(
        {"name": "m", "config": {"model": {"preset": "tiny"}}, "arms": {"full": {}}}
    )
    cfg = exp.arm_config("full")
    cfg.train.steps = steps
    folder = tmp_path / "train"
    inputs = plan.train_inputs(cfg)
    workspace.mark_stage(folder, plan.train_hash(cfg), inputs=inputs)
    if at is not None:
        (folder / "checkpoints").mkdir()
        (folder / "checkpoints" / "latest").write_text(f"step_{at:08d}")
    return cfg, folder


def test_more_steps_resume_a_finished_training_and_other_changes_start_over(tmp_path, capsys):
    cfg, folder = _trained_folder(tmp_path, steps=150, at=150)
    longer = cfg.model_copy(deep=True)
    longer.train.steps = 300
    assert runner.can_resume(folder, plan.train_inputs(longer))
    assert "train.steps 150 -> 300: resuming from its checkpoint at step 150" in capsys.readouterr().out
    shorter = cfg.model_copy(deep=True)
    shorter.train.steps = 100
    assert not runner.can_resume(folder, plan.train_inputs(shorter))
    assert "past the new step count" in capsys.readouterr().out
    other = longer.model_copy(deep=True)
    other.erft.p_img = 0.0
    assert not runner.can_resume(folder, plan.train_inputs(other))
    out = capsys.readouterr().out
    assert "erft.p_img 0.9 -> 0.0" in out and "training again from the start" in out
    assert "depend on erft.p_img" in out
    assert not runner.can_resume(folder, plan.train_inputs(cfg))  # unchanged: nothing to resume


def test_a_prompt_longer_than_the_text_context_is_said_once_and_recorded(tmp_path, caplog):
    from svi.config import GenerateConfig
    from svi.generation.generator import LongVideoGenerator
    from svi.generation.video import fixed_prompts
    from svi.model.backbone import build_tiny

    bb = build_tiny()
    long_prompt = "a red square glides slowly across a grey floor " * 4  # ~190 bytes; tiny reads 64 tokens
    gen = LongVideoGenerator(bb, GenerateConfig(num_frames=9, height=32, width=32, steps=1))
    image = __import__("torch").zeros(3, 32, 32)
    with caplog.at_level(logging.WARNING, logger="svi.model.backbone"):
        res = gen.generate(image, fixed_prompts([long_prompt, long_prompt, "short"]), tmp_path / "v.mp4",
                           progress=False)  # fmt: skip
    warnings = [r.getMessage() for r in caplog.records if "is cut to" in r.getMessage()]
    # the clip prompt once; the official negative prompt (392 bytes, the default) is cut too, once
    clip_cut = [w for w in warnings if "a red square" in w]
    assert len(clip_cut) == 1 and f"{bb.prompt_tokens(long_prompt)} tokens" in clip_cut[0]
    assert len(warnings) == 2 and any("bright tones" in w for w in warnings)
    clips = json.loads(res.sidecar.read_text())["clips"]
    assert [c.get("prompt_tokens") for c in clips] == [bb.prompt_tokens(long_prompt)] * 2 + [None]
    assert clips[0]["prompt_cut_to_tokens"] == bb.text_limit == 64


def test_job_folders_are_the_owners_alone(home):
    folder = workspace.private_dir(workspace.path("jobs", "mini", "abc"))
    assert folder.stat().st_mode & 0o777 == 0o700
    os.chmod(folder, 0o755)  # made by an older harness: tightened when used again
    assert workspace.private_dir(folder).stat().st_mode & 0o777 == 0o700


def test_re_pretrained_committed_weights_are_not_taken_for_the_old_ones(tmp_path):
    """The toy base model is loaded from a path that stays the same when it is re-pretrained: its content
    is in the training hash and in what stands for an untrained arm's training, its location is not."""
    import shutil

    from svi.config import build_config
    from svi.model.presets import TOY_WEIGHTS

    copy = tmp_path / "toy"
    shutil.copytree(TOY_WEIGHTS, copy)
    committed = build_config({"model": {"preset": "toy"}})
    moved = build_config({"model": {"preset": "toy", "weights": str(copy)}})
    assert plan.committed_weights(committed) == plan.committed_weights(moved)
    assert plan.untrained_hash(committed) == plan.untrained_hash(moved)
    vae = copy / "vae" / "diffusion_pytorch_model.safetensors"
    vae.write_bytes(vae.read_bytes()[:-1] + b"\x00")  # one byte of other weights
    changed = build_config({"model": {"preset": "toy", "weights": str(copy)}})
    assert (
        plan.train_inputs(changed)["committed_weights"]["base"] != plan.committed_weights(committed)["base"]
    )
    assert plan.untrained_hash(changed) != plan.untrained_hash(committed)
    talk = build_config({"model": {"preset": "toy"}, "variant": "talk"})  # the committed stand-in too
    assert set(plan.committed_weights(talk)) == {"base", "adapter"}
    named = build_config({"model": {"preset": "toy"}, "variant": "talk", "condition": {"weights": str(vae)}})
    assert set(plan.committed_weights(named)) == {"base"}  # a file the user names is keyed by its path
    tiny = build_config({"model": {"preset": "tiny"}})  # code-built: nothing to hash, hashes as before
    assert plan.untrained_hash(tiny) == "untrained" and "committed_weights" not in plan.train_inputs(tiny)
