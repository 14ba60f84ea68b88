"""Results bundles: an experiment's results as small committed files, from which its report is rebuilt
with no tracking store and no torch.

    results/<experiment>/
        manifest.json   the experiment and, per (arm, seed) unit, what the report needs of its run (role,
                        trained, status, variant, preset, commit, metric backends, videos left out,
                        seconds per clip, final scores) and what `harness export` adds: the
                        declaration and each arm's resolved configuration, each unit's plan hash
                        (`plan_hashes`, what `harness run --from` compares) and, under `provenance`,
                        where it ran (host, run ids, wall time, that workspace's stage hashes and
                        backbone record)
        scores.csv      every per-video and per-window score, one tidy table: arm, seed, track, sample,
                        level, window, metric, value
        curves.csv      training curves, thinned to at most CURVE_POINTS points per unit and key
        report/         the report built from the bundle alone (`build_report_from`)

Deterministic: the same results give the same bytes (rows and keys sorted, values written with
FLOAT_FORMAT, no timestamps in the tables or the report), so a git diff of a bundle shows what
changed. `write_bundle` and `read_bundle` are inverse: the frames read back are the frames written.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.keys import VIDEO_LEVEL, WINDOW_LEVEL
from reports.runs import FINISHED, RUN_COLUMNS, RUN_LEVEL, SAMPLE_FRAME_COLUMNS, _frame, split_metric

BUNDLE_VERSION = 1
FLOAT_FORMAT = "%.9g"  # nine significant digits: float32 scores exactly, float64 to ~1e-9
CURVE_POINTS = 200
SCORE_COLUMNS = ["arm", "seed", "track", "sample", "level", "window", "metric", "value"]
CURVE_COLUMNS = ["arm", "seed", "key", "step", "value"]
# What a unit's manifest entry keeps of its run (the rest of the runs frame is derived or per store).
UNIT_FIELDS = (
    "arm", "seed", "role", "trained", "status", "variant", "preset", "git_commit", "seconds_per_clip",
    "backends", "skipped_videos", "run_id",
)  # fmt: skip


class BundleError(LookupError):
    """A folder that is not a results bundle, or one this harness cannot read (the message says why)."""


def _clean(value):
    """A JSON-safe value: NaN and pandas' missing values become None, numpy scalars Python ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None
    return value


def _dump(data: dict) -> str:
    return json.dumps(_clean(data), indent=2, sort_keys=True) + "\n"


def units_of(runs: pd.DataFrame) -> list[dict]:
    """The manifest entries of a runs frame (`load_runs`): UNIT_FIELDS and the final scores."""
    out = []
    score_cols = [c for c in runs.columns if split_metric(c)]
    for rec in runs.to_dict("records"):
        unit = {k: rec.get(k) for k in UNIT_FIELDS}
        unit["seed"] = None if pd.isna(rec.get("seed")) else int(rec["seed"])
        unit["scores"] = {c: rec[c] for c in score_cols if rec.get(c) is not None and not pd.isna(rec[c])}
        out.append(unit)
    return _sorted_units(out)


def _sorted_units(units: list[dict]) -> list[dict]:
    return sorted(
        units, key=lambda u: (str(u["arm"]), -1 if u["seed"] is None else u["seed"], str(u["run_id"]))
    )


SCORE_SORT = ["arm", "seed", "track", "sample", "level", "window", "metric"]
# Manifest fields keyed by unit (`unit_key`): merged unit by unit when a bundle is continued.
UNIT_MAPS = ("plan_hashes", "provenance")


def unit_key(arm: str, seed: int | None) -> str:
    """A unit's key in the manifest's per-unit maps: `<arm>/seed<k>`."""
    return f"{arm}/seed{seed}"


def scores_table(samples: pd.DataFrame) -> pd.DataFrame:
    """The tidy score table of a samples frame (`load_samples`): per-video and per-window rows, sorted."""
    rows = samples[samples["level"].isin([VIDEO_LEVEL, WINDOW_LEVEL])]
    return _sorted_scores(rows[SCORE_COLUMNS].copy())


def _sorted_scores(table: pd.DataFrame) -> pd.DataFrame:
    table["seed"] = table["seed"].astype("Int64")
    table["window"] = pd.to_numeric(table["window"], errors="coerce").astype("Int64")
    return table.sort_values(SCORE_SORT, na_position="first").reset_index(drop=True)


