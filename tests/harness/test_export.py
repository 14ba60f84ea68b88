"""`harness export` writes a results bundle from the tracking store; `harness report --from` rebuilds the
report from the bundle alone."""

import json

from cli import main
from tests.reports.conftest import store  # noqa: F401 - the reports' MLflow store, as a fixture here


def test_export_then_report_from_the_bundle(home, monkeypatch, capsys, store):  # noqa: F811
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    bundle = home / "results" / "ablation_eimg"
    assert main(["export", "ablation_eimg", "--to", str(bundle)]) == 0
    assert "results bundle in" in capsys.readouterr().out
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["arm_order"] == ["base", "full", "no_eimg"] and manifest["primary"] == "energy_score"
    assert set(manifest["arms"]) == {"base", "full", "no_eimg"}  # each arm's resolved configuration
    assert manifest["arms"]["no_eimg"]["erft"]["p_img"] == 0.0
    # each finished unit's finish time, its run's end as the store holds it (the registration check's)
    from reports.identifiers import parsed_time

    finished = [u for u in manifest["units"] if u["status"] == "FINISHED"]
    assert finished and all(parsed_time(u["finished_at"]) is not None for u in finished)
    assert (bundle / "scores.csv").read_text().startswith("arm,seed,track,sample,level,window,metric,value\n")
    assert (bundle / "report" / "report.md").is_file() and (bundle / "curves.csv").is_file()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # no store: the bundle is enough
    assert main(["report", "ablation_eimg", "--from", str(bundle), "--out", str(home / "again")]) == 0
    report = (home / "again" / "report.md").read_text()
    assert "Results bundle of 5 finished unit(s)" in report and "| full |" in report
    assert main(["report", "svi_shot", "--from", str(bundle)]) == 2
    assert "holds experiment 'ablation_eimg', not 'svi_shot'" in capsys.readouterr().err
    assert main(["report", "ablation_eimg", "--from", str(home)]) == 2
    assert "no manifest.json" in capsys.readouterr().err


def _locked_elsewhere(folder) -> bool:
    """Whether another open of `folder` finds it flock-ed (as a second harness process would)."""
    import fcntl
    import os

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_a_run_merges_its_units_into_a_bundle_under_a_lock(home, monkeypatch, store):  # noqa: F811
    from harness.declare.experiment import load_experiment
    from harness.run import bundle_export

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    exp, source = load_experiment("ablation_eimg", [])
    bundle = home / "results" / "ablation_eimg"
    bundle_export.export(exp, source, bundle)  # a plain export takes no lock
    seen = []
    write = bundle_export.write_bundle

    def watched(folder, *args, **kwargs):  # the merge (read the bundle, write it back) happens locked
        seen.append(_locked_elsewhere(folder))
        return write(folder, *args, **kwargs)

    monkeypatch.setattr(bundle_export, "write_bundle", watched)
    bundle_export.export(exp, source, bundle, keep=bundle)
    assert seen == [True] and not _locked_elsewhere(bundle)  # held for the merge, released after
    with bundle_export.writing(home / "new"):  # a bundle not there yet: its folder is made to be locked
        assert _locked_elsewhere(home / "new")


def _mini_plan(home, *overrides):
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from tests.harness.mini import mini_experiment

    path = home / "mini.yaml"
    path.write_text(mini_experiment())
    exp, source = load_experiment(str(path), list(overrides))
    return make_plan(exp, source)


def _bundle_of(plan, folder, statuses):
    """A bundle manifest of `plan`'s units with these statuses ((arm, seed) -> status), with the plan
    hashes and configurations `harness export` records."""
    from harness.declare.plan import code_versions, plan_inputs, unit_hash
    from reports.bundle import BUNDLE_VERSION, SCORE_COLUMNS, unit_key, write_manifest

    folder.mkdir(parents=True)
    units = [u for u in plan.units if (u.arm, u.seed) in statuses]
    manifest = {
        "bundle_version": BUNDLE_VERSION,
        "experiment": plan.exp.name,
        "units": [{"arm": u.arm, "seed": u.seed, "status": statuses[(u.arm, u.seed)]} for u in units],
        "declaration": plan.exp.model_dump(mode="json"),
        "arms": {a: plan.exp.arm_config(a, plan.source).model_dump(mode="json") for a in plan.exp.arms},
        "plan_hashes": {unit_key(u.arm, u.seed): unit_hash(plan_inputs(plan, u)) for u in units},
        "versions": code_versions(),
    }
    (folder / "scores.csv").write_text(",".join(SCORE_COLUMNS) + "\n")  # a bundle without per-video rows
    write_manifest(folder, manifest)
    return folder


