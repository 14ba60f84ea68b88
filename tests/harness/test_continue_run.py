"""`harness run --from`: an experiment advanced unit by unit through its results bundle, in fresh
workspaces, ends with the bundle one run would have exported."""

import json
import re

import pytest

from cli import main
from tests.harness.mini import mini_experiment

pytestmark = pytest.mark.slow

RUN_ID = re.compile(r"\b[0-9a-f]{32}\b")  # MLflow's run ids: where a unit ran, not what it found
PROVENANCE = ("provenance", "harness_commit")


def _comparable(bundle):
    """A bundle's files less their provenance: the manifest without run ids, hosts and times, the
    tables as bytes, the report with run ids blanked."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for key in PROVENANCE:
        manifest.pop(key)
    manifest["digests"].pop("manifest.json")  # the digest of the manifest's content: provenance included
    for unit in manifest["units"]:
        unit.pop("run_id")
        assert unit.pop("finished_at") or unit["status"] != "FINISHED"  # when it ran: a finished unit has one
    report = RUN_ID.sub("RUN", (bundle / "report" / "report.md").read_text())
    head, rest = report.split("## Where the time went", 1)  # wall times: where and when it ran
    report = head + rest[rest.index("## Failed or unfinished runs") :]
    return manifest, (bundle / "scores.csv").read_bytes(), (bundle / "curves.csv").read_bytes(), report


def test_an_experiment_continued_from_its_bundle_ends_as_one_run(home, tmp_path, monkeypatch, capsys):
    yaml = home / "mini.yaml"
    yaml.write_text(mini_experiment())
    # the whole experiment in one run, exported
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "one"))
    capsys.readouterr()
    assert main(["run", str(yaml)]) == 0
    # every run says where its time went: per unit and stage, on the console, in MLflow and the report
    out = capsys.readouterr().out
    table = out.split("where the time went (wall minutes per stage; logged as time/<stage>):\n")[1]
    head = table.splitlines()[0].split()
    assert head == [
        "unit",
        "provision",
        "train",
        "generate",
        "score",
        "review_media",
        "log",
        "references",
        "report",
        "total",
    ]
    assert [line.split()[0] for line in table.splitlines()[1:6]] == [
        "base",
        "full",
        "references",
        "report",
        "share",
    ]
    from mlflow.tracking import MlflowClient

    c = MlflowClient(f"sqlite:///{tmp_path / 'one' / 'mlflow.db'}")
    runs = c.search_runs([c.get_experiment_by_name("mini").experiment_id])
    full = next(r for r in runs if r.info.run_name == "full-seed0")
    assert {"time/train", "time/generate", "time/score", "time/log"} <= set(full.data.metrics)
    parent = next(r for r in runs if r.data.tags.get("role") == "parent")
    assert parent.data.metrics["time/report"] > 0
    assert main(["export", str(yaml), "--to", str(tmp_path / "whole")]) == 0

    # its first unit in one workspace, into a new bundle: the report names the unit still missing
    split = tmp_path / "split"
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "first"))
    assert main(["run", str(yaml), "--arm", "base", "--from", str(split)]) == 0
    manifest = json.loads((split / "manifest.json").read_text())
    assert [(u["arm"], u["seed"]) for u in manifest["units"] if u["role"] != "reference"] == [("base", 0)]
    assert "Incomplete: 1 declared unit(s)" in (split / "report" / "report.md").read_text()
    assert "full seed 0" in (split / "report" / "report.md").read_text()

    # the rest in a fresh workspace, on another "machine": base is taken from the bundle
    capsys.readouterr()
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "second"))
    assert main(["run", str(yaml), "--from", str(split)]) == 0
    out = capsys.readouterr().out
    assert "base         seed 0  in the bundle (same plan): done" in out and "1 to run" in out
    assert not (tmp_path / "second" / "runs" / "mini" / "base").exists()  # base never ran here
    assert _comparable(split) == _comparable(tmp_path / "whole")
    times = (split / "report" / "report.md").read_text().split("## Where the time went")[1]
    assert "| full | 1 |" in times  # each unit's stage times travel in the bundle's provenance
    assert "Incomplete" not in (split / "report" / "report.md").read_text()

    # everything is in: nothing runs, the report is rebuilt
    assert main(["run", str(yaml), "--from", str(split)]) == 0
    out = capsys.readouterr().out
    assert "nothing to run" in out and "declaration updated" not in out
    # a question added to the declaration (no unit's plan changes) reaches the bundle without a run
    yaml.write_text(mini_experiment() + "comparisons: [base - full]\n")
    assert main(["run", str(yaml), "--from", str(split)]) == 0
    assert "declaration updated" in capsys.readouterr().out
    assert json.loads((split / "manifest.json").read_text())["declaration"]["comparisons"] == ["base - full"]
    assert "| base - full (1 seed" in (split / "report" / "report.md").read_text()
    yaml.write_text(mini_experiment())
    # a changed plan is refused by name, before anything runs
    assert main(["run", str(yaml), "train.steps=4", "--from", str(split)]) == 2
    assert "full seed 0: config.train.steps: 3 -> 4" in capsys.readouterr().err


def _without_references(bundle, out):
    """A copy of `bundle` without its reference units (a bundle exported before they existed)."""
    from reports.bundle import FLOAT_FORMAT, read_tables, write_manifest

    tables = read_tables(bundle)
    refs = {u["arm"] for u in tables.manifest["units"] if u.get("role") == "reference"}
    manifest = dict(tables.manifest)
    manifest["units"] = [u for u in manifest["units"] if u["arm"] not in refs]
    for key in ("plan_hashes", "provenance"):
        manifest[key] = {k: v for k, v in manifest.get(key, {}).items() if k.split("/")[0] not in refs}
    out.mkdir(parents=True)
    scores = tables.scores[~tables.scores["arm"].isin(refs)]
    scores.to_csv(out / "scores.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    tables.curves.to_csv(out / "curves.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    write_manifest(out, manifest)
    return refs


def test_references_of_a_bundle_on_a_fresh_clone_are_those_of_the_run(home, tmp_path, monkeypatch, capsys):
    """The degenerate references a run scores from its baseline's videos, and those `harness run --from`
    adds to a bundle that lacks them in a workspace without those videos (one clip per sample generated
    alone), are the same bytes: the first clip is the long video's, bit for bit."""
    yaml = home / "mini.yaml"
    yaml.write_text(mini_experiment(limit=2, metrics="subject_consistency,colour_shift"))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "run"))
    assert main(["run", str(yaml), "--from", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    roles = {u["arm"]: u["role"] for u in manifest["units"]}
    assert {k for k, r in roles.items() if r == "reference"} == {
        "frozen",
        "loop",
        "pingpong",
        "truth",
        "rescore",
    }
    report = (tmp_path / "a" / "report" / "report.md").read_text()
    assert "*frozen (no model)*" in report and "## Degenerate references" in report
    assert "Both verdicts and each arm's margin" in report and "Evaluator noise floor" in report
    refs = _without_references(tmp_path / "a", tmp_path / "b")
    assert refs
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "fresh"))  # no videos of base here
    capsys.readouterr()
    assert main(["run", str(yaml), "--from", str(tmp_path / "b")]) == 0
    assert "the bundle lacks the degenerate references" in capsys.readouterr().out
    assert not (tmp_path / "fresh" / "runs" / "mini" / "base").exists()  # no arm ran again
    assert (tmp_path / "a" / "scores.csv").read_bytes() == (tmp_path / "b" / "scores.csv").read_bytes()
    hashes = [json.loads((tmp_path / x / "manifest.json").read_text())["plan_hashes"] for x in "ab"]
    assert hashes[0] == hashes[1]
