"""Results bundles from anyone (docs/guides/reliability.md, "Bundles from anyone"): each attack is made
for real on a copy of a committed bundle or an exported one, and each must end in one line and exit
code 2 within seconds (or be handled correctly), with nothing written outside the named destination."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from cli import main
from reports.bundle import write_manifest
from tests.reports.conftest import store  # noqa: F401 - the reports' MLflow store, as a fixture here

ROOT = Path(__file__).resolve().parents[2]
SMALL = "svi_dance"  # the smallest committed bundle: 6 units, 0.5 MB


def snapshot(top: Path, skip: Path | None = None) -> dict[str, tuple]:
    """path -> (size, mtime_ns) of everything under `top` (but `skip`), links as links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if skip is not None and (p == skip or skip in p.parents):
                continue
            st = p.lstat()
            out[str(p.relative_to(top))] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture()
def sandbox(tmp_path):
    """tmp_path with a marker file outside any destination; `check()` asserts nothing under tmp_path
    but `allowed` changed (the marker's mtime, the listing of every folder)."""
    marker = tmp_path / "outside" / "marker.txt"
    marker.parent.mkdir()
    marker.write_text("untouched")
    before = {}

    class Box:
        path = tmp_path

        def freeze(self, allowed: Path | None = None):
            before.clear()
            before.update(snapshot(tmp_path, allowed))
            self.allowed = allowed

        def check(self):
            assert marker.read_text() == "untouched"
            assert snapshot(tmp_path, self.allowed) == before

    return Box()