@dataclass(frozen=True)
class KeptTables:
    """A bundle's tables as written (`read_tables`): what a continued bundle keeps of its units."""

    manifest: dict
    scores: pd.DataFrame  # SCORE_COLUMNS
    curves: pd.DataFrame  # CURVE_COLUMNS


def read_tables(folder: str | Path) -> KeptTables:
    folder = Path(folder)
    manifest = read_manifest(folder)
    scores = _read_scores(folder)
    curves_file = folder / "curves.csv"
    curves = (
        pd.read_csv(curves_file, dtype={"arm": str, "key": str}, keep_default_na=False, na_values=[""])
        if curves_file.is_file()
        else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    return KeptTables(manifest, scores, curves)


def _read_scores(folder: Path) -> pd.DataFrame:
    table = pd.read_csv(
        folder / "scores.csv", dtype={"arm": str, "track": str, "sample": str, "level": str, "metric": str},
        keep_default_na=False, na_values=[""],
    )  # fmt: skip
    table["seed"] = table["seed"].astype("Int64")
    table["window"] = table["window"].astype("Int64")
    return table


def _other_units(table: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    """The rows of `table` (arm and seed columns) whose unit is not in `keys`."""
    if table.empty:
        return table
    mine = [unit_key(a, None if pd.isna(s) else int(s)) in keys for a, s in zip(table["arm"], table["seed"])]
    return table[[not m for m in mine]]


def write_bundle(
    folder: str | Path,
    experiment: str,
    runs: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    curves: pd.DataFrame | None = None,
    extra: dict | None = None,
    keep: KeptTables | None = None,
) -> dict[str, Path]:
    """Write the bundle's tables (manifest.json, scores.csv, curves.csv) into `folder`. `extra`: more
    manifest fields (`harness export`: the units' configurations and stage records). `keep`: a bundle's
    tables (`read_tables`) whose units `runs` does not hold are kept beside them (a continued run)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    units, extra = units_of(runs), dict(extra or {})
    scores = scores_table(samples)
    if keep is not None:
        new = {unit_key(u["arm"], u["seed"]) for u in units}
        kept = [u for u in keep.manifest["units"] if unit_key(u["arm"], u["seed"]) not in new]
        units = _sorted_units(kept + units)
        for name in UNIT_MAPS:
            old = {k: v for k, v in keep.manifest.get(name, {}).items() if k not in new}
            extra[name] = {**old, **extra.get(name, {})}
        scores = _sorted_scores(pd.concat([_other_units(keep.scores, new), scores], ignore_index=True))
        if curves is not None:
            curves = pd.concat([_other_units(keep.curves, new), curves], ignore_index=True)
    manifest = {"bundle_version": BUNDLE_VERSION, "experiment": experiment, "units": units, **extra}
    files = {"manifest.json": folder / "manifest.json", "scores.csv": folder / "scores.csv"}
    write_manifest(folder, manifest)
    scores.to_csv(files["scores.csv"], index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    if curves is not None:
        files["curves.csv"] = folder / "curves.csv"
        thin_curves(curves).to_csv(
            files["curves.csv"], index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
        )
    return files


def thin_curves(curves: pd.DataFrame, points: int = CURVE_POINTS) -> pd.DataFrame:
    """At most `points` steps of each (arm, seed, key) curve, evenly spaced, its last step kept."""
    parts = []
    for _, curve in curves.sort_values(CURVE_COLUMNS[:4]).groupby(["arm", "seed", "key"], sort=True):
        if len(curve) > points:
            keep = np.unique(np.linspace(0, len(curve) - 1, points).round().astype(int))
            curve = curve.iloc[keep]
        parts.append(curve)
    out = pd.concat(parts)[CURVE_COLUMNS] if parts else pd.DataFrame(columns=CURVE_COLUMNS)
    return out.astype({"seed": "Int64", "step": "Int64", "value": float})


def write_manifest(folder: str | Path, manifest: dict) -> None:
    """Write a bundle's manifest.json (deterministic bytes, as `write_bundle` does)."""
    (Path(folder) / "manifest.json").write_text(_dump(manifest))


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise BundleError(
            f"{folder} is not a results bundle: it has no manifest.json (harness export writes one)"
        )
    manifest = json.loads(path.read_text())
    if manifest.get("bundle_version") != BUNDLE_VERSION:
        raise BundleError(
            f"{path} is bundle version {manifest.get('bundle_version')}; this harness reads {BUNDLE_VERSION}"
        )
    return manifest


def read_bundle(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, samples, manifest) of a bundle, as `load_runs` and `load_samples` would give them."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    rows = []
    for unit in manifest["units"]:
        rec = {k: unit.get(k) for k in UNIT_FIELDS}
        rec["backends"] = rec["backends"] or {}
        rec["skipped_videos"] = rec["skipped_videos"] or {}
        rec["parent_run_id"] = None
        rec["run_name"] = f"{unit['arm']}-seed{unit['seed']}"
        where = manifest.get("provenance", {}).get(unit_key(unit["arm"], unit["seed"]), {})
        rec["stage_seconds"] = where.get("stage_seconds") or {}
        rec["seconds_per_clip"] = math.nan if rec["seconds_per_clip"] is None else rec["seconds_per_clip"]
        rows.append({**rec, **unit.get("scores", {})})
    runs = _frame(rows, RUN_COLUMNS)
    runs["seed"] = runs["seed"].astype("Int64")
    runs.attrs.update(experiment=manifest["experiment"], parent_run_id=None)
    table = _read_scores(folder)
    info = {(u["arm"], u["seed"]): u for u in manifest["units"]}
    per_clip = {(u["arm"], u["seed"]): u.get("seconds_per_clip") for u in manifest["units"]}
    samples = table.assign(
        role=[info[(a, s)]["role"] for a, s in zip(table["arm"], table["seed"])],
        run_id=[info[(a, s)]["run_id"] for a, s in zip(table["arm"], table["seed"])],
        status=[info[(a, s)]["status"] for a, s in zip(table["arm"], table["seed"])],
        seconds=[
            (w + 1) * (per_clip[(a, s)] or math.nan) if not pd.isna(w) else math.nan
            for a, s, w in zip(table["arm"], table["seed"], table["window"])
        ],
    )
    finals = [  # each finished unit's final scores, the set value of a set-level metric (FVD)
        {"arm": u["arm"], "role": u["role"], "seed": u["seed"], "run_id": u["run_id"], "status": u["status"],
         "track": split_metric(key)[0], "sample": None, "level": RUN_LEVEL, "window": None,
         "metric": split_metric(key)[3], "value": float(value), "seconds": math.nan}
        for u in manifest["units"] if u["status"] == FINISHED for key, value in sorted(u.get("scores", {}).items())
    ]  # fmt: skip
    samples = pd.concat([pd.DataFrame(finals, columns=SAMPLE_FRAME_COLUMNS), samples[SAMPLE_FRAME_COLUMNS]])
    samples = samples.reset_index(drop=True)
    samples["seed"] = samples["seed"].astype("Int64")
    samples["window"] = pd.to_numeric(samples["window"]).astype("Int64")
    samples["value"] = samples["value"].astype(float)
    samples.attrs["without_samples"] = []
    return runs, samples, manifest


def missing_units(manifest: dict) -> list[str]:
    """The declared (arm, seed) units (the manifest's declaration: arms x seeds) the bundle holds no
    finished run of, as "<arm> seed <k>", seeds outermost as the harness runs them."""
    declaration = manifest.get("declaration") or {}
    finished = {(u["arm"], u["seed"]) for u in manifest["units"] if u["status"] == FINISHED}
    return [
        f"{arm} seed {seed}"
        for seed in declaration.get("seeds", [])
        for arm in declaration.get("arms", {})
        if (arm, seed) not in finished
    ]


def build_report_from(folder: str | Path, out_dir: str | Path | None = None, **options) -> dict[str, Path]:
    """The report of a bundle, from the bundle alone (default: its `report/` folder). `options` as
    `reports.build.render_report`'s (arm_order, reference, primary, detect, ...); the declared arm
    order, primary metric and declared comparisons default to the manifest's."""
    from reports.build import drift_frame_of, render_report
    from reports.tables import parse_comparisons

    runs, samples, manifest = read_bundle(folder)
    declaration = manifest.get("declaration") or {}
    options.setdefault("arm_order", manifest.get("arm_order"))
    options.setdefault("primary", manifest.get("primary"))
    options.setdefault(
        "comparisons",
        parse_comparisons(declaration.get("comparisons") or [], list(declaration.get("arms", {}))),
    )
    options.setdefault("missing", missing_units(manifest))
    done = sum(u["status"] == FINISHED for u in manifest["units"])
    return render_report(
        manifest["experiment"], out_dir or Path(folder) / "report", runs, samples, drift_frame_of(samples),
        source=f"Results bundle of {done} finished unit(s)", built="", **options,
    )  # fmt: skip
