"""Pre-registration (harness/declare/preregistration.py): written before the first unit, never rewritten, a
changed declaration refused even when forced, the git order checked (and the check can fail), the
registered family tested on its own in reports, and the power block from a committed bundle."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cli import main
from reports.registration import content_digest
from tests.harness.mini import mini_experiment

ROOT = Path(__file__).resolve().parents[2]
HYPOTHESES = """hypotheses:
  - {comparison: full - base, metric: subject_consistency, direction: greater, primary: true}
"""


@pytest.fixture()
def registered(home):
    yaml_file = home / "mini.yaml"
    yaml_file.write_text(mini_experiment() + HYPOTHESES)
    folder = home / "results" / "mini"
    assert main(["plan", str(yaml_file), "--preregister", "--to", str(folder)]) == 0
    return yaml_file, folder


def test_a_registration_is_written_once_and_superseded_on_the_record(registered, capsys):
    yaml_file, folder = registered
    reg = yaml.safe_load((folder / "preregistration.yaml").read_text())
    assert reg["number"] == 1 and reg["hypotheses"][0]["direction"] == "greater"
    assert set(reg["plan_hashes"]) == {"base/seed0", "full/seed0"} and reg["design"]["seeds"] == [0]
    assert reg["design"]["stopping_rule"].startswith("fixed n") and reg["analysis"]["version"] >= 1
    capsys.readouterr()
    assert main(["plan", str(yaml_file), "--preregister", "--to", str(folder)]) == 2
    assert "is not rewritten" in capsys.readouterr().err
    assert main(["plan", str(yaml_file), "--preregister", "--supersede", "--to", str(folder)]) == 2
    assert "--supersede needs --reason" in capsys.readouterr().err
    args = [
        "plan",
        str(yaml_file),
        "--preregister",
        "--supersede",
        "--reason",
        "n  was wrong",
        "--to",
        str(folder),
    ]
    assert main(args) == 0
    new = yaml.safe_load((folder / "preregistration.yaml").read_text())
    assert (
        new["number"] == 2 and yaml.safe_load((folder / "preregistrations" / "001.yaml").read_text()) == reg
    )
    assert new["superseded"] == [
        {
            "number": 1,
            "registered_at": str(reg["registered_at"]),
            "digest": content_digest(reg),
            "reason": "n was wrong",
        }
    ]


def test_an_experiment_without_hypotheses_cannot_be_registered(home, capsys):
    (home / "plain.yaml").write_text(mini_experiment())
    assert main(["plan", str(home / "plain.yaml"), "--preregister", "--to", str(home / "r")]) == 2
    assert "declares no hypotheses" in capsys.readouterr().err


def test_a_changed_declaration_is_refused_even_when_forced(registered, capsys):
    yaml_file, folder = registered
    capsys.readouterr()
    args = ["run", str(yaml_file), "train.steps=4", "--from", str(folder), "--force", "bundle"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "is not the registered experiment" in err and "--force does not change this" in err
    assert "unit full/seed0 is under another plan than registered" in err
    assert "declaration config.train.steps" in err or "config.train" in err


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _new_repo(tmp_path: Path, experiment: str) -> Path:
    """A git repository with an empty results/EXPERIMENT folder -> that folder."""
    repo = tmp_path / "repo"
    folder = repo / "results" / experiment
    folder.mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@t")
    _git(repo, "config", "user.name", "t")
    return folder


@pytest.mark.parametrize("registered_first", [True, False])
def test_the_order_check_reads_git_and_can_fail(tmp_path, registered_first):
    from harness.declare.preregistration import registration_order

    folder = _new_repo(tmp_path, "x")
    repo = folder.parents[1]
    files = [("preregistration.yaml", "a: 1\n"), ("manifest.json", "{}\n")]
    for name, text in files if registered_first else files[::-1]:
        (folder / name).write_text(text)
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", name)
    ok, said = registration_order(folder)
    assert ok is registered_first, said
    assert ("before the first unit" in said) if registered_first else ("not pre-registered" in said)


def test_the_registered_family_is_tested_on_its_own_and_one_sided():
    from reports import tables as T

    df = pd.DataFrame(
        {"track": "t", "metric": ["m", "m", "x"], "arm": ["full", "b", "full"], "reference": "plain",
         "delta": [-0.1, -0.1, -0.1], "delta_se": [0.05, 0.05, 0.05], "delta_df": [20.0] * 3,
         "p": [0.059, 0.059, 0.059], "training_variance": "in_interval"}
    )  # fmt: skip
    out = T._with_holm(df, None, [{"comparison": "full - plain", "metric": "m", "direction": "less"}])
    assert list(out["registration"]) == [T.REGISTERED, T.EXPLORATORY, T.EXPLORATORY]
    assert list(out["family"]) == [T.PREREGISTERED_FAMILY, "all", "all"]
    assert out.at[0, "p"] == pytest.approx(0.0296, abs=1e-4)  # one-sided: half the two-sided p
    assert out.at[0, "p_holm"] == out.at[0, "p"] and bool(out.at[0, "significant"])  # a family of one
    assert out.at[1, "p_holm"] == pytest.approx(min(1.0, 2 * 0.059))  # the exploratory two, Holm over both


def test_the_confirmatory_run_is_sized_from_the_mechanisms_bundle(tmp_path, capsys):
    """erft_confirm's n: half mechanisms' creative full - plain estimate at 80% power gives 32x4."""
    args = ["plan", "erft_confirm", "--preregister", "--power-from", str(ROOT / "results" / "mechanisms"),
            "--detect", "colour_shift=0.05", "--to", str(tmp_path / "erft_confirm")]  # fmt: skip
    assert main(args) == 0
    reg = yaml.safe_load((tmp_path / "erft_confirm" / "preregistration.yaml").read_text())
    block = reg["power"][0]
    assert block["designs_at_80"][0] == "32x4" and block["declared_design"] == "32x4"
    assert block["declared_power"] >= 0.8 and reg["primary"]["direction"] == "less"


def test_a_registered_folder_starts_its_bundle_with_the_registered_plan(registered):
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import make_plan
    from harness.declare.preregistration import check_plan
    from harness.run.bundle_export import from_bundle

    yaml_file, folder = registered
    exp, source = load_experiment(str(yaml_file))
    plan = make_plan(exp, source)
    check_plan(plan, folder)  # the plan is the registered one: nothing to refuse
    assert len(from_bundle(plan, list(plan.units), folder).todo) == 2  # no unit yet: both run


def test_an_incomplete_registered_experiment_shows_no_difference():
    """Fixed n: until every registered unit is in, the report's differences are blanked, nothing is marked."""
    from reports import tables as T

    summary = pd.DataFrame({"arm": ["full"], "mean": [0.1], "delta": [-0.1], "p": [0.01], "p_holm": [0.01],
                            "mdd": [0.05], "significant": [True]})  # fmt: skip
    out = T.blinded(summary)
    assert out["delta"].isna().all() and out["p"].isna().all() and not out["significant"].any()
    assert out.at[0, "mean"] == 0.1  # levels stay


