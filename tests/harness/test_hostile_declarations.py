"""Experiment, config and sweep declarations from anyone are refused in seconds: one line `error: ...`
naming the file and what is wrong, exit code 2, nothing written anywhere.

Each attack is made for real: the hostile YAML is written to a temporary folder and the command line
(`harness plan FILE`, `harness run FILE`, `harness sweep FILE`) runs on it in this process. The time
limit is a hang guard (before the bounds, these cases ran for minutes or filled gigabytes), not a
performance claim. Below them, the bounded YAML reader itself (svi/config.py load_yaml_text)."""

import time
from pathlib import Path

import pytest
import yaml

from cli import main
from svi import config
from svi.config import (
    YAML_MAX_BYTES,
    YAML_MAX_DEPTH,
    YAML_MAX_NODES,
    ConfigError,
    load_yaml_file,
    load_yaml_text,
    parse_override,
    read_mapping,
    read_yaml,
)

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 10.0

EXPERIMENT = """\
name: hostile
config:
  model: {preset: tiny}
arms:
  base: {train: false, role: baseline}
  full: {}
seeds: [0]
suites: [{suite: consistent, length: 1s, limit: 1}]
metrics: colour_shift
metrics_backend: random
"""


def _bomb(indent: str) -> str:
    """A billion laughs: 9 levels of 9 aliases each, 9^9 values from a few hundred bytes."""
    lines = [f"{indent}a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{indent}{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines) + "\n"


def _with(old: str, new: str) -> str:
    assert old in EXPERIMENT
    return EXPERIMENT.replace(old, new)


# (case, declaration text, what the one line must say besides the file's name)
CASES = [
    (
        "alias bomb in arms overrides",
        _with("  full: {}\n", "  full:\n    overrides:\n" + _bomb("      ")),
        ["aliases expanded", f"more than {YAML_MAX_NODES} values"],
    ),
    (
        "alias bomb in executor.slurm_extra",
        EXPERIMENT + "executor:\n  kind: slurm\n  slurm_extra:\n" + _bomb("    "),
        ["aliases expanded"],
    ),
    (
        "a million seeds",
        _with("seeds: [0]", f"seeds: [{', '.join(map(str, range(10**6)))}]"),
        ["bytes, more than a declaration file may hold", "1048576"],
    ),
    (
        "a long generated list under the size bound",
        _with("seeds: [0]", f"seeds: [{', '.join(['0'] * 200_000)}]"),
        [f"more than {YAML_MAX_NODES} values"],
    ),
    (
        "5000 seeds",
        _with("seeds: [0]", f"seeds: [{', '.join(map(str, range(5000)))}]"),
        ["seeds:", "at most 1000 items"],
    ),
    ("toy_samples 1000000", EXPERIMENT + "toy_samples: 1000000\n", ["toy_samples:", "1000"]),
    ("toy_samples where no arm is toy", EXPERIMENT + "toy_samples: 8\n", ["toy_samples", "presets: tiny"]),
    ("seed -1", _with("seeds: [0]", "seeds: [-1]"), ["seeds.0:", "from 0 to 2147483647", "got -1"]),
    ("seed 1.0e+20", _with("seeds: [0]", "seeds: [1.0e+20]"), ["seeds.0:", "got 1e+20"]),
    ("seed 1e20", _with("seeds: [0]", "seeds: [1e20]"), ["seeds.0:", "got 1e+20"]),
    ("seed true", _with("seeds: [0]", "seeds: [true]"), ["seeds.0:", "got True"]),
    (
        "a top-level key twice",
        EXPERIMENT + "seeds: [1]\n",
        ["line 11:", "key 'seeds' appears twice", "first on line 7"],
    ),
    (
        "a nested key twice",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  model: {preset: toy}\n"),
        ["line 4:", "key 'model' appears twice", "first on line 3"],
    ),
    ("nested 10000 deep", EXPERIMENT + f"description: {'[' * 10_000}{']' * 10_000}\n", ["nested more than"]),
    (
        "2 arms x 600 seeds",
        _with("seeds: [0]", f"seeds: [{', '.join(map(str, range(600)))}]"),
        ["1200 units"],
    ),
    (
        "a track of 1e9 seconds",
        _with("length: 1s", "length: 1e9s"),
        ["suites.0.length:", "at most 3600s"],
    ),
    (
        "a clip 100000 pixels high",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  generate: {height: 100000}\n"),
        ["generate.height:", "less than or equal to 4096"],
    ),
    (
        "a clip of 100001 frames",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  generate: {num_frames: 100001}\n"),
        ["generate.num_frames:", "less than or equal to 1025"],
    ),
    (
        "1e12 training steps",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  train: {steps: 1.0e+12}\n"),
        ["train.steps:", "less than or equal to 10000000"],
    ),
    ("a track of infs", _with("length: 1s", "length: infs"), ["suites.0.length:", "digits"]),
    ("a track of nans", _with("length: 1s", "length: nans"), ["suites.0.length:", "digits"]),
    ("a track of 1e309s", _with("length: 1s", "length: 1e309s"), ["suites.0.length:", "not a finite"]),
    ("a track named with spaces", _with("length: 1s", "length: '  1S '"), ["suites.0.length:", "digits"]),
    ("a window of nans", EXPERIMENT + "window: nans\n", ["window:", "positive number of seconds"]),
    (
        "true training steps",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  train: {steps: true}\n"),
        ["train: steps must be a number, not bool true"],
    ),
    (
        "training steps as text",
        _with("  model: {preset: tiny}\n", "  model: {preset: tiny}\n  train: {steps: '100'}\n"),
        ['train: steps must be a number, not str "100"'],
    ),
    ("true toy samples", EXPERIMENT + "toy_samples: true\n", ["toy_samples must be a number, not bool true"]),
    (
        "a list as an sbatch option",
        EXPERIMENT + "executor: {slurm_extra: {exclusive: [1, 2]}}\n",
        ["executor.slurm_extra:", "one value"],
    ),
]


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its modification time and size."""
    return {str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in root.rglob("*")}


def _refused(home: Path, capsys, monkeypatch, argv: list[str], needles: list[str], named: object) -> None:
    """Run the command line; assert exit 2, one `error:` line naming `named` (a file, an override) and
    each needle, within the hang guard, and not a file written or touched under `home` (the working
    directory included) or beside it."""
    cwd = home / "cwd"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)  # a file written relative to the working directory would show in the tree
    marker = home.parent / f"{home.name}.marker"
    marker.write_text("nothing beside the test folder is touched")
    before, beside, marked = _tree(home), sorted(p.name for p in home.parent.iterdir()), marker.stat()
    capsys.readouterr()
    t = time.perf_counter()
    rc = main(argv)
    seconds = time.perf_counter() - t
    out, err = capsys.readouterr()
    try:
        assert rc == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert str(named) in lines[0], err
        for needle in needles:
            assert needle in lines[0], err
        assert "Traceback" not in err and out == ""
        assert seconds < HANG_GUARD_S, f"{seconds:.1f} s"
        assert _tree(home) == before
        assert not (home / "ws").exists()  # not even the workspace is made
        assert sorted(p.name for p in home.parent.iterdir()) == beside
        assert marker.stat().st_mtime_ns == marked.st_mtime_ns
    finally:
        marker.unlink()


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize("case, text, needles", CASES, ids=[c[0] for c in CASES])
def test_hostile_experiments_are_refused_in_seconds(home, capsys, monkeypatch, command, case, text, needles):
    declaration = home / "decl" / "hostile.yaml"
    declaration.parent.mkdir()
    declaration.write_text(text)
    _refused(home, capsys, monkeypatch, [command, str(declaration)], needles, declaration)


@pytest.mark.parametrize(
    "length, needle",
    [
        ("100000s", "at most 3600s"),  # experiment tracks' cap: a 448-hour generation before
        ("infs", "digits"),
        ("nans", "digits"),
        ("1e309s", "not a finite number"),
        ("  50S ", "digits"),
        ("0s", "positive"),
    ],
)
def test_generate_asks_for_no_length_a_track_may_not_have(home, capsys, monkeypatch, length, needle):
    argv = ["generate", "--suite", "consistent", "--length", length, "--out", str(home / "out")]
    _refused(home, capsys, monkeypatch, argv, [needle], repr(length))


@pytest.mark.parametrize("window", ["nans", "infs", "1e309s", "0s"])
def test_score_takes_no_window_that_is_not_seconds(home, capsys, monkeypatch, window):
    videos = home / "videos"
    videos.mkdir()
    argv = ["score", str(videos), "--window", window, "--metrics", "colour_shift", "--backend", "random"]
    _refused(home, capsys, monkeypatch, argv, ["--window must be"], repr(window))


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_plan_past_the_ceiling_needs_allow_large(home, capsys, monkeypatch, command):
    """2 arms x 60 seeds x an hour-long track x 10 samples: 1,200 hours of video, each field within its
    own bound; refused as a whole unless --allow-large says it is meant."""
    from harness.declare.bounds import check_scale
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan

    text = _with("seeds: [0]", f"seeds: [{', '.join(map(str, range(60)))}]").replace(
        "length: 1s, limit: 1", "length: 3600s, limit: 10"
    )
    declaration = home / "decl" / "hostile.yaml"
    declaration.parent.mkdir()
    declaration.write_text(text)
    needles = ["1,200 hours of generated video", "120 units", "--allow-large"]
    _refused(home, capsys, monkeypatch, [command, str(declaration)], needles, "hostile asks for")
    exp, source = load_experiment(str(declaration))
    check_scale(make_plan(exp, source), allow_large=True)  # past it on purpose: not refused


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_50_mb_file_is_refused_before_it_is_read(home, capsys, monkeypatch, command):
    declaration = home / "decl" / "big.yaml"
    declaration.parent.mkdir()
    with declaration.open("w") as f:
        f.write(EXPERIMENT)
        f.truncate(50 << 20)  # sparse: 50 MB on paper, nothing on the disk
    needles = [f"{50 << 20} bytes", f"{YAML_MAX_BYTES} bytes"]
    _refused(home, capsys, monkeypatch, [command, str(declaration)], needles, declaration)


def test_a_hostile_base_file_is_refused_by_name(home, capsys, monkeypatch):
    """`base:` names a config file beside the experiment: read by the same bounded reader."""
    folder = home / "decl"
    folder.mkdir()
    base = folder / "base.yaml"
    base.write_text("model: {preset: tiny}\ntrain:\n" + _bomb("  "))
    declaration = folder / "hostile.yaml"
    declaration.write_text(_with("config:\n  model: {preset: tiny}\n", "base: base.yaml\n"))
    _refused(home, capsys, monkeypatch, ["plan", str(declaration)], ["aliases expanded"], base.resolve())


def test_a_hostile_override_is_refused(home, capsys, monkeypatch):
    folder = home / "decl"
    folder.mkdir()
    declaration = folder / "fine.yaml"
    declaration.write_text(EXPERIMENT)
    bomb = (
        "["
        + ", ".join(f"&a{i} [" + ", ".join([f"*a{i - 1}" if i else "x"] * 9) + "]" for i in range(9))
        + "]"
    )
    argv = ["plan", str(declaration), f"train.steps={bomb}"]
    _refused(home, capsys, monkeypatch, argv, ["aliases expanded"], "override train.steps")


@pytest.mark.parametrize(
    "text, needles",
    [
        (
            "name: s\nexperiment: x\narm: full\nobjective: []\ntrials: 4\ntrials: 8\n",
            ["key 'trials' appears twice"],
        ),
        (
            "name: s\nexperiment: x\narm: full\nobjective: []\nenqueue_defaults:\n" + _bomb("  "),
            ["aliases expanded"],
        ),
        ("name: s\nexperiment: x\narm: full\nobjective: []\ntrials: 1000000000\n", ["trials:", "1000"]),
    ],
    ids=["a key twice", "an alias bomb", "a billion trials"],
)
def test_hostile_sweeps_are_refused_in_seconds(home, capsys, monkeypatch, text, needles):
    import sweeps.study  # noqa: F401  (imported before the clock starts: Optuna takes seconds to import)

    declaration = home / "decl" / "sweep.yaml"
    declaration.parent.mkdir()
    declaration.write_text(text)
    _refused(home, capsys, monkeypatch, ["sweep", str(declaration)], needles, declaration)


def _preload_the_meta_model() -> None:
    """The plan's memory estimate builds the model on the meta device: diffusers is imported before
    the clock starts (it takes seconds to import on a busy machine)."""
    from diffusers import WanTransformer3DModel  # noqa: F401

    import harness.declare.preview  # noqa: F401


@pytest.mark.parametrize("command", ["plan", "run"])
def test_sizes_that_the_machine_cannot_hold_are_refused_by_the_plans_estimate(
    home, capsys, monkeypatch, command
):
    """Each size within its own bound, together more than this machine holds: the toy preset (it runs
    here) training 1025 frames of 4096 x 4096, about 466 GB by the plan's estimate."""
    from harness.declare.bounds import machine_memory

    if machine_memory() > 466e9:
        pytest.skip("this machine holds the plan's 466 GB estimate")
    _preload_the_meta_model()
    declaration = home / "decl" / "big.yaml"
    declaration.parent.mkdir()
    declaration.write_text(
        _with(
            "  model: {preset: tiny}\n",
            "  model: {preset: toy}\n  data: {height: 4096, width: 4096, num_frames: 1025}\n",
        )
        .replace("  base: {train: false, role: baseline}\n", "")
        .replace("metrics: colour_shift", "metrics: colour_shift\ntoy_samples: 1")
    )
    needles = ["arm full: train of 1025 frames of 4096 x 4096 needs about", "by the plan's estimate",
               "more than this machine's", "lower data.num_frames, data.height, data.width"]  # fmt: skip
    _refused(home, capsys, monkeypatch, [command, str(declaration)], needles, "arm full")


def test_a_sweep_asks_no_more_trials_than_its_file_may_and_no_more_workers_than_the_machine_holds(
    home, capsys, monkeypatch
):
    import os

    import sweeps.study  # noqa: F401  (Optuna: imported before the clock starts)

    _preload_the_meta_model()
    folder = home / "decl"
    folder.mkdir()
    (folder / "base.yaml").write_text(EXPERIMENT)
    sweep = folder / "s.yaml"
    sweep.write_text(
        f"name: s\nexperiment: {folder / 'base.yaml'}\narm: full\ntrials: 4\n"
        "objective: [{metric: consistent_1s/colour_shift, direction: minimize}]\n"
        "space: {erft.p_img: {low: 0.0, high: 1.0}}\n"
    )
    args = ["sweep", str(sweep), "train.steps=5"]
    _refused(
        home, capsys, monkeypatch, [*args, "--trials", "1000000"], ["1 to 1000 trials"], "--trials 1000000"
    )
    _refused(home, capsys, monkeypatch, [*args, "--trials", "0"], ["1 to 1000 trials"], "--trials 0")
    many = (os.cpu_count() or 1) + 1
    needles = [f"at most {os.cpu_count()} here", "core(s)"]
    _refused(home, capsys, monkeypatch, [*args, "--workers", str(many)], needles, f"--workers {many}")
    _refused(home, capsys, monkeypatch, [*args, "--workers", "64"], ["at most"], "--workers 64")


def test_a_hostile_pretraining_is_refused_in_seconds(home, capsys, monkeypatch):
    import harness.run.pretraining  # noqa: F401  (torch: imported before the clock starts)

    declaration = home / "decl" / "pretrain.yaml"
    declaration.parent.mkdir()
    declaration.write_text("name: p\nkind: pretrain\nworld: {clips: 1000000000}\n")
    _refused(home, capsys, monkeypatch, ["run", str(declaration)], ["world.clips:", "100000"], declaration)


# -- the bounded reader itself ---------------------------------------------------------------------


def test_a_repeated_key_is_named_with_its_lines(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  steps: 10\n  lr: 0.1\n  steps: 20\n")
    with pytest.raises(ConfigError) as e:
        read_mapping(f)
    assert (
        str(e.value) == f"{f}: line 4: key 'steps' appears twice in one mapping (first on line 2): keep one"
    )
    with pytest.raises(ConfigError, match="key 'true' repeats '1'"):
        load_yaml_text("1: a\ntrue: b\n", "keys.yaml")  # one Python key: the second would replace the first


def test_small_anchors_aliases_and_merges_load_as_pyyaml_loads_them():
    text = (
        "defaults: &d {steps: 10, lr: 0.1}\n"
        "a: *d\n"
        "b: {<<: *d, steps: 20}\n"  # a merge's key overridden by the mapping's own: what merging is for
        "c: &list [1, 2, {x: [3, 4]}]\n"
        "d: [*list, *list]\n"
        "when: 2024-01-02\n"
    )
    assert load_yaml_text(text, "t.yaml") == yaml.safe_load(text)


def test_a_merge_of_a_merge_is_not_a_repeated_key():
    # the merged mapping is flattened before its own turn comes: its keys must still count once
    text = "base: &base {a: 1, b: 0}\nx: {inner: &mid {<<: *base, b: 2}}\ny: {<<: *mid, c: 3}\n"
    assert load_yaml_text(text, "m.yaml") == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("a: &a [1, *a]\n", "refers to a node that contains it"),
        (
            "a: " + "[" * (YAML_MAX_DEPTH + 1) + "]" * (YAML_MAX_DEPTH + 1),
            f"nested more than {YAML_MAX_DEPTH}",
        ),
        ("s: &s '" + "x" * 100_000 + "'\nl: [" + ", ".join(["*s"] * 100) + "]\n", "characters of text"),
        ("a: !!python/object/apply:os.system ['echo no']\n", "could not determine a constructor"),
        ("a: [1, 2\nb: 3\n", "invalid YAML at line 2, column"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
    ],
    ids=[
        "recursive alias",
        "too deep",
        "long string aliased",
        "python tag",
        "unclosed list",
        "two documents",
    ],
)
@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_the_reader_refuses_on_one_line(monkeypatch, parser, text, needle):
    if parser == "python":  # the same bounds where libyaml is not installed
        monkeypatch.setattr(config, "_DeclarationLoader", config._loader_class(config._PythonParser))
    with pytest.raises(ConfigError) as e:
        load_yaml_text(text, "src.yaml")
    message = str(e.value)
    assert message.startswith("src.yaml: ") and needle in message and "\n" not in message


@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_the_alias_bomb_stops_where_it_crosses_the_bound(monkeypatch, parser):
    if parser == "python":
        monkeypatch.setattr(config, "_DeclarationLoader", config._loader_class(config._PythonParser))
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^bomb\.yaml: line 6: more than 100000 values"):
        load_yaml_text(_bomb(""), "bomb.yaml")  # 9^6 > 100000: refused at the sixth anchor
    assert time.perf_counter() - t < HANG_GUARD_S


def test_file_bounds_are_checked_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * YAML_MAX_BYTES)
    with pytest.raises(ConfigError, match=rf"big\.yaml: {YAML_MAX_BYTES + 3} bytes, more than"):
        load_yaml_file(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_yaml_file(latin)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_yaml_file(tmp_path)


def test_override_values_are_read_by_the_bounded_reader():
    assert parse_override("seeds=[0, 1]") == {"seeds": [0, 1]}
    assert parse_override("erft.p_img=0.5") == {"erft": {"p_img": 0.5}}
    with pytest.raises(ConfigError, match="^override train.steps: line 1: key 'a' appears twice"):
        parse_override("train.steps={a: 1, a: 2}")


def test_an_extends_chain_is_bounded(tmp_path):
    for i in range(config.MAX_EXTENDS + 1):
        (tmp_path / f"c{i}.yaml").write_text(
            f"extends: c{i + 1}.yaml\n" if i < config.MAX_EXTENDS else "{}\n"
        )
    with pytest.raises(ConfigError, match=f"chains more than {config.MAX_EXTENDS} files"):
        read_yaml(tmp_path / "c0.yaml")
    assert read_yaml(tmp_path / "c1.yaml") == {}  # one file fewer: within the bound


def test_every_shipped_declaration_still_loads():
    """The shipped experiments, recipes and sweeps read as PyYAML reads them, and every experiment
    validates under the new bounds (the toy_samples rule included)."""
    from harness.declare import pretrain_experiment
    from harness.declare.experiment import is_pretrain, load_experiment
    from sweeps.study import Sweep

    files = sorted(
        [*(ROOT / "configs" / "experiments").glob("*.yaml"), *(ROOT / "configs" / "recipes").glob("*.yaml")]
        + [*(ROOT / "configs" / "sweeps").glob("*.yaml")]
    )
    assert len(files) > 10
    for f in files:
        assert read_mapping(f) == yaml.safe_load(f.read_text()), f
    for f in sorted((ROOT / "configs" / "experiments").glob("*.yaml")):
        raw = read_mapping(f)
        if is_pretrain(raw):
            pretrain_experiment.load(f, raw)
        else:
            load_experiment(str(f))
    for f in sorted((ROOT / "configs" / "sweeps").glob("*.yaml")):
        Sweep.model_validate(read_mapping(f))


def description_cut_by_a_comment(text: str) -> str | None:
    """The raw text after `description:` when YAML reads less of it: an unquoted ` #` starts a comment."""
    for line in text.splitlines():
        if line.startswith("description:") and " #" in line:
            raw = line.removeprefix("description:").strip()
            if not raw.startswith(("'", '"')):
                return raw
    return None


def test_no_shipped_description_is_cut_by_a_yaml_comment():
    """`(issue #100 ...)` unquoted ends the description at ' #': the results page then shows half a
    sentence. Every shipped declaration's description reads whole."""
    assert (
        description_cut_by_a_comment("description: Is it needed (issue #100)?")
        == "Is it needed (issue #100)?"
    )
    assert description_cut_by_a_comment("description: 'Is it needed (issue #100)?'") is None
    for f in sorted((ROOT / "configs").rglob("*.yaml")):
        assert description_cut_by_a_comment(f.read_text()) is None, f


def test_a_user_never_sees_a_traceback_on_the_hostile_inputs(home):
    """issue 73's bad inputs, each through the real `python -m cli` in a process of its own (where an
    uncaught exception would print Python's traceback): exit 2, one `error:` line, no "Traceback"."""
    import os
    import subprocess
    import sys

    folder = home / "decl"
    folder.mkdir()
    declaration = folder / "fine.yaml"
    declaration.write_text(EXPERIMENT)
    videos = home / "videos"
    videos.mkdir()
    generate = ["generate", "--suite", "consistent", "--out", str(home / "out"), "--length"]
    argvs = [
        [*generate, "infs"],
        [*generate, "1e309s"],
        [*generate, "nans"],
        [*generate, "100000s"],
        [*generate, "  50S "],
        ["score", str(videos), "--window", "nans", "--backend", "random"],
        ["plan", str(declaration), "train.steps=true"],
        ["plan", str(declaration), "train.steps='100'"],
        ["plan", str(declaration), "toy_samples=true"],
        ["plan", str(declaration), "window=nans"],
        ["run", str(declaration), "suites=[{suite: consistent, length: infs}]"],
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "cli", *argv],
            cwd=home,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for argv in argvs
    ]
    for argv, proc in zip(argvs, runs, strict=True):
        out, err = proc.communicate(timeout=300)
        assert "Traceback" not in out + err, (argv, err[-2000:])
        assert proc.returncode == 2, (argv, proc.returncode, err[-2000:])
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, err)
