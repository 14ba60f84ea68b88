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
        notes.md        the reading of the results, in words (optional; written by hand)

Bundles arrive in pull requests, so every command reads one through `read_manifest` / `read_tables` /
`read_bundle`, which refuse (BundleError, one line) before any other work: a symbolic link or anything
but a regular file inside the folder, a file over its size cap, a manifest that is not the schema
below or names that break the identifier rule (reports/identifiers.py), and tables whose sha256 differs
from the `digests` the manifest records (a score edited by hand is caught, not reported); the manifest
records the digest of its own content too (`digests["manifest.json"]`: everything but `digests`), so a
final score kept in it (`units[].scores`) is caught as well.

Written whole: each file goes to a temporary name in the bundle folder (WRITING), is flushed to disk
and renamed into place, the tables first and the manifest last, while the writer holds an exclusive
lock (flock) on the folder; readers hold a shared lock on it while they read the manifest and the
tables, so they see one bundle, old or new, never a mix. A writer killed part-way leaves the old
bundle readable, and temporary files that the next writer removes.

Deterministic: the same results give the same bytes (rows and keys sorted, values written with
FLOAT_FORMAT, no timestamps in the tables or the report), so a git diff of a bundle shows what
changed. `write_bundle` and `read_bundle` are inverse: the frames read back are the frames written.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from reports.escape import PROSE_FIELDS, markup_in
from reports.frames import (  # noqa: F401 (BundleError: raised and caught as reports.bundle.BundleError too)
    FINISHED,
    REFERENCE_ROLE,
    RUN_COLUMNS,
    RUN_LEVEL,
    SAMPLE_FRAME_COLUMNS,
    VIDEO_LEVEL,
    WINDOW_LEVEL,
    BundleError,
    frame,
    split_score_key,
)
from reports.identifiers import is_name, parsed_time

BUNDLE_VERSION = 1
FLOAT_FORMAT = "%.9g"  # nine significant digits: float32 scores exactly, float64 to ~1e-9
CURVE_POINTS = 200
SCORE_COLUMNS = ["arm", "seed", "track", "sample", "level", "window", "metric", "value"]
CURVE_COLUMNS = ["arm", "seed", "key", "step", "value"]
# What a unit's manifest entry keeps of its run (the rest of the runs frame is derived or per store).
UNIT_FIELDS = (
    "arm", "seed", "role", "trained", "status", "variant", "preset", "git_commit", "seconds_per_clip",
    "backends", "skipped_videos", "run_id", "finished_at",
)  # fmt: skip


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
    score_cols = [c for c in runs.columns if split_score_key(c)]
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
    """A bundle's manifest and tables as written, checked (`read_manifest`, `check_tables`)."""
    folder = Path(folder)
    with reading(check_files(folder)) if folder.is_dir() else contextlib.nullcontext():
        return _read_tables(folder)


def _read_tables(folder: Path) -> KeptTables:
    manifest = read_manifest(folder)
    scores = _read_csv(folder / "scores.csv", SCORE_COLUMNS, {"arm": str, "track": str, "sample": str,
                       "level": str, "metric": str})  # fmt: skip
    scores["seed"] = scores["seed"].astype("Int64")
    scores["window"] = scores["window"].astype("Int64")
    curves_file = folder / "curves.csv"
    curves = (
        _read_csv(curves_file, CURVE_COLUMNS, {"arm": str, "key": str})
        if curves_file.is_file()
        else pd.DataFrame(columns=CURVE_COLUMNS)
    )
    check_tables(folder, manifest, scores, curves)
    return KeptTables(manifest, scores, curves)


def _read_csv(path: Path, columns: list[str], dtype: dict) -> pd.DataFrame:
    """A bundle table with exactly `columns`, else a BundleError naming what is missing or extra."""
    try:
        table = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise BundleError(f"{path} is not a readable table: {str(e).splitlines()[0][:200]}") from None
    if list(table.columns) != columns:
        missing = [c for c in columns if c not in table.columns]
        extra = [c for c in table.columns if c not in columns]
        raise BundleError(
            f"{path} must have the columns {', '.join(columns)}"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unexpected: {', '.join(map(str, extra))[:200]}" if extra else "")
        )
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
    units: list[dict] | None = None,
) -> dict[str, Path]:
    """Write the bundle's tables (manifest.json, scores.csv, curves.csv) into `folder`. `extra`: more
    manifest fields (`harness export`: the units' configurations and stage records). `keep`: a bundle's
    tables (`read_tables`) whose units `runs` does not hold are kept beside them (a continued run). `units`: the manifest's unit entries as recorded elsewhere (an imported bundle's),
    instead of `units_of(runs)`."""
    folder = Path(folder)
    with writing(folder):
        return _write_bundle(folder, experiment, runs, samples, curves, extra, keep, units)