def test_the_committed_erft_confirm_page_shows_its_answer_only_once_complete():
    """Withheld while a registered unit is missing; once all are in, each registered hypothesis is
    answered, and nothing says it is withheld."""
    from reports.bundle import missing_units, read_manifest

    page = (ROOT / "docs" / "results" / "erft_confirm.md").read_text()
    withheld = "Withheld: the registration's stopping rule is a fixed n"
    assert "Registration 1 of" in page
    if missing_units(read_manifest(ROOT / "results" / "erft_confirm")):
        assert withheld in page and "difference vs base" not in page
    else:
        assert withheld not in page and "### Pre-registered hypotheses" in page
        assert page.count("| supported |") + page.count("| not supported |") == 2  # both hypotheses


def test_the_planner_is_checked_against_the_components_the_run_observed():
    """The registration's planned components, MDD and power beside those the run's own components give at
    the registered design: equal when the run saw what was planned, larger MDD when it saw more noise."""
    from reports import stats as S
    from reports.build import planner_checked

    planned = S.Components(sample=0.08**2, seed=0.017**2, residual=0.047**2)
    power = [{"hypothesis": "full - plain on colour_shift (creative_100s)", "smallest_effect": 0.05,
              "components_sd": {"sample": 0.08, "seed": 0.017, "residual": 0.047}, "declared_design": "32x4",
              "declared_mdd": S.mdd(planned, 32, 4), "declared_power": round(S.power(planned, 32, 4, 0.05, sided=1), 3)}]  # fmt: skip
    noisier = S.Components(sample=0.16**2, seed=0.017**2, residual=0.047**2)
    rows = pd.DataFrame(
        {"arm": ["full", "full", "full"], "reference": "plain", "track": "creative_100s",
         "metric": ["colour_shift", "colour_shift", "ssim"], "direction": "less",
         "var_sample": [planned.sample, noisier.sample, 0.01], "var_seed": [planned.seed] * 3,
         "var_residual": [planned.residual] * 3}
    )  # fmt: skip
    out = planner_checked(power, rows)
    assert len(out) == 2  # ssim: the registration did not size it, so it has no row
    same, noisy = out.to_dict("records")
    planned_mdd, observed_mdd = same["MDD: planned / observed"].split(" / ")
    assert planned_mdd == observed_mdd and same["SD sample: planned / observed"] == "0.08000 / 0.08000"
    assert float(noisy["MDD: planned / observed"].split(" / ")[1]) > float(planned_mdd)
    assert noisy["SD sample: planned / observed"] == "0.08000 / 0.16000"
    p_plan, p_seen = (
        float(x) for x in noisy["power at the smallest effect: planned / observed"].split(" / ")
    )
    assert p_seen < p_plan


