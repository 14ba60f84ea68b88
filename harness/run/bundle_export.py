"""Results bundles on the harness's side: `harness export` (the tracking store into a bundle) and
`harness run --from` (an experiment continued from a bundle, unit by unit).

What the store holds (each unit's final and per-sample scores, its training curves) goes into the
bundle's tables (reports/bundle.py); what the workspace holds beside it (each unit's stage records and
backbone record) and what the declaration says (each arm's resolved configuration, the arm order, the
primary metric, each unit's plan hash) into its manifest. Run ids, hosts, wall times and the stage
hashes of the workspace a unit ran in (they digest its paths) go under `provenance`, the one part
that differs between two runs of the same units.

Continuing: a unit of the plan whose bundle entry finished under the same plan hash (harness/declare/plan.py
`unit_inputs`: its configuration, less where files are, and how it is scored) is taken as done; one
made under another plan is refused by name with what changed, unless forced; the rest run, and each
finished unit is merged into the bundle at once (`export(..., keep=bundle)`), so a run cut short
loses at most the unit it was on. The merge reads the bundle and writes it back under an exclusive
lock on its folder (reports/bundle.py `writing`), so two runs continuing one bundle (different units,
one shared folder) each add their units and lose none of the other's, and a reader sees the bundle
before or after the merge; each file is written whole, so a merge killed part-way leaves the old
bundle readable.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import tracking
from harness.base import workspace
from harness.base.hashing import config_changes
from harness.declare.experiment import Experiment
from harness.declare.plan import (
    ADDED_SETTINGS,
    ArmPlan,
    Plan,
    code_versions,
    plan_inputs,
    unit_hash,
    unit_inputs,
    with_added_settings,
)
from harness.declare.preregistration import git_check, read_registration
from harness.tracking import keys
from harness.tracking.store_reader import load_runs, load_samples
from reports.bundle import (
    CURVE_COLUMNS,
    BundleError,
    build_report_from,
    check_manifest,
    read_manifest,
    read_tables,
    unit_key,
    write_bundle,
    write_manifest,
    writing,
)
from reports.frames import FINISHED
from reports.registration import manifest_copy
from svi.config import ConfigError

CURVE_KEYS = ("train/loss", "train/grad_norm")  # what a bundle keeps of each training's curves


def training_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """CURVE_KEYS of every finished trained unit, from the store's metric histories."""
    c = tracking.client()
    rows = []
    for rec in runs[runs["status"] == FINISHED].to_dict("records"):
        for key in CURVE_KEYS:
            for m in c.get_metric_history(rec["run_id"], key):
                rows.append(
                    {
                        "arm": rec["arm"],
                        "seed": int(rec["seed"]),
                        "key": key,
                        "step": m.step,
                        "value": m.value,
                    }
                )
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def stage_records(exp: Experiment, arm: str, seed: int) -> dict:
    """The unit's stage hashes (every stage.json under its folder) and backbone record, where the
    workspace still holds them."""
    folder = workspace.arm_dir(exp.name, arm, seed)
    out: dict = {}
    for marker in sorted(folder.rglob("stage.json")):
        info = workspace.read_marker(marker.parent) or {}
        out[str(marker.parent.relative_to(folder))] = {"hash": info.get("hash"), "status": info.get("status")}
    backbone = folder / "train" / "backbone.json"
    record = {"stages": out}
    if backbone.is_file():
        record["backbone"] = json.loads(backbone.read_text())
    return record


def imported_manifest(c, parent_run_id: str) -> dict | None:
    """The manifest of the bundle a parent run was imported from (`harness import` keeps it as an
    artifact), checked; None for a parent run that `harness run` made."""
    parent = c.get_run(parent_run_id)
    if keys.IMPORTED_TAG not in parent.data.tags:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = c.download_artifacts(parent_run_id, keys.BUNDLE_MANIFEST, tmp)
        except Exception:  # imported before the manifest was kept: its facts are lost
            raise ConfigError(
                f"parent run {parent_run_id} was imported from a bundle without keeping its manifest: "
                "export the bundle itself, not its imported runs"
            ) from None
        return check_manifest(json.loads(Path(path).read_text()), keys.BUNDLE_MANIFEST)