def _write_bundle(folder, experiment, runs, samples, curves, extra, keep, units) -> dict[str, Path]:
    units, extra = (units_of(runs) if units is None else _sorted_units(units)), dict(extra or {})
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
    tables = {"scores.csv": scores}
    if curves is not None:
        tables["curves.csv"] = thin_curves(curves)
    staged = {
        name: _staged(folder / name, lambda tmp, t=table: t.to_csv(tmp, index=False, float_format=FLOAT_FORMAT,
                                                                   lineterminator="\n"))
        for name, table in tables.items()
    }  # fmt: skip
    _commit(folder, manifest, staged)
    return {name: folder / name for name in ("manifest.json", *tables)}


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
    """Write a bundle's manifest.json whole (deterministic bytes, as `write_bundle` does), with the
    sha256 of each of DIGESTED_TABLES the folder holds now and of its own content under `digests`."""
    folder = Path(folder)
    with writing(folder):
        _commit(folder, manifest, {})


def content_digest(manifest: dict) -> str:
    """The sha256 of a manifest's content less its `digests`, as written (canonical JSON, `_dump`)."""
    body = {k: v for k, v in manifest.items() if k != "digests"}
    return "sha256:" + hashlib.sha256(_dump(body).encode()).hexdigest()


def _commit(folder: Path, manifest: dict, staged: dict[str, Path]) -> None:
    """Put the staged tables (name -> temporary file) in place, then the manifest recording their
    digests and its own: each renamed over the old file, the manifest last, the folder synced."""
    digests = {name: file_digest(staged.get(name, folder / name)) for name in DIGESTED_TABLES
               if name in staged or (folder / name).is_file()}  # fmt: skip
    manifest = {k: v for k, v in manifest.items() if k != "digests"}
    digests[MANIFEST_DIGEST] = content_digest(manifest)
    text = _dump({**manifest, "digests": digests})
    staged_manifest = _staged(folder / "manifest.json", lambda tmp: Path(tmp).write_text(text))
    for name, tmp in staged.items():
        os.replace(tmp, folder / name)
    os.replace(staged_manifest, folder / "manifest.json")
    _sync(folder)


# -- writing whole, reading one bundle at a time -----------------------------------------------------