def clone(dest: Path, bundles=(SMALL,)) -> Path:
    """A repository copy holding `bundles`, their pages and plots, and the README."""
    for name in bundles:
        shutil.copytree(ROOT / "results" / name, dest / "results" / name)
        shutil.copy(ROOT / "docs" / "results" / f"{name}.md", _mk(dest / "docs" / "results") / f"{name}.md")
        shutil.copytree(ROOT / "docs" / "results" / name, dest / "docs" / "results" / name)
    shutil.copy(ROOT / "README.md", dest / "README.md")
    return dest


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def edit_manifest(bundle: Path, **fields) -> None:
    """Change manifest fields and record the new content's digest (as an author could): what the
    reader's other checks then make of the content is what is tested."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    write_manifest(bundle, {**manifest, **fields})


def refused(args: list[str], capsys, match: str, seconds: float = 20.0) -> str:
    """`harness ARGS` ends with exit code 2 and one error line containing `match`, within `seconds`."""
    t = time.monotonic()
    assert main(args) == 2
    assert time.monotonic() - t < seconds
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


# -- writes outside the repository ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../../x/y", "/tmp/svi-harness-attack/y", "a/b", "<img src=x>"])
def test_an_experiment_name_that_is_a_path_writes_nothing(sandbox, capsys, name):
    repo = clone(sandbox.path / "clone")
    edit_manifest(repo / "results" / SMALL, experiment=name)
    sandbox.freeze()
    refused(["pages", "--root", str(repo)], capsys, "is not a name")
    refused(["pages", "--root", str(repo), "--check"], capsys, "is not a name")
    sandbox.check()
    assert not Path("/tmp/svi-harness-attack").exists()


def test_a_bundle_must_live_in_the_folder_of_its_experiment(sandbox, capsys):
    repo = clone(sandbox.path / "clone")
    edit_manifest(repo / "results" / SMALL, experiment="svi_talk")  # would overwrite svi_talk's page
    sandbox.freeze()
    refused(["pages", "--root", str(repo)], capsys, "a bundle lives in results/<its experiment>")
    sandbox.check()


def test_pages_write_through_no_symbolic_link(sandbox, capsys):
    repo = clone(sandbox.path / "clone")
    elsewhere = _mk(sandbox.path / "outside" / "pages")
    shutil.rmtree(repo / "docs" / "results")
    (repo / "docs" / "results").symlink_to(elsewhere, target_is_directory=True)
    sandbox.freeze()
    refused(["pages", "--root", str(repo)], capsys, "is a symbolic link")
    sandbox.check()
    assert not any(elsewhere.iterdir())


def test_pages_check_writes_nothing(tmp_path, capsys):
    repo = clone(tmp_path / "clone")
    # the pages of the whole collection (the toy world's verdicts, the gates page) are the clone's own
    assert main(["pages", "--root", str(repo)]) == 0
    capsys.readouterr()
    before = snapshot(tmp_path)
    for p in sorted(repo.rglob("*"), reverse=True):  # read-only as well (root writes regardless)
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        assert main(["pages", "--root", str(repo), "--check"]) == 0
        assert "every results page matches its bundle" in capsys.readouterr().out
    finally:
        for p in repo.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_symbolic_link_in_a_bundle_is_refused_not_followed(sandbox, capsys, what):
    bundle = shutil.copytree(ROOT / "results" / SMALL, sandbox.path / "b" / SMALL)
    target = sandbox.path / "outside" / "marker.txt"
    if what == "file":
        (bundle / "report" / "report.md").unlink()
        (bundle / "report" / "report.md").symlink_to(target)
    else:
        shutil.rmtree(bundle / "report")
        (bundle / "report").symlink_to(target.parent, target_is_directory=True)
    sandbox.freeze()
    refused(["report", SMALL, "--from", str(bundle)], capsys, "is a symbolic link")
    refused(["import", str(bundle)], capsys, "is a symbolic link")
    sandbox.check()


def test_a_bundle_file_over_its_cap_is_refused_before_it_is_read(tmp_path, capsys):
    bundle = shutil.copytree(ROOT / "results" / SMALL, tmp_path / SMALL)
    with open(bundle / "manifest.json", "r+b") as f:
        f.truncate(17 << 20)  # sparse: 17 MiB in no time
    refused(["report", SMALL, "--from", str(bundle)], capsys, "over the 16 MiB", seconds=5)


# -- stale or edited results ------------------------------------------------------------------------


def test_an_edited_score_is_caught_by_the_digest(tmp_path, capsys):
    bundle = shutil.copytree(ROOT / "results" / SMALL, tmp_path / SMALL)
    lines = (bundle / "scores.csv").read_text().splitlines()
    arm, seed, track, sample, level, window, metric, value = lines[1].split(",")
    lines[1] = ",".join([arm, seed, track, sample, level, window, metric, str(float(value or 0) + 1)])
    (bundle / "scores.csv").write_text("\n".join(lines) + "\n")
    refused(["report", SMALL, "--from", str(bundle)], capsys, "differs from the digest its manifest records")
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["digests"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    refused(["report", SMALL, "--from", str(bundle)], capsys, "records no digest")


def test_an_edited_score_in_the_manifest_is_caught_by_its_own_digest(home, tmp_path, capsys):
    bundle = shutil.copytree(ROOT / "results" / "svi_talk", tmp_path / "svi_talk")
    text = (bundle / "manifest.json").read_text()
    manifest = json.loads(text)
    unit = next(u for u in manifest["units"] if any(k.endswith("/fvd") for k in u.get("scores", {})))
    key = next(k for k in unit["scores"] if k.endswith("/fvd"))
    old, new = json.dumps(unit["scores"][key]), json.dumps(unit["scores"][key] * 0.9)
    assert text.count(f'"{key}": {old}') == 1
    # one FVD value changed in place, every other byte as written
    (bundle / "manifest.json").write_text(text.replace(f'"{key}": {old}', f'"{key}": {new}'))
    refused(
        ["report", "svi_talk", "--from", str(bundle)],
        capsys,
        "differs from the digest it records of its content",
    )


def test_a_run_from_a_bundle_with_an_edited_table_is_refused_before_any_work(home, capsys):
    from reports.bundle import SCORE_COLUMNS, write_manifest
    from tests.harness.test_export import _bundle_of, _mini_plan

    plan = _mini_plan(home)
    bundle = _bundle_of(plan, home / "b", {("base", 0): "FINISHED"})  # full seed 0 still to run
    row = "base,0,creative_10s,s0,video,,colour_shift,0.5\n"
    (bundle / "scores.csv").write_text(",".join(SCORE_COLUMNS) + "\n" + row)
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text()))
    (bundle / "scores.csv").write_text(",".join(SCORE_COLUMNS) + "\n" + row.replace("0.5", "0.9"))  # by hand
    refused(
        ["run", str(home / "mini.yaml"), "--from", str(bundle)], capsys, "scores.csv differs from the digest"
    )
    assert not (home / "ws" / "runs").exists()  # nothing trained, generated or scored


def _same_content(bundle: Path, digests: dict) -> None:
    from reports.bundle import read_tables

    assert read_tables(bundle).manifest["digests"] == digests


def test_a_reader_never_sees_a_half_written_bundle_while_units_are_merged(home, monkeypatch, store):  # noqa: F811
    """A reader polls the bundle (manifest, tables, digests) while `harness run --from`'s merge of a
    store's units (`export(..., keep=bundle)`) rewrites it, over and over."""
    import threading

    from harness.declare.experiment import load_experiment
    from harness.run import bundle_export
    from reports.bundle import BundleError, read_tables

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    exp, source = load_experiment("ablation_eimg", [])
    bundle = home / "results" / "ablation_eimg"
    bundle_export.export(exp, source, bundle)
    done, reads, seen = threading.Event(), [], []

    def poll():
        while not done.is_set():
            try:
                tables = read_tables(bundle)
                reads.append((len(tables.scores), len(tables.manifest["units"])))
            except (BundleError, OSError, ValueError) as e:  # anything half-written
                seen.append(f"{type(e).__name__}: {e}")

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for _ in range(3):
            bundle_export.export(exp, source, bundle, keep=bundle)
    finally:
        done.set()
        reader.join()
    assert not seen, seen[:3]
    assert len(reads) >= 3 and len(set(reads)) == 1  # every read saw the one whole bundle