def test_a_bundle_holds_the_units_finished_under_the_same_plan(home, monkeypatch):
    import pytest

    from harness.run.bundle_export import from_bundle
    from svi.config import ConfigError

    plan = _mini_plan(home)
    bundle = _bundle_of(plan, home / "b", {("base", 0): "FINISHED", ("full", 0): "FAILED"})
    found = from_bundle(plan, list(plan.units), bundle)
    assert [u.arm for u in found.done] == ["base"] and [u.arm for u in found.todo] == ["full"]
    # where files are is not what they hold: the same unit with its weights elsewhere is the same unit
    moved = _mini_plan(home, "model.weights=/elsewhere/tiny", "data.root=/elsewhere/clips")
    assert [u.arm for u in from_bundle(moved, list(moved.units), bundle).done] == ["base"]
    # a missing or empty folder starts a bundle: everything runs
    assert len(from_bundle(plan, list(plan.units), home / "new").todo) == 2
    (home / "notes_only").mkdir()  # ... as does one holding only the notes written before the first run
    (home / "notes_only" / "notes.md").write_text("What to read in the results.\n")
    assert len(from_bundle(plan, list(plan.units), home / "notes_only").todo) == 2
    (home / "notes_only" / "other.txt").write_text("")  # anything else is not a bundle
    with pytest.raises(ConfigError, match="not a results bundle"):
        from_bundle(plan, list(plan.units), home / "notes_only")

    full = _bundle_of(plan, home / "c", {("base", 0): "FINISHED", ("full", 0): "FINISHED"})
    longer = _mini_plan(home, "train.steps=4")  # the untrained base does not depend on train.*
    with pytest.raises(ConfigError) as e:
        from_bundle(longer, list(longer.units), full)
    assert "1 finished unit(s)" in str(e.value) and "full seed 0: config.train.steps: 3 -> 4" in str(e.value)
    forced = from_bundle(longer, list(longer.units), full, force=True)
    assert [u.arm for u in forced.done] == ["base"] and [u.arm for u in forced.replaced] == ["full"]
    noise = _mini_plan(home, "generate.noise=official")  # the noise scheme is part of every unit's plan
    with pytest.raises(ConfigError, match="(?s)2 finished unit.*generate.noise: 'streams' -> 'official'"):
        from_bundle(noise, list(noise.units), full)
    # results of older scoring code are not taken for this code's (scoring/specs.py SCORES_VERSION)
    from scoring import specs

    monkeypatch.setattr(specs, "SCORES_VERSION", specs.SCORES_VERSION + 1)
    with pytest.raises(
        ConfigError, match=f"version.scores: {specs.SCORES_VERSION - 1} -> {specs.SCORES_VERSION}"
    ):
        from_bundle(plan, list(plan.units), full)
    monkeypatch.undo()
    other = _bundle_of(_mini_plan(home), home / "d", {})
    from reports.bundle import write_manifest

    manifest = json.loads((other / "manifest.json").read_text())
    write_manifest(other, {**manifest, "experiment": "svi_shot"})
    with pytest.raises(ConfigError, match="holds experiment 'svi_shot', not 'mini'"):
        from_bundle(plan, list(plan.units), other)
    (home / "junk").mkdir()
    (home / "junk" / "notes.txt").write_text("not a bundle")
    with pytest.raises(ConfigError, match="no manifest.json"):
        from_bundle(plan, list(plan.units), home / "junk")


def test_a_bundle_report_names_the_declared_units_it_lacks():
    from reports.bundle import missing_text, missing_units

    manifest = {
        "declaration": {"arms": {"base": {}, "full": {}}, "seeds": [0, 1]},
        "units": [
            {"arm": "base", "seed": 0, "status": "FINISHED"},
            {"arm": "full", "seed": 0, "status": "FAILED"},
        ],
    }
    assert missing_units(manifest) == ["full seed 0", "base seed 1", "full seed 1"]
    # in few words on a page: one line per arm where their missing seeds differ, a product where alike
    assert missing_text(manifest) == "base seed(s) 1; full seed(s) 0, 1"
    manifest["units"] = manifest["units"][:1] + [{"arm": "base", "seed": 1, "status": "FINISHED"}]
    assert missing_text(manifest) == "arm(s) full × seed(s) 0, 1"