def test_a_setting_added_after_the_registration_keeps_its_units_registered(monkeypatch):
    """A registration keeps only hashes. A setting added to the schema since, at the value that keeps
    the old behaviour, still matches; moved off that value, it does not; and every committed
    registration matches the plan this code makes of its declaration."""
    from harness.declare import plan as planmod
    from harness.declare.experiment import load_experiment
    from harness.declare.plan import earlier_hashes, make_plan
    from harness.declare.preregistration import differences, read_registration

    monkeypatch.setattr(planmod, "ADDED_SETTINGS", {"config.a": 1, "config.b": None})
    before = {"config.x": 3}
    assert planmod.unit_hash(before) in earlier_hashes({"config.x": 3, "config.a": 1, "config.b": None})
    assert planmod.unit_hash({**before, "config.a": 1}) in earlier_hashes(
        {**before, "config.a": 1, "config.b": None}
    )
    assert planmod.unit_hash(before) not in earlier_hashes({"config.x": 3, "config.a": 2, "config.b": None})
    assert planmod.unit_hash(before) not in earlier_hashes({"config.x": 4, "config.a": 1, "config.b": None})
    monkeypatch.undo()

    root = Path(__file__).resolve().parents[2]
    registered = sorted(p.parent.name for p in (root / "results").glob("*/preregistration.yaml"))
    assert registered, "no committed registration to check"
    from reports.bundle import read_manifest
    from svi.model.presets import TOY_WORLD

    for name in registered:
        manifest = read_manifest(root / "results" / name)
        if manifest["versions"].get("toy_world") != TOY_WORLD:  # a record of an earlier toy world: its
            continue  # units were planned on that world's base, which is no longer the committed one
        exp, source = load_experiment(name)
        assert differences(make_plan(exp, source), read_registration(root / "results" / name)) == [], name


# A registration that cannot be rewritten (issue 56): each case made for real, in a git repository
# holding a copy of the erft_confirm bundle, registered in a commit before its units.
BUNDLE_FILES = ("manifest.json", "scores.csv", "curves.csv")


def _repo_with_confirm(tmp_path: Path) -> Path:
    import shutil

    folder = _new_repo(tmp_path, "erft_confirm")
    repo = folder.parents[1]
    source = ROOT / "results" / "erft_confirm"
    for names, message in ((("notes.md", "preregistration.yaml"), "register"), (BUNDLE_FILES, "first units")):
        for name in names:
            shutil.copyfile(source / name, folder / name)
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", message)
    return folder


def _check(folder: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["plan", "erft_confirm", "--check-registration", "--to", str(folder)])
    out = capsys.readouterr()
    return code, out.out + out.err


def _edit_json(path: Path, edit) -> None:
    """Edit a JSON file; a bundle's manifest is written with the digest of its new content, as a
    hostile author can (a plain edit is refused by that digest before any registration check:
    tests/harness/test_hostile_bundles.py), so what is tested is the registration check itself."""
    import json

    from reports.bundle import write_manifest

    data = json.loads(path.read_text())
    edit(data)
    if path.name == "manifest.json":
        write_manifest(path.parent, data)
    else:
        path.write_text(json.dumps(data, indent=1))