_REWRITER = """
import sys
from pathlib import Path
from reports.bundle import read_bundle, read_tables, write_bundle
folder = Path(sys.argv[1])
runs, samples, manifest = read_bundle(folder)
curves = read_tables(folder).curves
extra = {k: v for k, v in manifest.items() if k not in ("bundle_version", "experiment", "units", "digests")}
print("ready", flush=True)
while True:  # the same units merged again and again, as `harness run --from` merges each unit
    write_bundle(folder, manifest["experiment"], runs, samples, curves=curves, extra=extra, units=manifest["units"])
"""


def test_a_merge_killed_part_way_leaves_the_old_bundle_readable(tmp_path):
    import signal
    import subprocess
    import sys

    from reports.bundle import read_tables

    bundle = shutil.copytree(ROOT / "results" / "mechanisms", tmp_path / "mechanisms")  # 16 MB of scores
    digests = read_tables(bundle).manifest["digests"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for delay in (0.05, 0.4, 0.9, 1.7):
        writer = subprocess.Popen(
            [sys.executable, "-c", _REWRITER, str(bundle)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)  # mid-write: no handler, no clean-up
        writer.wait()
        writer.stdout.close()
        _same_content(bundle, digests)  # read whole, the same content as before


def test_two_imports_of_one_bundle_at_once_make_one_parent_run(home):
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    from harness.run.launch import child_env

    bundle = shutil.copytree(ROOT / "results" / SMALL, home / SMALL)
    env = {**child_env(), "HARNESS_HOME": str(home / "ws"), "MLFLOW_DISABLE_TELEMETRY": "true"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "cli", "import", str(bundle)], env=env, cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-2000:] for _, e in outs]
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name(SMALL).experiment_id])
    parents = [r for r in runs if r.data.tags.get("role") == "parent"]
    units = len(json.loads((bundle / "manifest.json").read_text())["units"])
    assert len(parents) == 1 and len(runs) == 1 + units, [r.info.run_name for r in runs]
    assert sum("was imported before, as parent run" in o for o, _ in outs) == 1


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"bundle_version": 1, "experiment": "svi_dance"}', "units must be a list"),
        ("[" * 100_000 + "]" * 100_000, "is not valid JSON"),
        ('{"bundle_version": 1, "experiment": "x", "units": [{"arm": "a", "seed": 1e20, "status": "FINISHED"}]}',
         "is not an integer"),
        ('{"bundle_version": 1, "experiment": "x", "units": [{"arm": "a", "seed": 1, "status": "FINISHED", '
         '"finished_at": "yesterday"}]}', "is not an ISO 8601 time"),
        ('{"bundle_version": 1, "experiment": "x", "units": [{"arm": "a", "seed": 1, "status": "FINISHED", '
         '"finished_at": "2026-01-01T00:00:00"}]}', "with a UTC offset"),
    ],
)  # fmt: skip
def test_a_bad_manifest_is_one_line(tmp_path, capsys, content, match):
    bundle = shutil.copytree(ROOT / "results" / SMALL, tmp_path / SMALL)
    (bundle / "manifest.json").write_text(content)
    refused(["import", str(bundle)], capsys, match)
    refused(["report", SMALL, "--from", str(bundle)], capsys, match)


