"""Results bundles: an experiment's results as small committed files, from which its report is rebuilt
with no tracking store and no torch.

    results/<experiment>/
        manifest.json   the experiment and, per (arm, seed) unit, what the report needs of its run (role,
                        trained, status, variant, preset, commit, metric backends, videos left out,
                        seconds per clip, final scores) and what `harness export` adds (each unit's
                        resolved configuration, stage hashes, backbone record, host, stage times)
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
    return sorted(
        out, key=lambda u: (str(u["arm"]), -1 if u["seed"] is None else u["seed"], str(u["run_id"]))
    )


def scores_table(samples: pd.DataFrame) -> pd.DataFrame:
    """The tidy score table of a samples frame (`load_samples`): per-video and per-window rows, sorted."""
    rows = samples[samples["level"].isin([VIDEO_LEVEL, WINDOW_LEVEL])]
    table = rows[["arm", "seed", "track", "sample", "level", "window", "metric", "value"]].copy()
    table["seed"] = table["seed"].astype("Int64")
    table["window"] = pd.to_numeric(table["window"], errors="coerce").astype("Int64")
    return table.sort_values(
        ["arm", "seed", "track", "sample", "level", "window", "metric"], na_position="first"
    )


def write_bundle(
    folder: str | Path,
    experiment: str,
    runs: pd.DataFrame,
    samples: pd.DataFrame,
    *,
    curves: pd.DataFrame | None = None,
    extra: dict | None = None,
) -> dict[str, Path]:
    """Write the bundle's tables (manifest.json, scores.csv, curves.csv) into `folder`. `extra`: more
    manifest fields (`harness export`: the units' configurations and stage records)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {
        "bundle_version": BUNDLE_VERSION,
        "experiment": experiment,
        "units": units_of(runs),
        **(extra or {}),
    }
    files = {"manifest.json": folder / "manifest.json", "scores.csv": folder / "scores.csv"}
    files["manifest.json"].write_text(_dump(manifest))
    scores_table(samples).to_csv(
        files["scores.csv"], index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
    )
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
    return pd.concat(parts)[CURVE_COLUMNS] if parts else pd.DataFrame(columns=CURVE_COLUMNS)


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
        rec["seconds_per_clip"] = math.nan if rec["seconds_per_clip"] is None else rec["seconds_per_clip"]
        rows.append({**rec, **unit.get("scores", {})})
    runs = _frame(rows, RUN_COLUMNS)
    runs["seed"] = runs["seed"].astype("Int64")
    runs.attrs.update(experiment=manifest["experiment"], parent_run_id=None)
    table = pd.read_csv(
        folder / "scores.csv", dtype={"arm": str, "track": str, "sample": str, "level": str, "metric": str},
        keep_default_na=False, na_values=[""],
    )  # fmt: skip
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


def build_report_from(folder: str | Path, out_dir: str | Path | None = None, **options) -> dict[str, Path]:
    """The report of a bundle, from the bundle alone (default: its `report/` folder). `options` as
    `reports.build.render_report`'s (arm_order, reference, primary, detect, ...); the declared arm
    order and primary metric default to the manifest's."""
    from reports.build import drift_frame_of, render_report

    runs, samples, manifest = read_bundle(folder)
    options.setdefault("arm_order", manifest.get("arm_order"))
    options.setdefault("primary", manifest.get("primary"))
    done = sum(u["status"] == FINISHED for u in manifest["units"])
    return render_report(
        manifest["experiment"], out_dir or Path(folder) / "report", runs, samples, drift_frame_of(samples),
        source=f"Results bundle of {done} finished unit(s)", built="", **options,
    )  # fmt: skip