def _planted(reg: dict) -> None:
    reg["hypotheses"][0]["direction"] = "greater"
    reg["registered_at"] = "2020-01-01T00:00:00+00:00"


def test_the_copied_confirmatory_bundle_passes_the_check(tmp_path, capsys):
    from harness.declare.preregistration import verified

    folder = _repo_with_confirm(tmp_path)
    code, said = _check(folder, capsys)
    assert code == 0 and "before the first unit" in said, said
    assert verified(folder).registered


def test_a_rewritten_manifest_copy_fails_the_check_and_loses_the_label(tmp_path, capsys):
    """Case 1: the manifest's registration edited (direction greater, dated 2020) and committed."""
    from harness.declare.preregistration import verified

    folder = _repo_with_confirm(tmp_path)
    _edit_json(folder / "manifest.json", lambda m: _planted(m["registration"]))
    _git(folder, "commit", "-q", "-am", "rewrite the manifest's registration")
    code, said = _check(folder, capsys)
    assert code == 1 and "manifest's copy" in said and "not pre-registered" in said, said
    found = verified(folder)
    assert not found.registered and "manifest's copy" in found.why


def test_a_rewritten_registration_file_fails_the_check_even_with_a_matching_manifest(tmp_path, capsys):
    """The file and the manifest's copy rewritten alike after the data: git holds the first version."""
    from reports.registration import manifest_copy

    folder = _repo_with_confirm(tmp_path)
    reg = yaml.safe_load((folder / "preregistration.yaml").read_text())
    _planted(reg)
    (folder / "preregistration.yaml").write_text(yaml.safe_dump(reg, sort_keys=False))
    _edit_json(folder / "manifest.json", lambda m: m.update(registration=manifest_copy(reg)))
    code, said = _check(folder, capsys)
    assert code == 1 and "differs from its last commit" in said, said  # not committed yet
    _git(folder, "commit", "-q", "-am", "rewrite the registration")
    code, said = _check(folder, capsys)
    assert code == 1 and "rewritten in" in said and "without a supersession" in said, said


def test_a_registration_in_a_manifest_without_its_file_is_not_pre_registered(tmp_path):
    """Case 2: erft_confirm's registration copied into mechanisms' manifest, which has no registration file."""
    import json

    from reports.registration import status

    folder = tmp_path / "mechanisms"
    folder.mkdir()
    manifest = json.loads((ROOT / "results" / "mechanisms" / "manifest.json").read_text())
    confirm = json.loads((ROOT / "results" / "erft_confirm" / "manifest.json").read_text())
    manifest["registration"] = confirm["registration"]
    found = status(folder, manifest)
    assert found.registration is None and not found.registered
    assert "preregistration.yaml is not there" in found.why


def test_a_removed_registration_cannot_be_started_again(tmp_path, capsys):
    """Case 3: `git rm` the registration, then --preregister --supersede: refused, committed or not."""
    folder = _repo_with_confirm(tmp_path)
    _git(folder, "rm", "-q", "preregistration.yaml")
    args = ["plan", "erft_confirm", "--preregister", "--supersede", "--reason", "x", "--to", str(folder)]
    for committed in (False, True):
        capsys.readouterr()
        assert main(args) == 2
        assert "in git's history" in capsys.readouterr().err
        assert not (folder / "preregistration.yaml").exists()
        assert _check(folder, capsys)[0] == 1
        if not committed:
            _git(folder, "commit", "-q", "-m", "remove the registration")