# What a bundle's manifest records of its runs beyond their units: facts of the runs, which an export
# of imported runs takes from the imported bundle, never from the code that exports.
RUN_FACTS = (
    "arm_order",
    "primary",
    "declaration",
    "arms",
    "plan_hashes",
    "versions",
    "harness_commit",
    "provenance",
)


def export(
    exp: Experiment, source: Path, to: Path, parent_run_id: str | None = None, *, keep: Path | None = None
) -> dict[str, Path]:
    """Write `exp`'s latest run (or `parent_run_id`) from the tracking store into the bundle `to`, its
    report built from the bundle alone. `keep`: a bundle whose units this run does not hold are kept
    (`harness run --from`; the run's own units replace theirs). -> the files written.

    Each unit's plan hash is the one its run was tagged with when it ran (computed now only for runs
    logged before runs carried it). Runs imported from a bundle (`harness import`) are exported with
    that bundle's manifest facts (RUN_FACTS and its units): an import then an export gives the bundle
    back."""
    uri = workspace.tracking_uri()
    runs = load_runs(exp.name, uri, parent_run_id)
    samples = load_samples(exp.name, uri, runs.attrs["parent_run_id"])
    c = tracking.client()
    imported = imported_manifest(c, runs.attrs["parent_run_id"])
    if imported is not None:
        extra = {k: imported[k] for k in RUN_FACTS if k in imported}
        units = imported["units"]
    else:
        extra, units = _run_facts(c, exp, source, runs), None
    check_destination(to, exp.name)
    registered = read_registration(to) if Path(to).is_dir() else None
    if registered is not None and imported is None:  # the report labels its hypotheses pre-registered
        extra["registration"] = manifest_copy(registered)
    with writing(to):  # readers see the bundle before or after, never half of it
        kept = read_tables(keep) if keep is not None and (Path(keep) / "manifest.json").is_file() else None
        files = write_bundle(
            to, exp.name, runs, samples, curves=training_curves(runs), extra=extra, keep=kept, units=units
        )
        files.update(build_report_from(to, registration_check=git_check))
    return files


def _run_facts(c, exp: Experiment, source: Path, runs: pd.DataFrame) -> dict:
    """The manifest fields of runs `harness run` made: the declaration, each arm's resolved
    configuration, each unit's plan hash (its run's tag) and provenance."""
    declaration = exp.model_dump(mode="json")
    arms = {arm: exp.arm_config(arm, source).model_dump(mode="json") for arm in exp.arms}
    plans, provenance = {}, {}
    versions = code_versions()
    host = socket.gethostname()
    for rec in runs.to_dict("records"):
        reference = rec.get("role") == keys.REFERENCE_ROLE  # a degenerate reference: its key is its hash
        if pd.isna(rec["seed"]) or (rec["arm"] not in exp.arms and not reference):
            continue
        arm, seed = rec["arm"], int(rec["seed"])
        key = unit_key(arm, seed)
        tagged = c.get_run(rec["run_id"]).data.tags.get(keys.PLAN_HASH_TAG)
        if tagged or not reference:
            plans[key] = tagged or unit_hash(unit_inputs(declaration, arm, arms[arm], seed, versions))
        provenance[key] = {
            "host": host,
            "parent_run_id": runs.attrs["parent_run_id"],
            "run_id": rec["run_id"],
            **({} if reference else stage_records(exp, arm, seed)),  # that workspace's stage hashes
        }
        if rec.get("seconds") is not None and not pd.isna(rec["seconds"]):
            provenance[key]["run_seconds"] = round(float(rec["seconds"]), 1)
        if rec.get("stage_seconds"):
            provenance[key]["stage_seconds"] = {
                k: round(v, 1) for k, v in sorted(rec["stage_seconds"].items())
            }
    return {
        "arm_order": list(exp.arms),
        "primary": exp.primary,
        "declaration": declaration,
        "arms": arms,
        "plan_hashes": plans,
        "versions": versions,
        "harness_commit": tracking.git_commit(),
        "provenance": provenance,
    }


