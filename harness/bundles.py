"""Results bundles on the harness's side: `harness export` (the tracking store into a bundle) and
`harness run --from` (an experiment continued from a bundle, unit by unit).

What the store holds (each unit's final and per-sample scores, its training curves) goes into the
bundle's tables (reports/bundle.py); what the workspace holds beside it (each unit's stage records and
backbone record) and what the declaration says (each arm's resolved configuration, the arm order, the
primary metric, each unit's plan hash) into its manifest. Run ids, hosts, wall times and the stage
hashes of the workspace a unit ran in (they digest its paths) go under `provenance`, the one part
that differs between two runs of the same units.

Continuing: a unit of the plan whose bundle entry finished under the same plan hash (harness/plan.py
`unit_inputs`: its configuration, less where files are, and how it is scored) is taken as done; one
made under another plan is refused by name with what changed, unless forced; the rest run, and each
finished unit is merged into the bundle at once (`export(..., keep=bundle)`), so a run cut short
loses at most the unit it was on. The merge reads the bundle and writes it back under an exclusive
lock on its folder, so two runs continuing one bundle (different units, one shared folder) each add
their units and lose none of the other's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness import tracking, workspace
from harness.experiment import Experiment, config_changes
from harness.plan import ArmPlan, Plan, code_versions, plan_inputs, unit_hash, unit_inputs
from reports.bundle import (
    CURVE_COLUMNS,
    BundleError,
    build_report_from,
    read_manifest,
    read_tables,
    unit_key,
    write_bundle,
    write_manifest,
)
from reports.runs import FINISHED, load_runs, load_samples
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


def export(
    exp: Experiment, source: Path, to: Path, parent_run_id: str | None = None, *, keep: Path | None = None
) -> dict[str, Path]:
    """Write `exp`'s latest run (or `parent_run_id`) from the tracking store into the bundle `to`, its
    report built from the bundle alone. `keep`: a bundle whose units this run does not hold are kept
    (`harness run --from`; the run's own units replace theirs). -> the files written."""
    uri = workspace.tracking_uri()
    runs = load_runs(exp.name, uri, parent_run_id)
    samples = load_samples(exp.name, uri, runs.attrs["parent_run_id"])
    declaration = exp.model_dump(mode="json")
    arms = {arm: exp.arm_config(arm, source).model_dump(mode="json") for arm in exp.arms}
    plans, provenance = {}, {}
    versions = code_versions()
    host = socket.gethostname()
    for rec in runs.to_dict("records"):
        if pd.isna(rec["seed"]) or rec["arm"] not in exp.arms:
            continue
        arm, seed = rec["arm"], int(rec["seed"])
        key = unit_key(arm, seed)
        plans[key] = unit_hash(unit_inputs(declaration, arm, arms[arm], seed, versions))
        provenance[key] = {
            "host": host,
            "parent_run_id": runs.attrs["parent_run_id"],
            "run_id": rec["run_id"],
            **stage_records(exp, arm, seed),  # that workspace's stage hashes (they digest its paths)
        }
        if rec.get("seconds") is not None and not pd.isna(rec["seconds"]):
            provenance[key]["run_seconds"] = round(float(rec["seconds"]), 1)
        if rec.get("stage_seconds"):
            provenance[key]["stage_seconds"] = {
                k: round(v, 1) for k, v in sorted(rec["stage_seconds"].items())
            }
    extra = {
        "arm_order": list(exp.arms),
        "primary": exp.primary,
        "declaration": declaration,
        "arms": arms,
        "plan_hashes": plans,
        "versions": versions,
        "harness_commit": tracking.git_commit(),
        "provenance": provenance,
    }
    with bundle_lock(to) if keep is not None else contextlib.nullcontext():
        kept = read_tables(keep) if keep is not None and (Path(keep) / "manifest.json").is_file() else None
        files = write_bundle(
            to, exp.name, runs, samples, curves=training_curves(runs), extra=extra, keep=kept
        )
        files.update(build_report_from(to))
    return files


@contextlib.contextmanager
def bundle_lock(folder: Path):
    """An exclusive advisory lock (flock) on the bundle folder itself, held while a run merges its
    units in: another harness process merging into the same folder waits for it. No lock file is
    left in the bundle."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


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


def changes_of(manifest: dict, unit: ArmPlan, now: dict) -> dict[str, tuple]:
    """Dotted key -> (bundle's value, the plan's value) for a unit whose plan hash differs. From the
    bundle's recorded declaration and arm configuration: what the unit ran under then."""
    arm_config = manifest.get("arms", {}).get(unit.arm)
    declaration = manifest.get("declaration")
    if arm_config is None or declaration is None or unit.arm not in declaration.get("arms", {}):
        return {"(the bundle records no configuration for this arm)": (None, None)}
    old = unit_inputs(declaration, unit.arm, arm_config, unit.seed, manifest.get("versions"))
    return config_changes(old, now)


def from_bundle(plan: Plan, units: list[ArmPlan], folder: Path, force: bool = False) -> FromBundle:
    """Sort `units` into those the bundle at `folder` holds finished under the same plan hash (done)
    and those to run. A finished unit made under another plan is a ConfigError naming it and what
    changed, unless `force` (then it runs again and replaces the bundle's). A folder without a
    bundle yet (missing, empty, or holding only its notes, `notes.md`, written before the first run)
    starts one."""
    from reports.pages import NOTES_FILE

    folder = Path(folder)
    if not folder.exists() or (folder.is_dir() and {p.name for p in folder.iterdir()} <= {NOTES_FILE}):
        return FromBundle(folder, (), tuple(units), ())
    try:
        manifest = read_manifest(folder)
    except BundleError as e:
        raise ConfigError(str(e)) from None
    if manifest["experiment"] != plan.exp.name:
        raise ConfigError(
            f"{folder} holds experiment {manifest['experiment']!r}, not {plan.exp.name!r}: name the bundle "
            f"of {plan.exp.name} (default results/{plan.exp.name})"
        )
    finished = {unit_key(u["arm"], u["seed"]) for u in manifest["units"] if u["status"] == FINISHED}
    hashes = manifest.get("plan_hashes", {})
    done, todo, replaced, refused = [], [], [], []
    for unit in units:
        key = unit_key(unit.arm, unit.seed)
        if key not in finished:
            todo.append(unit)
            continue
        now = plan_inputs(plan, unit)
        if hashes.get(key) == unit_hash(now):
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