def test_a_supersession_keeps_the_old_registration_and_is_shown_as_a_deviation(tmp_path, capsys):
    """Case 4: --supersede writes registration 2 beside 1; the check passes once it is committed, not
    when its record of 1 is rewritten or 1's kept file is lost; the section says 2, and 1 as a deviation."""
    from harness.declare.preregistration import verified
    from reports.build import _Doc, _registration_section
    from reports.registration import manifest_copy

    folder = _repo_with_confirm(tmp_path)
    first = (folder / "preregistration.yaml").read_text()
    args = [
        "plan",
        "erft_confirm",
        "--preregister",
        "--supersede",
        "--reason",
        "the SSIM hypothesis was dropped",
    ]
    assert main([*args, "--to", str(folder)]) == 0
    new = yaml.safe_load((folder / "preregistration.yaml").read_text())
    assert new["number"] == 2 and (folder / "preregistrations" / "001.yaml").read_text() == first
    assert new["superseded"][0]["reason"] == "the SSIM hypothesis was dropped"
    assert _check(folder, capsys)[0] == 1  # not committed yet
    _git(folder, "add", ".")
    _git(folder, "commit", "-q", "-m", "supersede")
    code, said = _check(folder, capsys)
    assert code == 0 and "1 supersession(s) recorded, registration 2 in force" in said, said
    found = verified(folder)  # the manifest's copy is registration 1: one of the chain's
    assert found.registered and found.registration["number"] == 2

    doc = _Doc("t")
    summary = pd.DataFrame(columns=["registration"])
    _registration_section(doc, manifest_copy(found.registration), summary, [], pd.DataFrame())
    text = "\n".join(doc.md)
    date = str(new["registered_at"])[:10]
    assert "Registration 2 of " + date in text and "fixed before the first unit ran (each change" in text
    assert f"registration 1 of 2026-11-26 superseded by registration 2 on {date}: the SSIM hypothesis" in text
    assert "Registration 1 of" not in text

    kept = folder / "preregistrations" / "001.yaml"
    kept.write_text(first.replace("direction: less", "direction: greater", 1))
    assert not verified(folder).registered and "001.yaml is not the registration 1" in verified(folder).why
    kept.write_text(first)
    forged = dict(new, superseded=[])  # registration 2 claiming no history
    forged["number"] = 1
    (folder / "preregistration.yaml").write_text(yaml.safe_dump(forged, sort_keys=False))
    _edit_json(folder / "manifest.json", lambda m: m.update(registration=manifest_copy(forged)))  # alike
    _git(folder, "commit", "-q", "-am", "forget the supersession")
    code, said = _check(folder, capsys)
    assert code == 1 and "without a supersession" in said, said


@pytest.mark.parametrize(
    "field, value, said",
    [
        ("hypotheses", "full - plain", "hypotheses is a str"),
        ("number", "abc", "number is 'abc'"),
        ("analysis", "x", "analysis is a str"),
        ("hypotheses", [{"comparison": "full vs plain", "metric": "ssim"}], "not 'ARM - OTHER'"),
    ],
)
def test_a_malformed_registration_is_one_line_and_exit_2(tmp_path, capsys, field, value, said):
    folder = tmp_path / "erft_confirm"
    folder.mkdir()
    reg = yaml.safe_load((ROOT / "results" / "erft_confirm" / "preregistration.yaml").read_text())
    reg[field] = value
    (folder / "preregistration.yaml").write_text(yaml.safe_dump(reg))
    for args in (["--check-registration"], ["--preregister", "--supersede", "--reason", "r"]):
        capsys.readouterr()
        assert main(["plan", "erft_confirm", *args, "--to", str(folder)]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="the check reads git: a checkout of the repository")
def test_the_committed_confirmatory_registration_passes_the_check(capsys):
    code, said = _check(ROOT / "results" / "erft_confirm", capsys)
    assert code == 0 and "before the first unit" in said, said


@pytest.mark.slow
def test_a_report_labels_only_a_registration_that_holds(tmp_path, capsys):
    """End to end, `harness report --from` on the copied bundle, its manifest's copy rewritten (case 1) or
    its registration file gone (case 2): no pre-registered section, and a line saying why."""
    out = tmp_path / "out"

    def report(folder: Path) -> str:
        assert main(["report", "erft_confirm", "--from", str(folder), "--out", str(out)]) == 0
        return (out / "report.md").read_text()

    folder = _repo_with_confirm(tmp_path)  # labelled as committed: the committed page shows it
    _edit_json(folder / "manifest.json", lambda m: _planted(m["registration"]))
    _git(folder, "commit", "-q", "-am", "rewrite the manifest's registration")
    text = report(folder)
    assert "Pre-registered hypotheses" not in text and "fixed before the first unit" not in text
    assert "Not pre-registered: the manifest's copy" in text and "2020-01-01" not in text
    (folder / "preregistration.yaml").unlink()
    text = report(folder)
    assert "Pre-registered hypotheses" not in text and "preregistration.yaml is not there" in text