# What a folder may hold besides a bundle's own files before `harness export --to` writes one there.
WRITTEN_BEFORE_THE_FIRST_UNIT = frozenset({"notes.md", "preregistration.yaml", "preregistrations"})


def check_destination(to: Path, experiment: str) -> None:
    """`to` may receive `experiment`'s bundle: it does not exist yet, or is a real, writable folder that
    is empty, holds only what is written before the first unit (notes, a pre-registration), or holds
    that experiment's bundle. Else a ConfigError: an export never overwrites another folder's files."""
    to = Path(to)
    if to.is_symlink():
        raise ConfigError(f"--to {to} is a symbolic link: name a real folder")
    if not to.exists():
        return
    if not to.is_dir():
        raise ConfigError(f"--to {to} is a file, not a folder: name a folder for the bundle")
    if not os.access(to, os.W_OK | os.X_OK):
        raise ConfigError(f"--to {to} cannot be written here: name a folder you can write")
    names = {p.name for p in to.iterdir()}
    if names <= WRITTEN_BEFORE_THE_FIRST_UNIT:
        return
    if "manifest.json" not in names:
        shown = ", ".join(sorted(names)[:5]) + (" ..." if len(names) > 5 else "")
        raise ConfigError(
            f"--to {to} is not empty and holds no bundle ({shown}): name an empty folder or "
            f"{experiment}'s bundle (default results/{experiment})"
        )
    try:
        held = read_manifest(to)["experiment"]
    except BundleError as e:
        raise ConfigError(f"--to {to}: {e}") from None
    if held != experiment:
        raise ConfigError(f"--to {to} holds the bundle of {held!r}, not {experiment!r}: name another folder")


# -- continuing an experiment from its bundle ----------------------------------------------------


def refresh_declaration(exp: Experiment, folder: Path) -> bool:
    """Write `exp`'s declaration as it is now (description, arm order, primary metric, declared
    comparisons) into the bundle's manifest. For a bundle whose declared units all ran under the
    current plan (`from_bundle` found every one done): what is asked of the data may change without
    re-running it. -> whether the manifest changed."""
    manifest = read_manifest(folder)
    now = {"declaration": exp.model_dump(mode="json"), "arm_order": list(exp.arms), "primary": exp.primary}
    if all(manifest.get(k) == v for k, v in now.items()):
        return False
    write_manifest(folder, {**manifest, **now})
    return True


@dataclass(frozen=True)
class FromBundle:
    """What `harness run --from` found: the units the bundle already holds and those still to run."""

    folder: Path
    done: tuple[ArmPlan, ...]
    todo: tuple[ArmPlan, ...]
    replaced: tuple[ArmPlan, ...]  # finished in the bundle under another plan, run again (--force)


NO_RECORD = "(the bundle records no configuration for this arm)"
NOT_ITS_RECORD = "(the recorded plan hash is not the hash of the bundle's recorded configuration)"


def recorded_inputs(manifest: dict, arm: str, seed: int) -> dict | None:
    """The `unit_inputs` a bundle's unit ran under, from its recorded declaration and arm configuration
    (None where the bundle records neither), verified against its recorded plan hash."""
    arm_config = manifest.get("arms", {}).get(arm)
    declaration = manifest.get("declaration")
    if arm_config is None or declaration is None or arm not in declaration.get("arms", {}):
        return None
    return unit_inputs(declaration, arm, arm_config, seed, manifest.get("versions"))


def changes_of(manifest: dict, unit: ArmPlan, now: dict) -> dict[str, tuple]:
    """Dotted key -> (bundle's value, the plan's value) for a unit that is not taken as done; never
    empty. From the bundle's recorded declaration and arm configuration: what the unit ran under then.
    Where those do not give the recorded plan hash (the bundle was edited, or written by code that
    hashed other inputs), that is the change named."""
    old = recorded_inputs(manifest, unit.arm, unit.seed)
    if old is None:
        return {NO_RECORD: (None, None)}
    if unit_hash(old) != manifest.get("plan_hashes", {}).get(unit_key(unit.arm, unit.seed)):
        return {
            NOT_ITS_RECORD: (
                manifest.get("plan_hashes", {}).get(unit_key(unit.arm, unit.seed)),
                unit_hash(old),
            )
        }
    changed = config_changes(with_added_settings(old), now)
    return changed or {"(the plan hash differs with no setting changed: report this as a bug)": (None, None)}