def test_an_imported_bundle_reports_and_reviews_as_the_runs_it_came_from(home, monkeypatch, capsys, store):  # noqa: F811
    import pandas as pd
    from matplotlib.colors import to_hex
    from mlflow.tracking import MlflowClient

    from harness import tracking
    from harness.tracking import keys, review
    from harness.tracking.store_reader import build_report
    from reports import plots
    from reports.bundle import build_report_from

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    bundle = home / "results" / "ablation_eimg"
    assert main(["export", "ablation_eimg", "--to", str(bundle)]) == 0
    monkeypatch.delenv("MLFLOW_TRACKING_URI")  # into the fresh workspace's own store
    capsys.readouterr()
    assert main(["import", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert (
        "6 unit(s) of the arms (5 finished, 3 declared) imported" in out
        and "review in the MLflow UI: http://127.0.0.1:5000/#/experiments/" in out
    )
    uri = f"sqlite:///{home / 'ws' / 'mlflow.db'}"
    # the imported runs give the bundle's report
    from_store = build_report(
        "ablation_eimg", home / "a", uri, arm_order=["base", "full", "no_eimg"], primary="colour_shift",
        comparisons=[("full", "no_eimg")],  # as ablation_eimg declares them
    )  # fmt: skip
    drawn = {}  # the report's figures, by file name, as its plots save them

    def keep(fig, path, save=plots._save):
        drawn[path.name] = fig
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    from_bundle = build_report_from(bundle, home / "b")
    pd.testing.assert_frame_equal(
        pd.read_csv(from_store["results.csv"]), pd.read_csv(from_bundle["results.csv"])
    )
    c = MlflowClient(uri)
    exp = c.get_experiment_by_name("ablation_eimg")
    runs = c.search_runs([exp.experiment_id])
    kids = [r for r in runs if r.data.tags.get("role") != "parent"]
    assert len(kids) == 6 and all(r.data.tags["imported_from"] == str(bundle) for r in runs)
    full = next(r for r in kids if r.info.run_name == "full-seed0")
    assert (
        full.data.params["erft.p_img"] == "0.9"
        and "drift/consistent_50s/subject_consistency" in full.data.metrics
    )
    history = c.get_metric_history(full.info.run_id, "drift/consistent_50s/subject_consistency")
    assert sorted(m.step for m in history) == list(range(4))  # the clip as step
    base = next(r for r in kids if r.info.run_name == "base-seed0")
    assert "train.steps" not in base.data.params  # an untrained arm claims no training settings
    # one colour per arm: its run's colour is its group's in the view, grouped by the experiment's tag
    view = next(
        v for k, v in c.get_experiment(exp.experiment_id).tags.items() if k.startswith(review.VIEW_TAG_PREFIX)
    )
    group = review.read_view(view)["state"]["groupBy"]["groupByKeys"][0]["groupByData"]
    assert group == tracking.group_tag(["base", "full", "no_eimg"]) == full.data.tags[keys.GROUP_BY_TAG]
    for r in kids:
        assert r.data.tags[keys.RUN_COLOR_TAG] == tracking.arm_color(r.data.tags["arm"], group)
    # ... and the report's plots draw each arm in the colour of its runs in MLflow
    mlflow_colour = {r.data.tags["arm"]: r.data.tags[keys.RUN_COLOR_TAG] for r in kids}
    assert len(set(mlflow_colour.values())) == 3
    in_plots = {}
    for name, fig in drawn.items():
        for line in (line for ax in fig.axes for line in ax.get_lines()):
            arm = line.get_label().split(" (n=")[0]
            if name.startswith("drift_") and arm in mlflow_colour:
                in_plots.setdefault(arm, set()).add(to_hex(line.get_color()))
    build_report_from(bundle, home / "c", primary="subject_consistency")  # a primary metric it has curves of
    forest = [  # interval, point per difference: the declared comparison's, then each arm's against base
        line
        for name in ("forest_subject_consistency.png", "forest_subject_consistency_arms.png")
        for line in drawn[name].axes[0].get_lines()
    ]
    in_forest = {to_hex(line.get_color()) for line in forest if line.get_marker() == "o"}
    assert in_plots == {arm: {colour} for arm, colour in mlflow_colour.items()}
    assert in_forest == {
        mlflow_colour["full"],
        mlflow_colour["no_eimg"],
    }  # full - base, no_eimg - base, full - no_eimg
    parent = next(r for r in runs if r.data.tags.get("role") == "parent")
    assert parent.data.tags[keys.NOTE_TAG].startswith("# ablation_eimg: report")
    assert main(["import", str(home / "nothing")]) == 2


def test_a_report_asked_of_a_committed_bundle_leaves_the_bundle_as_it_was(tmp_path, monkeypatch):
    """A reader's question (`--detect` changes the power section) goes to the workspace, not into
    results/: the committed report's bytes stay, and `harness pages --check` stays clean."""
    import hashlib
    from pathlib import Path

    bundle = Path(__file__).resolve().parents[2] / "results" / "ablation_eimg"
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(bundle.rglob("*")) if p.is_file()}
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    args = ["report", "ablation_eimg", "--from", str(bundle), "--detect", "colour_shift=0.05"]
    assert main(args) == 0
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(bundle.rglob("*")) if p.is_file()}
    assert after == before
    written = tmp_path / "home" / "reports" / "ablation_eimg" / "report.md"
    assert "colour_shift" in written.read_text() or "Colour shift" in written.read_text()