def test_names_in_the_tables_are_identifiers(tmp_path, capsys):
    bundle = shutil.copytree(ROOT / "results" / SMALL, tmp_path / SMALL)
    text = (bundle / "scores.csv").read_text().replace(",conditional_dance_50s,", ",a/b,", 1)
    (bundle / "scores.csv").write_text(text)
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text()))  # its digest made to match
    refused(["import", str(bundle)], capsys, "column track: 'a/b' is not a name")
    text = (bundle / "scores.csv").read_text().replace(",a/b,", ",=cmd|' /C calc'!A0,", 1)
    (bundle / "scores.csv").write_text(text)
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text()))
    refused(["report", SMALL, "--from", str(bundle)], capsys, "is not a name")
    edit_manifest(bundle, units=[{"arm": "<img src=x onerror=alert(1)>", "seed": 0, "status": "FINISHED"}])
    refused(["report", SMALL, "--from", str(bundle)], capsys, "units[0].arm")


def test_a_missing_column_or_an_infinite_score_is_one_line(tmp_path, capsys):
    bundle = shutil.copytree(ROOT / "results" / SMALL, tmp_path / SMALL)
    lines = (bundle / "scores.csv").read_text().splitlines()
    (bundle / "scores.csv").write_text("\n".join(",".join(x.split(",")[:-1]) for x in lines) + "\n")
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text()))
    refused(["report", SMALL, "--from", str(bundle)], capsys, "missing: value")
    lines[1] = ",".join(lines[1].split(",")[:-1] + ["inf"])
    (bundle / "scores.csv").write_text("\n".join(lines) + "\n")
    write_manifest(bundle, json.loads((bundle / "manifest.json").read_text()))
    refused(["import", str(bundle)], capsys, "not a finite number")


# -- export, import, and the round trip ---------------------------------------------------------------


def test_export_overwrites_no_other_folder(home, monkeypatch, capsys, store):  # noqa: F811
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    other = _mk(home / "mine")
    (other / "manifest.json").write_text("my own file\n")
    (other / "scores.csv").write_text("a,b\n")
    before = snapshot(other)
    refused(["export", "ablation_eimg", "--to", str(other)], capsys, "not a bundle the harness wrote")
    assert snapshot(other) == before
    (other / "manifest.json").unlink()
    refused(["export", "ablation_eimg", "--to", str(other)], capsys, "holds no bundle (scores.csv)")
    refused(["export", "ablation_eimg", "--to", str(other / "scores.csv")], capsys, "is a file")
    shutil.copytree(ROOT / "results" / SMALL, home / SMALL)
    refused(["export", "ablation_eimg", "--to", str(home / SMALL)], capsys, "holds the bundle of 'svi_dance'")
    assert main(["export", "ablation_eimg", "--to", str(home / "fresh")]) == 0  # a new folder is fine


def _unit_made_under_another_plan(bundle: Path) -> None:
    """Rewrite `full seed 0`'s record as a unit made with train.steps 7 (its plan hash to match)."""
    from harness.declare.plan import unit_hash, unit_inputs

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["arms"]["full"]["train"]["steps"] = 7
    inputs = unit_inputs(manifest["declaration"], "full", manifest["arms"]["full"], 0, manifest["versions"])
    manifest["plan_hashes"]["full/seed0"] = unit_hash(inputs)
    write_manifest(bundle, manifest)


def _refusal(bundle: Path) -> str:
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.run.bundle_export import from_bundle
    from svi.config import ConfigError

    exp, source = load_experiment("ablation_eimg", ["seeds=[0,1]"])
    plan = make_plan(exp, source)
    with pytest.raises(ConfigError) as e:
        from_bundle(plan, list(plan.units), bundle)
    return str(e.value)