def _history(tmp_path: Path, case: str) -> Path:
    """erft_confirm's registration and units committed in a scratch repository as `case` orders them, in
    the histories that fooled a check of the first add of manifest.json alone -> the bundle folder."""
    import shutil

    folder = _new_repo(tmp_path, "erft_confirm")
    repo = folder.parents[1]
    source = ROOT / "results" / "erft_confirm"

    def commit(names, message):
        for name in names:
            shutil.copyfile(source / name, folder / name)
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", message)

    if case == "tables before the registration":
        commit(("scores.csv", "curves.csv"), "the units' tables")
        commit(("notes.md", "preregistration.yaml"), "register")
        commit(("manifest.json",), "the manifest")
    elif case == "units on a side branch merged after":
        commit(("notes.md",), "notes")
        _git(repo, "checkout", "-q", "-b", "side")
        commit(BUNDLE_FILES, "units, before any registration")
        _git(repo, "checkout", "-q", "-")
        commit(("preregistration.yaml",), "register")
        _git(repo, "merge", "-q", "--no-ff", "-m", "merge the units", "side")
    elif case == "registration rewritten and restored on a side branch":
        commit(("notes.md", "preregistration.yaml"), "register")
        commit(BUNDLE_FILES, "first units")
        _git(repo, "checkout", "-q", "-b", "side")
        text = (folder / "preregistration.yaml").read_text()
        (folder / "preregistration.yaml").write_text(text.replace("direction: less", "direction: greater", 1))
        _git(repo, "commit", "-q", "-am", "rewrite")
        (folder / "preregistration.yaml").write_text(text)
        _git(repo, "commit", "-q", "-am", "restore")
        _git(repo, "checkout", "-q", "-")
        _git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side")
    return folder


@pytest.mark.parametrize(
    "case, said",
    [
        ("tables before the registration", "not pre-registered"),
        ("units on a side branch merged after", "does not descend from it"),
        ("registration rewritten and restored on a side branch", "rewritten in"),
    ],
)
def test_a_history_that_hides_the_order_fails_the_check(tmp_path, capsys, case, said):
    folder = _history(tmp_path, case)
    code, out = _check(folder, capsys)
    assert code == 1 and said in out and "before the first unit" not in out, out


def test_a_unit_recorded_as_finished_before_the_registration_fails_the_check(tmp_path, capsys):
    """Git orders commits, not work: units run before the registration and committed after it (or two
    commits replayed in swapped order onto a new branch) read as git holds them. The manifest records
    each unit's finish (`finished_at`, from its run's end time, digested), and the check compares it
    with the first registration's date: a time after it passes, one before it fails."""
    import datetime as dt

    folder = _repo_with_confirm(tmp_path)
    registered = dt.datetime.fromisoformat(
        str(yaml.safe_load((folder / "preregistration.yaml").read_text())["registered_at"])
    )

    def finished(delta):
        def edit(m):
            for unit in m["units"]:
                unit["finished_at"] = (registered + delta).isoformat()

        return edit

    _edit_json(folder / "manifest.json", finished(dt.timedelta(hours=1)))
    _git(folder, "commit", "-q", "-am", "the units' finish times, after the registration")
    code, said = _check(folder, capsys)
    assert code == 0 and "before the first unit" in said, said
    _edit_json(folder / "manifest.json", finished(-dt.timedelta(days=1)))
    _git(folder, "commit", "-q", "-am", "the units' finish times, the day before")
    code, said = _check(folder, capsys)
    assert code == 1 and "finished before the registration" in said and "not pre-registered" in said, said


def test_a_registration_of_another_experiment_is_refused(tmp_path, capsys):
    folder = _repo_with_confirm(tmp_path)
    capsys.readouterr()
    assert main(["plan", "toy_erft_control", "--check-registration", "--to", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "holds experiment erft_confirm's registration, not toy_erft_control's" in err, err
    assert err.count("\n") == 1


@pytest.mark.parametrize("reason", ["\u200b", " \u200b ", "<script>alert(1)</script>"])
def test_a_supersession_needs_a_reason_in_words(tmp_path, capsys, reason):
    folder = _repo_with_confirm(tmp_path)
    before = (folder / "preregistration.yaml").read_text()
    capsys.readouterr()
    args = ["plan", "erft_confirm", "--preregister", "--supersede", "--reason", reason, "--to", str(folder)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--reason" in err and err.count("\n") == 1, err
    assert (folder / "preregistration.yaml").read_text() == before and not (
        folder / "preregistrations"
    ).exists()
