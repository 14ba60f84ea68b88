"""`harness import DIR`: a results bundle back into an MLflow store (the workspace's or a team server),
so that committed results are reviewed in the MLflow UI exactly as after a run.

The bundle becomes one parent run (role parent, tag `imported_from`) with a child run per unit,
carrying what `harness run` logs and the reports and review views read: the tags (arm, seed, role,
trained, variant, preset, commit, metric backends, videos left out, the arm's colour and grouping
tag), the arm's resolved configuration as params, the final scores (also in percent), the drift curves
(mean over samples per clip, step = clip, with the clip index as their x axis), the training curves,
and each track's per-sample table; the parent gets the bundle's report as its description and
artifacts. Then the saved review views are written, as at the end of a run. No videos or images: a
bundle holds none (the keyframes view needs a run's workspace).

The bundle is read and checked whole (reports/bundle.py) before the first run is created, so a bad
bundle creates nothing. Each unit's run carries its recorded plan hash, and the parent the bundle's
manifest (an artifact) and its digest (a tag): `harness export` of the imported runs writes the bundle's
own facts back, and importing the same bundle again finds the runs it made instead of adding more
(two imports of one content on a workspace take turns under a lock, so the second finds the
first's). A failure part-way marks what was created FAILED.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from harness import tracking
from harness.base import workspace
from harness.base.hashing import flatten
from harness.run.pipeline import publish_report
from harness.tracking import keys
from reports.bundle import build_report_from, file_digest, read_tables, unit_key
from reports.colours import group_tag
from reports.frames import SAMPLE_COLUMNS, VIDEO_LEVEL, WINDOW_LEVEL, split_score_key
from svi.config import TRAIN_ONLY_SECTIONS

IMPORTED_TAG = keys.IMPORTED_TAG


def _unit_tags(unit: dict, experiment: str, group: str, source: str, declared: dict) -> dict[str, str]:
    """The child run's tags; `declared`: the declaration's arms (whether an arm trains, for units
    logged before runs said so themselves)."""
    tags = {
        "arm": unit["arm"],
        "seed": str(unit["seed"]),
        "role": unit["role"] or "arm",
        "experiment": experiment,
        "variant": unit.get("variant") or "none",
        "preset": unit.get("preset") or "",
        "git_commit": unit.get("git_commit") or "unknown",
        keys.GROUP_BY_TAG: group,
        IMPORTED_TAG: source,
    }
    trained = unit.get("trained")
    if trained is None and unit["arm"] in declared:
        trained = declared[unit["arm"]].get("train", True)
    if trained is not None:
        tags[keys.TRAINED_TAG] = str(bool(trained)).lower()
    tags.update({keys.backend_tag(m): b for m, b in (unit.get("backends") or {}).items()})
    for track, names in (unit.get("skipped_videos") or {}).items():
        tags[keys.SKIPPED_VIDEOS_PREFIX + track] = ",".join(names)
    return tags


def _params(arm_config: dict | None, trained: bool, arm: str, seconds_per_clip) -> dict:
    params = flatten(arm_config or {})
    if not trained:
        params = {k: v for k, v in params.items() if k.split(".", 1)[0] not in TRAIN_ONLY_SECTIONS}
    out = {keys.ARM_PARAM: arm, **params}
    if seconds_per_clip is not None and not pd.isna(seconds_per_clip):
        out[keys.SECONDS_PER_CLIP] = seconds_per_clip
    return out


def _wide_table(rows: pd.DataFrame) -> pd.DataFrame:
    """A unit's long score rows of one track -> the per-sample table `harness run` logs (SAMPLE_COLUMNS,
    then a column per metric; a bundle keeps no frame ranges, so those columns are empty). One row per
    (sample, level, window) the bundle holds, never the product of them (which `harness export` would
    read back as empty scores)."""
    index = ["track", "sample", "seed", "level", "window"]
    rows = rows.assign(window=rows["window"].fillna(-1))  # a video row has no window: a key all the same
    wide = rows.set_index([*index, "metric"])["value"].unstack("metric").reset_index()
    wide.columns.name = None
    wide["window"] = wide["window"].astype("Int64").mask(wide["window"] == -1)
    wide["start_frame"] = wide["end_frame"] = pd.NA
    metrics = sorted(c for c in wide.columns if c not in SAMPLE_COLUMNS)
    return wide[[*SAMPLE_COLUMNS, *metrics]].sort_values(["level", "sample", "window"], na_position="first")


def previous_import(c, exp_id: str, digest: str) -> str | None:
    """The parent run an earlier import of the same bundle content made, if it finished."""
    found = c.search_runs(
        [exp_id],
        f"tags.{keys.BUNDLE_DIGEST_TAG} = '{digest}' and attributes.status = 'FINISHED'",
        max_results=1,
    )
    return found[0].info.run_id if found else None


def import_bundle(folder: str | Path, base_url: str | None = None) -> tuple[str, str, object, bool]:
    """Load the bundle at `folder` into the tracking store. -> (experiment id, parent run id, the review
    links `harness.tracking.review.save_view` wrote or None, whether it was imported now: False when an earlier
    import of the same content is found and nothing is created)."""
    from harness.tracking import review

    folder = Path(folder)
    tables = read_tables(folder)  # checked whole (files, schema, names, digests) before anything is created
    manifest = tables.manifest
    name = manifest["experiment"]
    digest = file_digest(folder / "manifest.json")  # the manifest holds the tables' digests
    c = tracking.client()
    exp_id = tracking.ensure_experiment(c, name)
    # One import of a content at a time on this workspace: a second waits, then finds the first's runs.
    with workspace.stage_lock(workspace.path("imports", name, digest.removeprefix("sha256:"))):
        earlier = previous_import(c, exp_id, digest)
        if earlier is not None:
            return exp_id, earlier, None, False
        parent = _create_runs(c, exp_id, folder, tables, digest)
    links = review.save_view(c, exp_id, base_url or review.DEFAULT_UI_URL, c.get_run(parent))
    return exp_id, parent, links, True


def _create_runs(c, exp_id: str, folder: Path, tables, digest: str) -> str:
    """The parent run of the bundle and a child per unit, FINISHED -> the parent's id (what was created
    is marked FAILED when this fails part-way)."""
    manifest = tables.manifest
    name = manifest["experiment"]
    declaration = manifest.get("declaration") or {}
    arms = manifest.get("arm_order") or sorted({u["arm"] for u in manifest["units"]})
    source = str(folder)
    parent = tracking.start_parent(
        c,
        exp_id,
        f"{name} (results bundle)",
        {
            "experiment": name,
            IMPORTED_TAG: source,
            keys.BUNDLE_DIGEST_TAG: digest,
            **({keys.PRIMARY_TAG: manifest["primary"]} if manifest.get("primary") else {}),
        },  # fmt: skip
    )
    created = [parent]
    try:
        c.log_artifact(parent, str(folder / "manifest.json"), keys.BUNDLE_MANIFEST.rsplit("/", 1)[0])
        tracking.log_params(
            c,
            parent,
            {
                "arms": ",".join(arms),
                "seeds": declaration.get("seeds"),
                "metrics": declaration.get("metrics"),
            },
        )
        for unit in manifest["units"]:
            created.append(
                _import_unit(c, exp_id, parent, unit, manifest, tables, group_tag(list(arms)), source)
            )
        with tempfile.TemporaryDirectory() as tmp:
            from harness.declare.preregistration import git_check

            files = build_report_from(folder, Path(tmp), registration_check=git_check)
            for f in files.values():
                c.log_artifact(parent, str(f), keys.REPORT_DIR)
            publish_report(c, parent, files)
        tracking.finish(c, parent, "FINISHED")
    except (
        BaseException
    ):  # nothing is left RUNNING: what was created is marked FAILED, then the error goes on
        for run_id in created:
            tracking.finish_quietly(c, run_id, "FAILED")
        raise
    return parent


def _import_unit(
    c, exp_id: str, parent: str, unit: dict, manifest: dict, tables, group: str, source: str
) -> str:
    """One unit of the bundle as a finished child run of `parent` -> its run id."""
    name, declaration = manifest["experiment"], manifest.get("declaration") or {}
    scores, curves = tables.scores, tables.curves
    arm, seed = unit["arm"], unit["seed"]
    key = unit_key(arm, seed)
    tags = _unit_tags(unit, name, group, source, declaration.get("arms", {}))
    if key in (manifest.get("plan_hashes") or {}):
        tags[keys.PLAN_HASH_TAG] = manifest["plan_hashes"][key]
    run_id = tracking.start_child(c, exp_id, parent, f"{arm}-seed{seed}", tags)
    if unit["status"] not in ("FINISHED", "FAILED", "KILLED"):
        tracking.finish(c, run_id, "FAILED")  # a bundle's unit that was still running has no results
        return run_id
    try:
        tracking.set_note(
            c,
            run_id,
            f"**{arm}**, seed {seed}, role {tags['role']}: imported from the results bundle `{source}`.",
        )
        trained = tags.get(keys.TRAINED_TAG) != "false"
        config = (manifest.get("arms") or {}).get(arm)
        tracking.log_params(c, run_id, _params(config, trained, arm, unit.get("seconds_per_clip")))
        mine = scores[(scores["arm"] == arm) & (scores["seed"] == seed)]
        finals = unit.get("scores") or {}
        for track in sorted({split_score_key(k)[0] for k in finals} | set(mine["track"])):
            aggregate = {
                split_score_key(k)[3]: v for k, v in finals.items() if split_score_key(k)[0] == track
            }
            rows = mine[mine["track"] == track]
            windows = rows[rows["level"] == WINDOW_LEVEL]
            drift = {
                m: [v for _, v in sorted(w.groupby("window")["value"].mean().items())]
                for m, w in windows.groupby("metric")
            }
            tracking.log_metrics(c, run_id, tracking.suite_metric_rows(track, aggregate, drift))
            per_sample = rows[rows["level"].isin([VIDEO_LEVEL, WINDOW_LEVEL])]
            if not per_sample.empty:
                tracking.log_table(c, run_id, track, _wide_table(per_sample))
        unit_curves = curves[(curves["arm"] == arm) & (curves["seed"] == seed)]
        tracking.log_metrics(
            c, run_id, [(r.key, float(r.value), int(r.step)) for r in unit_curves.itertuples(index=False)]
        )
        stages = ((manifest.get("provenance") or {}).get(key) or {}).get("stage_seconds") or {}
        tracking.log_metrics(
            c, run_id, [(keys.TIME_PREFIX + k, float(v), 0) for k, v in sorted(stages.items())]
        )
    except BaseException:
        tracking.finish_quietly(c, run_id, "FAILED")
        raise
    tracking.finish(c, run_id, unit["status"])
    return run_id