def test_a_bundle_imported_then_exported_is_the_same_bundle(home, monkeypatch, capsys, store):  # noqa: F811
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    first = home / "first" / "ablation_eimg"
    assert main(["export", "ablation_eimg", "--to", str(first)]) == 0
    _unit_made_under_another_plan(first)
    refusal = _refusal(first)
    assert "full seed 0: config.train.steps: 7 -> " in refusal
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # into the fresh workspace's own store
    assert main(["import", str(first)]) == 0
    capsys.readouterr()
    assert main(["import", str(first)]) == 0  # again: found, nothing added
    assert "was imported before, as parent run" in capsys.readouterr().out
    uri = f"sqlite:///{home / 'ws' / 'mlflow.db'}"
    c = MlflowClient(uri)
    runs = c.search_runs([c.get_experiment_by_name("ablation_eimg").experiment_id])
    assert len(runs) == 1 + 6 and all(r.info.status in ("FINISHED", "FAILED") for r in runs)
    second = home / "second" / "ablation_eimg"
    assert main(["export", "ablation_eimg", "--to", str(second)]) == 0
    for name in ("manifest.json", "scores.csv", "curves.csv", "report/report.md", "report/results.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert _refusal(second) == refusal.replace(str(first), str(second))  # the stale unit is still refused


def test_an_import_that_fails_part_way_leaves_no_run_running(home, monkeypatch):
    from mlflow.tracking import MlflowClient

    from harness.run import bundle_import

    bundle = shutil.copytree(ROOT / "results" / SMALL, home / SMALL)
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the store went away")

    monkeypatch.setattr(bundle_import.tracking, "log_table", broken)
    with pytest.raises(RuntimeError):
        bundle_import.import_bundle(bundle)
    c = MlflowClient(f"sqlite:///{home / 'ws' / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name(SMALL).experiment_id])
    assert runs and all(r.info.status != "RUNNING" for r in runs)


# -- the committed bundles are current -------------------------------------------------------------


@pytest.mark.parametrize("bundle", sorted(p.parent.name for p in (ROOT / "results").glob("*/manifest.json")))
def test_every_committed_bundle_is_current_for_this_code(bundle):
    """`harness run EXP --from results/EXP` takes every finished unit as done. A setting added to the
    schema without its old behaviour in harness/declare/plan.py ADDED_SETTINGS fails here, naming it."""
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.run.bundle_export import from_bundle
    from reports.bundle import read_manifest
    from svi.config import ConfigError
    from svi.model.presets import TOY_WORLD

    exp, source = load_experiment(bundle)
    plan = make_plan(exp, source)
    manifest = read_manifest(ROOT / "results" / bundle)
    finished = {(u["arm"], u["seed"]) for u in manifest["units"]}
    world = manifest["versions"].get("toy_world", 1)
    if world != TOY_WORLD:  # a record of an earlier toy world: never taken for this world's results
        with pytest.raises(ConfigError, match="made under another plan"):
            from_bundle(plan, list(plan.units), ROOT / "results" / bundle)
        return
    found = from_bundle(plan, list(plan.units), ROOT / "results" / bundle)
    assert {(u.arm, u.seed) for u in found.done} == finished & {(u.arm, u.seed) for u in plan.units}


def test_what_changed_is_never_empty(tmp_path):
    from harness.base.hashing import ABSENT, config_changes
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan, plan_inputs
    from harness.run.bundle_export import changes_of

    assert config_changes({"a": 1}, {"a": 1.0}) == {"a": (1, 1.0)}
    assert config_changes({}, {"a": None}) == {"a": (ABSENT, None)}
    exp, source = load_experiment("ablation_eimg")
    plan = make_plan(exp, source)
    full = next(u for u in plan.units if u.arm == "full")
    manifest = json.loads((ROOT / "results" / "world2" / "ablation_eimg" / "manifest.json").read_text())
    manifest["plan_hashes"]["full/seed0"] = "0123456789abcdef"  # not the hash of its recorded inputs
    changed = changes_of(manifest, full, plan_inputs(plan, full))
    assert list(changed) == [
        "(the recorded plan hash is not the hash of the bundle's recorded configuration)"
    ]