def is_done(manifest: dict, unit: ArmPlan, now: dict) -> bool:
    """Whether a finished unit of the bundle ran under the plan `now` (`plan_inputs`): its recorded plan
    hash is the hash of today's inputs, or of today's inputs without some of the settings added since
    it ran (ADDED_SETTINGS) that today hold the value which reproduces the code before them. A unit
    made before a setting existed recorded no such key; one made after, the key at that value; both ran
    the plan of today. The bundle's recorded declaration is not needed (a later export rewrites it)."""
    recorded = manifest.get("plan_hashes", {}).get(unit_key(unit.arm, unit.seed))
    return recorded is not None and recorded in equivalent_hashes(now)


def equivalent_hashes(now: dict) -> set[str]:
    """The plan hashes of `now` and of `now` less every subset of its ADDED_SETTINGS keys that hold the
    old behaviour's value."""
    import itertools

    defaults = [k for k, v in ADDED_SETTINGS.items() if k in now and now[k] == v]
    out = set()
    for r in range(len(defaults) + 1):
        for dropped in itertools.combinations(defaults, r):
            out.add(unit_hash({k: v for k, v in now.items() if k not in dropped}))
    return out


def from_bundle(plan: Plan, units: list[ArmPlan], folder: Path, force: bool = False) -> FromBundle:
    """Sort `units` into those the bundle at `folder` holds finished under the same plan hash (done)
    and those to run. A finished unit made under another plan is a ConfigError naming it and what
    changed, unless `force` (then it runs again and replaces the bundle's). A folder without a
    bundle yet (missing, empty, or holding only what is written before the first unit: its notes,
    `notes.md`, and its pre-registration)
    starts one."""
    from reports.pages import NOTES_FILE

    folder = Path(folder)
    before = {NOTES_FILE, *WRITTEN_BEFORE_THE_FIRST_UNIT, "preregistrations"}  # notes, the registration
    if not folder.exists() or (folder.is_dir() and {p.name for p in folder.iterdir()} <= before):
        return FromBundle(folder, (), tuple(units), ())
    try:  # the whole bundle, every file's digest included, before any work
        manifest = read_tables(folder).manifest
    except BundleError as e:
        raise ConfigError(str(e)) from None
    if manifest["experiment"] != plan.exp.name:
        raise ConfigError(
            f"{folder} holds experiment {manifest['experiment']!r}, not {plan.exp.name!r}: name the bundle "
            f"of {plan.exp.name} (default results/{plan.exp.name})"
        )
    finished = {unit_key(u["arm"], u["seed"]) for u in manifest["units"] if u["status"] == FINISHED}
    done, todo, replaced, refused = [], [], [], []
    for unit in units:
        key = unit_key(unit.arm, unit.seed)
        if key not in finished:
            todo.append(unit)
            continue
        now = plan_inputs(plan, unit)
        if is_done(manifest, unit, now):
            done.append(unit)
        elif force:
            replaced.append(unit)
            todo.append(unit)
        else:
            changed = changes_of(manifest, unit, now)
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in list(changed.items())[:8])
            more = f" (and {len(changed) - 8} more)" if len(changed) > 8 else ""
            refused.append(f"  {unit.arm} seed {unit.seed}: {shown}{more}")
    if refused:
        raise ConfigError(
            f"{folder}: {len(refused)} finished unit(s) of the bundle were made under another plan than this "
            "run's (changed configuration, code defaults or scoring):\n" + "\n".join(refused) + "\nRun them "
            "again into the bundle with --force (their old results are replaced), or continue in a new "
            "bundle folder."
        )
    return FromBundle(folder, tuple(done), tuple(todo), tuple(replaced))