WRITING = ".writing-"  # a file (or the report folder) being written: renamed into place once whole
_held = threading.local()  # folder -> the lock this thread holds on it


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _staged(path: Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` to a temporary name beside `path`, flushed to disk -> the temporary file."""
    tmp = path.with_name(WRITING + path.name)
    write(tmp)
    _sync(tmp)
    return tmp


@contextlib.contextmanager
def _locked(folder: Path, mode: int) -> Iterator[None]:
    """flock `mode` on the folder itself (no lock file: nothing is added to the bundle), re-entrant in
    this thread: a writer reads the bundle it holds."""
    held = _held.__dict__.setdefault("folders", {})
    key = os.path.realpath(folder)
    if key in held:
        if mode == fcntl.LOCK_EX and held[key] != fcntl.LOCK_EX:
            raise RuntimeError(f"{folder}: a reader of the bundle cannot write it (read, then write)")
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, mode)
        held[key] = mode
        try:
            yield
        finally:
            del held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def writing(folder: str | Path) -> Iterator[None]:
    """An exclusive lock on the bundle folder (made if missing) for the time a bundle is written or
    merged: other writers and readers wait. What a killed writer left half-written is removed first."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder, fcntl.LOCK_EX):
        for left in [*folder.glob(WRITING + "*"), *folder.glob(f"report/{WRITING}*")]:
            if left.is_dir() and not left.is_symlink():
                shutil.rmtree(left)
            else:
                left.unlink()
        yield


def reading(folder: str | Path):
    """A shared lock on the bundle folder while it is read: a writer's renames never land between the
    manifest and the tables a reader takes."""
    return _locked(Path(folder), fcntl.LOCK_SH)


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


# -- reading a bundle from anyone -------------------------------------------------------------------

DIGESTED_TABLES = ("scores.csv", "curves.csv")
MANIFEST_DIGEST = "manifest.json"  # `digests` key of the manifest's own content (less its digests)
MiB = 1 << 20
# Size caps, far above what a real bundle holds (mechanisms, 24 units: manifest 0.13 MB, scores 16 MB).
MAX_BYTES = {"manifest.json": 16 * MiB, "scores.csv": 512 * MiB, "curves.csv": 64 * MiB}
OTHER_MAX_BYTES = 64 * MiB  # any other file (notes, the report's tables and plots)
MAX_DEPTH = 2  # the bundle folder and its report/ folder
MAX_JSON_DEPTH = 32
UNIT_STATUSES = ("FINISHED", "FAILED", "KILLED", "RUNNING", "SCHEDULED")
MAX_SEED = 2**31 - 1
BACKEND_PATTERN = re.compile(r"[A-Za-z0-9_.+\-]{1,128}")  # e.g. toy-sync+fixed


def check_files(folder: str | Path) -> Path:
    """`folder` if it is a real folder holding only regular files (and real folders, at most
    MAX_DEPTH deep) within their size caps; else a BundleError naming the first offender. Symbolic
    links are refused, not followed: git stores them, and a write through one lands anywhere."""
    folder = Path(folder)
    if folder.is_symlink():
        raise BundleError(f"{folder} is a symbolic link: name the bundle folder itself")
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise BundleError(f"{folder} {what}: name a results bundle folder (e.g. results/ablation_eimg)")

    def walk(where: Path, depth: int) -> None:
        with os.scandir(where) as entries:
            for entry in entries:
                path = Path(entry.path)
                if entry.is_symlink():
                    raise BundleError(f"{path} is a symbolic link: a results bundle holds regular files only")
                if entry.is_dir(follow_symlinks=False):
                    if depth >= MAX_DEPTH:
                        raise BundleError(f"{path}: a results bundle has no folders below report/")
                    walk(path, depth + 1)
                elif not entry.is_file(follow_symlinks=False):
                    raise BundleError(
                        f"{path} is not a regular file: a results bundle holds regular files only"
                    )
                else:
                    name = entry.name.removeprefix(WRITING)  # a file being written: its own cap
                    cap = MAX_BYTES.get(name, OTHER_MAX_BYTES) if depth == 1 else OTHER_MAX_BYTES
                    size = entry.stat(follow_symlinks=False).st_size
                    if size > cap:
                        raise BundleError(
                            f"{path} is {size / MiB:.1f} MiB, over the {cap / MiB:.0f} MiB a bundle file may "
                            "hold: this is not a bundle the harness wrote"
                        )

    walk(folder, 1)
    return folder


def _depth(value, limit: int = MAX_JSON_DEPTH, at: int = 0) -> int:
    if at > limit:
        return at
    if isinstance(value, dict):
        return max([_depth(v, limit, at + 1) for v in value.values()], default=at)
    if isinstance(value, list):
        return max([_depth(v, limit, at + 1) for v in value], default=at)
    return at


def _problem(where: str, what: str) -> BundleError:
    return BundleError(f"{where}: {what}")


def _check_name(value, where: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not is_name(value):
        shown = repr(value)[:80]
        raise _problem(
            where, f"{shown} is not a name (letters, digits, '_', '-', '.'; see harness plan --help)"
        )


def _check_seed(value, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise _problem(where, f"seed {str(value)[:40]!r} is not an integer in [0, {MAX_SEED}]")


def _check_number(value, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _problem(where, f"{str(value)[:40]!r} is not a finite number")


def _check_time(value, where: str) -> None:
    """A time the harness wrote: ISO 8601 with its UTC offset (`finished_at`)."""
    if parsed_time(value) is None:
        raise _problem(where, f"{str(value)[:40]!r} is not an ISO 8601 time with a UTC offset")


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise _problem(where, f"must be a JSON object, not {type(value).__name__}")
    return value


def check_manifest(manifest, path: str | Path) -> dict:
    """`manifest` if it has the bundle schema and every name in it is an identifier; else a BundleError
    naming the field. What is checked is what reaches a path, a table cell, a run or a hash; then that no
    string anywhere in it but its prose (PROSE_FIELDS) holds what could start markup on a page
    (`escape.markup_in`), whatever field it is in."""
    where = str(path)
    manifest = _mapping(manifest, where)
    if manifest.get("bundle_version") != BUNDLE_VERSION:
        raise BundleError(
            f"{where} is bundle version {str(manifest.get('bundle_version'))[:20]}; this harness reads {BUNDLE_VERSION}"
        )
    _check_name(manifest.get("experiment"), f"{where}: experiment")
    units = manifest.get("units")
    if not isinstance(units, list):
        raise _problem(where, "units must be a list of (arm, seed) entries")
    seen = set()
    for i, unit in enumerate(units):
        at = f"{where}: units[{i}]"
        _mapping(unit, at)
        _check_name(unit.get("arm"), f"{at}.arm")
        _check_seed(unit.get("seed"), f"{at}.seed")
        if unit.get("status") not in UNIT_STATUSES:
            raise _problem(
                f"{at}.status", f"{str(unit.get('status'))[:40]!r} is not one of {', '.join(UNIT_STATUSES)}"
            )
        for field in ("role", "variant", "preset", "run_id", "git_commit"):
            _check_name(unit.get(field), f"{at}.{field}", optional=True)
        key = unit_key(unit["arm"], unit.get("seed"))
        if key in seen:
            raise _problem(at, f"unit {key} appears twice")
        seen.add(key)
        for name, value in _mapping(unit.get("scores") or {}, f"{at}.scores").items():
            for part in name.split("/"):
                _check_name(part, f"{at}.scores key {name[:80]!r}")
            _check_number(value, f"{at}.scores.{name}")
        if unit.get("seconds_per_clip") is not None:
            _check_number(unit["seconds_per_clip"], f"{at}.seconds_per_clip")
        if unit.get("finished_at") is not None:
            _check_time(unit["finished_at"], f"{at}.finished_at")
        for track, names in _mapping(unit.get("skipped_videos") or {}, f"{at}.skipped_videos").items():
            _check_name(track, f"{at}.skipped_videos")
            for name in names if isinstance(names, list) else [names]:
                _check_name(name, f"{at}.skipped_videos.{track}")
        for metric, backend in _mapping(unit.get("backends") or {}, f"{at}.backends").items():
            _check_name(metric, f"{at}.backends")
            if not (isinstance(backend, str) and BACKEND_PATTERN.fullmatch(backend)):
                raise _problem(f"{at}.backends.{metric}", f"{str(backend)[:40]!r} is not a backend name")
    for name in manifest.get("arm_order") or []:
        _check_name(name, f"{where}: arm_order")
    _check_name(manifest.get("primary"), f"{where}: primary", optional=True)
    for field in UNIT_MAPS:
        for key, value in _mapping(manifest.get(field) or {}, f"{where}: {field}").items():
            arm, _, seed = key.rpartition("/seed")
            _check_name(arm, f"{where}: {field} key")
            if not seed.isdigit():
                raise _problem(f"{where}: {field}", f"{key[:80]!r} is not a unit key <arm>/seed<k>")
            if field == "plan_hashes" and not (
                isinstance(value, str) and value.isalnum() and len(value) <= 64
            ):
                raise _problem(f"{where}: plan_hashes.{key}", "is not a plan hash")
    declaration = _mapping(manifest.get("declaration") or {}, f"{where}: declaration")
    for arm in _mapping(declaration.get("arms") or {}, f"{where}: declaration.arms"):
        _check_name(arm, f"{where}: declaration.arms")
    for arm in _mapping(manifest.get("arms") or {}, f"{where}: arms"):
        _check_name(arm, f"{where}: arms")
    seeds = declaration.get("seeds") or []
    if not isinstance(seeds, list) or len(seeds) > 10_000:
        raise _problem(f"{where}: declaration.seeds", "must be a list of at most 10000 seeds")
    for seed in seeds:
        _check_seed(seed, f"{where}: declaration.seeds")
    for name, digest in _mapping(manifest.get("digests") or {}, f"{where}: digests").items():
        if name not in (*DIGESTED_TABLES, MANIFEST_DIGEST) or not isinstance(digest, str):
            raise _problem(f"{where}: digests", f"{name[:80]!r} is not a digested table")
    found = markup_in(manifest, PROSE_FIELDS)
    if found:
        raise _problem(
            where,
            f"{found[:160]}: a bundle's names and settings are plain text (no < > [ ] {{ }} or line breaks; "
            "prose belongs in the description or notes.md). Restore the manifest or re-export the bundle",
        )
    return manifest


def read_manifest(folder: str | Path) -> dict:
    """A bundle's manifest, checked: the folder (`check_files`), the JSON, the schema
    (`check_manifest`), the digest of its content. Any failure is a BundleError saying what is wrong."""
    path = Path(folder) / "manifest.json"
    if Path(folder).is_dir() and not path.exists() and not path.is_symlink():
        raise BundleError(
            f"{folder} is not a results bundle: it has no manifest.json (harness export writes one)"
        )
    folder = check_files(folder)
    if not path.is_file():
        raise BundleError(f"{path} is not a regular file: this is not a bundle the harness wrote")
    with reading(folder):
        text = path.read_bytes()
    try:
        manifest = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BundleError(
            f"{path} is not valid JSON ({type(e).__name__}): this is not a bundle the harness wrote"
        ) from None
    if _depth(manifest) > MAX_JSON_DEPTH:
        raise BundleError(
            f"{path} nests deeper than {MAX_JSON_DEPTH} levels: this is not a bundle the harness wrote"
        )
    manifest = check_manifest(manifest, path)
    recorded = (manifest.get("digests") or {}).get(MANIFEST_DIGEST)
    if recorded is None:
        raise BundleError(
            f"{path} records no digest of its own content, so an edited score in it could not be told from "
            "the results; re-export the bundle with this harness (harness export, harness run --from)"
        )
    if recorded != content_digest(manifest):
        raise BundleError(
            f"{path} differs from the digest it records of its content: it was changed after it was "
            "written. Restore it (git checkout) or re-export the bundle from its runs"
        )
    return manifest


def check_tables(folder: Path, manifest: dict, scores: pd.DataFrame, curves: pd.DataFrame) -> None:
    """The tables' digests match the manifest's, and their names, levels, seeds and values are what a
    bundle holds; else a BundleError naming the file and the first offending value."""
    digests = manifest.get("digests") or {}
    for name in DIGESTED_TABLES:
        path = folder / name
        if not path.is_file():
            if name == "scores.csv":
                raise BundleError(f"{folder} is not a results bundle: it has no scores.csv")
            continue
        if name not in digests:
            raise BundleError(
                f"{path}: the manifest records no digest of it, so an edit could not be told from the "
                "results; re-export the bundle with this harness (harness export, harness run --from)"
            )
        if file_digest(path) != digests[name]:
            raise BundleError(
                f"{path} differs from the digest its manifest records: the table was changed after it "
                "was written. Restore it (git checkout) or re-export the bundle from its runs"
            )
    for table, file, name_columns in ((scores, "scores.csv", ("arm", "track", "sample", "metric")),
                                      (curves, "curves.csv", ("arm",))):  # fmt: skip
        for column in name_columns:
            for value in table[column].dropna().unique():
                _check_name(value, f"{folder / file}: column {column}")
        if table["seed"].isna().any() and file == "curves.csv":
            raise BundleError(f"{folder / file}: every curve row needs a seed")
        seeds = table["seed"].dropna()
        if len(seeds) and (seeds.min() < 0 or seeds.max() > MAX_SEED):
            raise BundleError(f"{folder / file}: a seed is outside [0, {MAX_SEED}]")
    for key in curves["key"].dropna().unique():
        for part in str(key).split("/"):
            _check_name(part, f"{folder / 'curves.csv'}: column key")
    levels = set(scores["level"].dropna().unique()) - {VIDEO_LEVEL, WINDOW_LEVEL}
    if levels or scores["level"].isna().any():
        raise BundleError(f"{folder / 'scores.csv'}: level must be {VIDEO_LEVEL} or {WINDOW_LEVEL}")
    if (scores["window"].dropna() < 0).any():
        raise BundleError(f"{folder / 'scores.csv'}: a window index is negative")
    for table, file in ((scores, "scores.csv"), (curves, "curves.csv")):
        values = pd.to_numeric(table["value"], errors="coerce")
        bad = table["value"].notna() & ~np.isfinite(values.fillna(0.0))
        bad |= values.isna() & table["value"].notna()
        if bad.any():
            row = bad.idxmax()
            raise BundleError(
                f"{folder / file}: row {row + 2} has value {str(table['value'][row])[:40]!r}, not a finite number"
            )
    units = {unit_key(u["arm"], u["seed"]) for u in manifest["units"]}
    for table, file in ((scores, "scores.csv"), (curves, "curves.csv")):
        units_seen = table[["arm", "seed"]].drop_duplicates()  # a few units, however many rows
        pairs = {unit_key(a, None if pd.isna(s) else int(s)) for a, s in units_seen.itertuples(index=False)}
        if pairs - units:
            raise BundleError(
                f"{folder / file} holds rows of {sorted(pairs - units)[0]}, a unit its manifest does not list"
            )


def read_bundle(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(runs, samples, manifest) of a bundle, as `load_runs` and `load_samples` would give them."""
    folder = Path(folder)
    tables = read_tables(folder)
    manifest = tables.manifest
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
    runs = frame(rows, RUN_COLUMNS)
    runs["seed"] = runs["seed"].astype("Int64")
    runs.attrs.update(experiment=manifest["experiment"], parent_run_id=None)
    table = tables.scores
    info = {(u["arm"], u["seed"]): u for u in manifest["units"]}
    per_clip = {(u["arm"], u["seed"]): u.get("seconds_per_clip") for u in manifest["units"]}
    # each row's unit facts, looked up once per unit (a bundle has a few units and 10^5 rows)
    units = table[["arm", "seed"]].drop_duplicates()
    facts = units.assign(
        role=[info[(a, s)]["role"] for a, s in units.itertuples(index=False)],
        run_id=[info[(a, s)]["run_id"] for a, s in units.itertuples(index=False)],
        status=[info[(a, s)]["status"] for a, s in units.itertuples(index=False)],
        per_clip=[float(per_clip[(a, s)] or math.nan) for a, s in units.itertuples(index=False)],
    )
    rows_facts = table[["arm", "seed"]].merge(facts, on=["arm", "seed"], how="left")  # the rows' order
    window = pd.to_numeric(table["window"]).astype("float64").to_numpy()
    samples = table.assign(
        role=rows_facts["role"].to_numpy(),
        run_id=rows_facts["run_id"].to_numpy(),
        status=rows_facts["status"].to_numpy(),
        seconds=(window + 1) * rows_facts["per_clip"].to_numpy(),  # NaN where the row has no window
    )
    finals = [  # each finished unit's final scores, the set value of a set-level metric (FVD)
        {"arm": u["arm"], "role": u["role"], "seed": u["seed"], "run_id": u["run_id"], "status": u["status"],
         "track": split_score_key(key)[0], "sample": None, "level": RUN_LEVEL, "window": None,
         "metric": split_score_key(key)[3], "value": float(value), "seconds": math.nan}
        for u in manifest["units"] if u["status"] == FINISHED for key, value in sorted(u.get("scores", {}).items())
    ]  # fmt: skip
    samples = pd.concat([pd.DataFrame(finals, columns=SAMPLE_FRAME_COLUMNS), samples[SAMPLE_FRAME_COLUMNS]])
    samples = samples.reset_index(drop=True)
    samples["seed"] = samples["seed"].astype("Int64")
    samples["window"] = pd.to_numeric(samples["window"]).astype("Int64")
    samples["value"] = samples["value"].astype(float)
    samples.attrs["without_samples"] = []
    return runs, samples, manifest


def unit_counts(manifest: dict) -> tuple[int, int, int]:
    """(the arms' finished units, the arms' declared units: arms x seeds, the reference units) of a
    bundle's manifest; the references (degenerate references and the rescoring pass, role
    REFERENCE_ROLE) are never counted among the arms' units."""
    declaration = manifest.get("declaration") or {}
    arms = [u for u in manifest["units"] if u.get("role") != REFERENCE_ROLE]
    declared = len(declaration.get("arms", {})) * len(declaration.get("seeds", []))
    return sum(u["status"] == FINISHED for u in arms), declared, len(manifest["units"]) - len(arms)


def missing_by_arm(manifest: dict) -> dict[str, list[int]]:
    """The declared (arm, seed) units (the manifest's declaration: arms x seeds) the bundle holds no
    finished run of: arm -> its missing seeds, arms in declared order."""
    declaration = manifest.get("declaration") or {}
    finished = {(u["arm"], u["seed"]) for u in manifest["units"] if u["status"] == FINISHED}
    out = {
        arm: [seed for seed in declaration.get("seeds", []) if (arm, seed) not in finished]
        for arm in declaration.get("arms", {})
    }
    return {arm: seeds for arm, seeds in out.items() if seeds}


def missing_units(manifest: dict) -> list[str]:
    """The missing units (`missing_by_arm`) as "<arm> seed <k>", seeds outermost as the harness runs them."""
    missing = missing_by_arm(manifest)
    seeds = (manifest.get("declaration") or {}).get("seeds", [])
    return [f"{arm} seed {seed}" for seed in seeds for arm, theirs in missing.items() if seed in theirs]


def missing_text(manifest: dict) -> str:
    """The missing units in few words: "arms A, B x seeds 0, 1" where every missing arm lacks the same
    seeds, else "A seeds 0, 1; B seed 2"."""
    missing = missing_by_arm(manifest)
    seed_sets = {tuple(s) for s in missing.values()}
    if len(seed_sets) == 1:
        (seeds,) = seed_sets
        return f"arm(s) {', '.join(missing)} × seed(s) {', '.join(map(str, seeds))}"
    return "; ".join(f"{arm} seed(s) {', '.join(map(str, s))}" for arm, s in missing.items())


def build_report_from(
    folder: str | Path, out_dir: str | Path | None = None, registration_check=None, **options
) -> dict[str, Path]:
    """The report of a bundle, from the bundle alone (default: its `report/` folder). `options` as
    `reports.build.render_report`'s (arm_order, reference, primary, detect, ...); the declared arm
    order, primary metric and declared comparisons default to the manifest's. The hypotheses are labelled
    pre-registered only where `reports.registration.status` says so, with `registration_check` (a
    function of the folder -> (ok, what it found): the harness's git check) on top."""
    from reports.build import drift_frame_of, render_report
    from reports.registration import manifest_copy, status
    from reports.tables import parse_comparisons

    runs, samples, manifest = read_bundle(folder)
    declaration = manifest.get("declaration") or {}
    options.setdefault("arm_order", manifest.get("arm_order"))
    options.setdefault("primary", manifest.get("primary"))
    arms = list(declaration.get("arms", {}))
    hypotheses = declaration.get("hypotheses") or []
    try:
        if not isinstance(hypotheses, list) or not all(isinstance(h, dict) for h in hypotheses):
            raise ValueError(f"hypotheses is a {type(hypotheses).__name__}, not a list of mappings")
        declared = parse_comparisons(declaration.get("comparisons") or [], arms)
        registered = parse_comparisons(
            list(dict.fromkeys(str(h.get("comparison")) for h in hypotheses)), arms
        )
    except ValueError as e:
        raise BundleError(f"{Path(folder) / 'manifest.json'}: its declaration: {e}") from None
    options.setdefault("comparisons", declared + [p for p in registered if p not in declared])
    options.setdefault("guards", list(declaration.get("guards") or []))
    found = status(folder, manifest, registration_check)  # a pre-registered experiment, or not
    if found.registered:
        options.setdefault(
            "registration", {**manifest_copy(found.registration), "versions_now": manifest.get("versions")}
        )
    elif found.why:
        options.setdefault("not_registered", found.why)
    options.setdefault("missing", missing_units(manifest))
    done = unit_counts(manifest)[0]

    def render(where: Path) -> dict[str, Path]:
        return render_report(
            manifest["experiment"], where, runs, samples, drift_frame_of(samples),
            source=f"Results bundle of {done} finished unit(s)", built="", **options,
        )  # fmt: skip

    if out_dir is not None:
        return render(Path(out_dir))
    with writing(folder):  # the bundle's own report/: built aside, each file renamed into place
        staging, report = Path(folder) / (WRITING + "report"), Path(folder) / "report"
        files = render(staging)
        report.mkdir(exist_ok=True)
        out = {}
        for name, path in files.items():
            _sync(path)
            out[name] = report / path.relative_to(staging)
            os.replace(path, out[name])
        shutil.rmtree(staging)
        _sync(report)
        return out
