"""Read the harness's MLflow runs into the frames the reports read (reports/frames.py), and build a
report or a sweep report from the store (`harness report`, the end of `harness run`).

The key names are harness/tracking/keys.py's, which the writer uses too:
    experiment  named like the declared experiment (or the sweep)
    parent run  tag role=parent (role=sweep for a sweep, with sweep.searched); children carry tag
                mlflow.parentRunId
    child run   tags arm, seed, role (baseline | arm), variant, preset, git_commit, trial (sweeps),
                metric_backend.<metric>; param seconds_per_clip; status FINISHED / FAILED / ...
    metrics     final scores `<suite>_<length>/<metric>`, drift curves `drift/<suite>_<length>/<metric>`
                with step = clip index, and on sweep trials `objective` and `probe/<metric>` (the
                drift of a probe rollout, step = training step)
    sweep trial tags trial, trial_state (Optuna's); a pruned trial's run is KILLED with tags
                pruned=true, pruned_step, pruned_value
    tables      scores/<track>/samples.json per track (MlflowClient.log_table, listed in the run's
                mlflow.loggedArtifacts tag): per-sample and per-window scores, what the reports'
                intervals are computed from
Values stay on the scale they were logged on (VBench 0-1); tables scale for display.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from harness.tracking.keys import (
    BACKEND_PREFIX,
    DRIFT_PREFIX,
    OBJECTIVE,
    PARENT_TAG,
    PROBE_PREFIX,
    SAMPLE_COLUMNS,
    SAMPLES_FILE,
    SEARCHED_TAG,
    SECONDS_PER_CLIP,
    SKIPPED_VIDEOS_PREFIX,
    TIME_PREFIX,
    TRAINED_TAG,
    WINDOW_LEVEL,
)
from reports.build import drift_frame_of, render_report, render_sweep_report
from reports.frames import (
    FINISHED,
    RUN_COLUMNS,
    RUN_LEVEL,
    SAMPLE_FRAME_COLUMNS,
    ReportError,
    frame,
    split_score_key,
)

LOGGED_TABLES_TAG = "mlflow.loggedArtifacts"  # MLflow's own tag: the tables log_table wrote


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The given URI, else MLFLOW_TRACKING_URI, else the workspace's SQLite file (as the harness does)."""
    if tracking_uri:
        return tracking_uri
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    home = Path(os.environ.get("HARNESS_HOME", "workspace")).resolve()
    return f"sqlite:///{home / 'mlflow.db'}"


def client_for(tracking_uri: str | None = None) -> tuple[MlflowClient, str]:
    uri = resolve_tracking_uri(tracking_uri)
    if uri.startswith("sqlite:///"):
        # Opening a missing SQLite file would silently create an empty store; say where it was looked for.
        path = Path(uri[len("sqlite:///") :].split("?", 1)[0])
        if not path.is_file():
            raise ReportError(
                f"no MLflow store at {path}; run an experiment first (`harness run ...`), set HARNESS_HOME "
                "to the workspace that holds mlflow.db, or pass the tracking URI (MLFLOW_TRACKING_URI)"
            )
    return MlflowClient(tracking_uri=uri), uri


def _search_all(client: MlflowClient, experiment_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=1000, page_token=token, order_by=["attributes.start_time DESC"]
        )
        runs += list(page)
        token = page.token
        if not token:
            return runs


def load_children(
    experiment: str,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    parent_role: str = "parent",
) -> tuple[MlflowClient, Run | None, list[Run]]:
    """The child runs of one parent run: `parent_run_id`, or the latest `role=<parent_role>` run with children."""
    client, uri = client_for(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        known = sorted(e.name for e in client.search_experiments())
        raise ReportError(
            f"MLflow experiment {experiment!r} does not exist at {uri}; known experiments: "
            f"{', '.join(known) or '(none)'}. Run it first (`harness run {experiment}`) or check the name "
            "and the tracking URI."
        )
    runs = _search_all(client, exp.experiment_id)
    if not runs:
        raise ReportError(
            f"MLflow experiment {experiment!r} at {uri} has no runs; run it first (`harness run {experiment}`)."
        )
    by_id = {r.info.run_id: r for r in runs}
    children: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        pid = r.data.tags.get(PARENT_TAG)
        if pid:
            children[pid].append(r)
    if parent_run_id is not None:
        if not children.get(parent_run_id):
            raise ReportError(
                f"run {parent_run_id!r} has no child runs in MLflow experiment {experiment!r}; parent runs "
                f"with children: {', '.join(children) or '(none)'}"
            )
        kids = children[parent_run_id]
        parent = by_id.get(parent_run_id)
    else:
        # runs are newest first, so the first parent with children is the latest invocation
        parent = next(
            (r for r in runs if r.data.tags.get("role") == parent_role and children.get(r.info.run_id)), None
        )
        if parent is None:
            raise ReportError(
                f"MLflow experiment {experiment!r} has {len(runs)} run(s) but no parent run "
                f"(tag role={parent_role}) with child runs; run it through the harness, or pass "
                "parent_run_id to choose the runs."
            )
        kids = children[parent.info.run_id]
    kids = sorted(kids, key=lambda r: r.info.start_time or 0)
    return client, parent, kids


def _float_param(run: Run, key: str) -> float:
    try:
        return float(run.data.params[key])
    except (KeyError, ValueError):
        return float("nan")


def finished_at(end_time_ms: int | None) -> str | None:
    """A run's end time (MLflow's milliseconds since the epoch) as the manifest records a unit's finish:
    ISO 8601 in UTC to the second, or None where the store has none."""
    if not end_time_ms:
        return None
    return dt.datetime.fromtimestamp(end_time_ms // 1000, dt.timezone.utc).isoformat()


def _int_tag(run: Run, key: str) -> int | None:
    try:
        return int(run.data.tags[key])
    except (KeyError, ValueError):
        return None


def _run_row(run: Run) -> dict:
    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "parent_run_id": tags.get(PARENT_TAG),
        "run_name": run.info.run_name,
        "arm": tags.get("arm", run.info.run_name),
        "seed": _int_tag(run, "seed"),
        "role": tags.get("role", "arm"),
        "status": run.info.status,
        "variant": tags.get("variant"),
        "preset": tags.get("preset"),
        "trained": {"true": True, "false": False}.get(
            tags.get(TRAINED_TAG, "")
        ),  # None: logged before the tag
        "git_commit": tags.get("git_commit"),
        "start_time": pd.to_datetime(run.info.start_time, unit="ms") if run.info.start_time else pd.NaT,
        "finished_at": finished_at(run.info.end_time) if run.info.status == FINISHED else None,
        "seconds": (run.info.end_time - run.info.start_time) / 1000
        if run.info.end_time and run.info.start_time
        else None,  # the run's wall time, start to end
        "seconds_per_clip": _float_param(run, SECONDS_PER_CLIP),
        "backends": {k[len(BACKEND_PREFIX) :]: v for k, v in tags.items() if k.startswith(BACKEND_PREFIX)},
        "skipped_videos": {
            k[len(SKIPPED_VIDEOS_PREFIX) :]: v.split(",")
            for k, v in tags.items()
            if k.startswith(SKIPPED_VIDEOS_PREFIX)
        },
        # wall seconds per stage (harness/base/clock.py), empty for runs logged before they were measured
        "stage_seconds": {
            k[len(TIME_PREFIX) :]: v for k, v in run.data.metrics.items() if k.startswith(TIME_PREFIX)
        },
    }


def load_runs(
    experiment: str, tracking_uri: str | None = None, parent_run_id: str | None = None
) -> pd.DataFrame:
    """One row per child run of an experiment invocation.

    Columns: run_id, parent_run_id, run_name, arm, seed (Int64), role, status, variant, preset,
    git_commit, start_time, seconds_per_clip (NaN when not logged), backends (dict metric -> backend),
    then one column per final score `<suite>_<length>/<metric>` (NaN where a run lacks it). Runs of
    every status are included: callers average FINISHED runs only.
    """
    _, parent, kids = load_children(experiment, tracking_uri, parent_run_id)
    rows = []
    for run in kids:
        row = _run_row(run)
        row.update({k: v for k, v in run.data.metrics.items() if split_score_key(k)})
        rows.append(row)
    df = frame(rows, RUN_COLUMNS)
    df["seed"] = df["seed"].astype("Int64")
    df.attrs.update(
        experiment=experiment, parent_run_id=parent.info.run_id if parent else kids[0].data.tags[PARENT_TAG]
    )
    return df


def load_drift(
    experiment: str,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    finished_only: bool = True,
) -> pd.DataFrame:
    """Drift curves in long format, one row per (run, track, metric, clip).

    Columns: run_id, arm, seed, role, status, suite (the track, e.g. 'consistent_50s'), metric, clip,
    value, seconds. `seconds` is the video generated up to the end of that clip,
    (clip + 1) * seconds_per_clip, NaN when the run has no seconds_per_clip param.
    """
    client, _, kids = load_children(experiment, tracking_uri, parent_run_id)
    rows = []
    for run in kids:
        if finished_only and run.info.status != FINISHED:
            continue
        info = _run_row(run)
        for key in sorted(k for k in run.data.metrics if k.startswith(DRIFT_PREFIX)):
            parts = split_score_key(key[len(DRIFT_PREFIX) :])
            if parts is None:
                continue
            track, _, _, metric = parts
            for m in client.get_metric_history(run.info.run_id, key):
                rows.append(
                    {
                        "run_id": info["run_id"],
                        "arm": info["arm"],
                        "seed": info["seed"],
                        "role": info["role"],
                        "status": info["status"],
                        "suite": track,
                        "metric": metric,
                        "clip": int(m.step),
                        "value": float(m.value),
                        "seconds": (m.step + 1) * info["seconds_per_clip"],
                    }
                )
    cols = ["run_id", "arm", "seed", "role", "status", "suite", "metric", "clip", "value", "seconds"]
    df = pd.DataFrame(rows, columns=cols)
    df["seed"] = df["seed"].astype("Int64")
    # a metric logged twice at one step (a resumed run) keeps its last value
    return df.drop_duplicates(["run_id", "suite", "metric", "clip"], keep="last").reset_index(drop=True)


def _table_paths(run: Run) -> list[str]:
    """The per-sample tables a run logged (`scores/<track>/samples.json`), from log_table's tag."""
    try:
        logged = json.loads(run.data.tags.get(LOGGED_TABLES_TAG, "[]"))
    except json.JSONDecodeError:
        return []
    paths = [e.get("path", "") for e in logged if isinstance(e, dict) and e.get("type") == "table"]
    return sorted(p for p in paths if p.startswith("scores/") and p.endswith("/" + SAMPLES_FILE))


@contextlib.contextmanager
def _quiet_downloads():
    """No MLflow progress bar per downloaded table (one line per run would bury the report's output)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _read_table(client: MlflowClient, run_id: str, path: str) -> pd.DataFrame:
    """One logged table (pandas 'split' JSON). Read by hand so sample names such as '0001' stay text."""
    with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
        local = client.download_artifacts(run_id, path, tmp)
        with open(local, encoding="utf-8") as f:
            data = json.load(f)
    return pd.DataFrame(data["data"], columns=data["columns"])


def _long_rows(table: pd.DataFrame, info: dict) -> pd.DataFrame:
    """A wide per-sample table (a column per metric) -> long rows in SAMPLE_FRAME_COLUMNS."""
    metrics = [c for c in table.columns if c not in SAMPLE_COLUMNS]
    long = table.melt(
        id_vars=["track", "sample", "seed", "level", "window"], value_vars=metrics, var_name="metric"
    )
    seed = info["seed"] if info["seed"] is not None else long["seed"]
    seconds = (pd.to_numeric(long["window"]) + 1) * info["seconds_per_clip"]
    long = long.assign(
        arm=info["arm"],
        role=info["role"],
        seed=seed,
        run_id=info["run_id"],
        status=info["status"],
        sample=long["sample"].astype(str),
        value=pd.to_numeric(long["value"], errors="coerce"),
        seconds=seconds.where(long["level"] == WINDOW_LEVEL),
    )[SAMPLE_FRAME_COLUMNS]
    # windows without a value (metrics with no drift curve) are dropped; videos without one are kept:
    # they tell a set-level metric (FVD: a table, no per-video value) from a run without a table
    return long[(long["level"] != WINDOW_LEVEL) | long["value"].notna()]


def load_samples(
    experiment: str,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    finished_only: bool = True,
) -> pd.DataFrame:
    """Every score of an experiment invocation in long format, one row per value.

    Columns: arm, role, seed (Int64), run_id, status, track, sample (the video's stem), level, window
    (Int64), metric, value, seconds. Levels: 'video' (one sample's score), 'window' (its score over
    one window, the drift curve; `seconds` = (window + 1) * seconds_per_clip, NaN without that
    param), and 'run' (the run's logged final score, the set value; sample and window empty).
    Rows come from the runs' per-sample tables (`scores/<track>/samples.json`); a run logged before
    those tables existed has only its 'run' rows, and its run id is listed in
    `df.attrs["without_samples"]` so the report can say why it has no interval.
    """
    client, _, kids = load_children(experiment, tracking_uri, parent_run_id)
    return samples_of(client, kids, finished_only)


def samples_of(client: MlflowClient, runs: list[Run], finished_only: bool = True) -> pd.DataFrame:
    """`load_samples`' frame of these runs (a parent's children, or some of them)."""
    parts, without = [], []
    for run in runs:
        if finished_only and run.info.status != FINISHED:
            continue
        info = _run_row(run)
        scores = [(split_score_key(k), v) for k, v in run.data.metrics.items() if split_score_key(k)]
        finals = pd.DataFrame(
            [
                {"track": p[0], "sample": None, "seed": info["seed"], "level": RUN_LEVEL, "window": None}
                | {"metric": p[3], "value": v}
                for p, v in scores
            ],
            columns=["track", "sample", "seed", "level", "window", "metric", "value"],
        )
        parts.append(
            finals.assign(
                arm=info["arm"],
                role=info["role"],
                run_id=info["run_id"],
                status=info["status"],
                seconds=np.nan,
            )[SAMPLE_FRAME_COLUMNS]
        )
        paths = _table_paths(run)
        if scores and not paths:
            without.append(info["run_id"])
        parts += [_long_rows(_read_table(client, info["run_id"], p), info) for p in paths]
    parts = [p for p in parts if not p.empty]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SAMPLE_FRAME_COLUMNS)
    df["seed"] = df["seed"].astype("Int64")
    df["window"] = pd.to_numeric(df["window"]).astype("Int64")
    df["value"] = df["value"].astype(float)
    # a table appended to twice (log_table appends) keeps each value once, the last logged
    key = ["run_id", "track", "sample", "level", "window", "metric"]
    df = df.drop_duplicates(key, keep="last").reset_index(drop=True)
    df.attrs["without_samples"] = without
    return df


def load_trials(
    sweep: str, tracking_uri: str | None = None, parent_run_id: str | None = None
) -> pd.DataFrame:
    """One row per Optuna trial of a sweep (the children of the latest `role=sweep` run).

    Columns: run_id, trial (Int64), status, pruned (bool), pruned_step (Int64), the searched params
    as floats (the keys the parent's `sweep.searched` tag names: reports name no configuration key), objective
    (NaN when not logged), backends, the last `probe/<metric>` values, then the final scores. The
    parent run's tags `direction` (maximize/minimize) and the searched keys are kept in
    `df.attrs["direction"]` and `df.attrs["searched"]`.
    """
    _, parent, kids = load_children(sweep, tracking_uri, parent_run_id, parent_role="sweep")
    searched_tag = parent.data.tags.get(SEARCHED_TAG) if parent else None
    searched = [k for k in (searched_tag or "").split(",") if k]
    rows = []
    for run in kids:
        params = {k: _float_param(run, k) for k in sorted(run.data.params) if k in searched}
        row = {
            "run_id": run.info.run_id,
            "trial": _int_tag(run, "trial"),
            "status": run.info.status,
            "pruned": run.data.tags.get("pruned") == "true",
            "pruned_step": _int_tag(run, "pruned_step"),
            **params,
            "objective": run.data.metrics.get(OBJECTIVE, float("nan")),
            "backends": {
                k[len(BACKEND_PREFIX) :]: v for k, v in run.data.tags.items() if k.startswith(BACKEND_PREFIX)
            },
        }
        row.update({k: v for k, v in run.data.metrics.items() if k.startswith(PROBE_PREFIX)})
        row.update({k: v for k, v in run.data.metrics.items() if split_score_key(k)})
        rows.append(row)
    df = frame(rows, ["run_id", "trial", "status", "pruned", "pruned_step"])
    df["trial"] = df["trial"].astype("Int64")
    if not df.empty:
        df["pruned_step"] = df["pruned_step"].astype("Int64")
    df.attrs.update(
        sweep=sweep,
        parent_run_id=parent.info.run_id if parent else parent_run_id,
        direction=(parent.data.tags.get("direction") if parent else None),
        searched=searched if searched_tag is not None else None,
    )
    return df


# -- reports from the store ------------------------------------------------------------------------


def drift_frame(
    samples: pd.DataFrame, experiment: str, tracking_uri: str | None, parent_run_id: str
) -> pd.DataFrame:
    """The curves the drift plots draw: every sample's window values (per-sample tables) and, for runs
    logged without those tables, their logged mean curves (`drift/...` metrics, sample empty)."""
    curves = drift_frame_of(samples)
    legacy = samples.attrs.get("without_samples") or []
    if legacy:
        old = load_drift(experiment, tracking_uri, parent_run_id)
        curves = pd.concat([curves, old[old["run_id"].isin(legacy)].assign(sample=None)], ignore_index=True)
    return curves


def build_report(
    experiment: str,
    out_dir: str | Path,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    **options,
) -> dict[str, Path]:
    """Write an experiment's report into out_dir from the MLflow store; returns {file name: path}.

    Reads the child runs of `parent_run_id` (default: the latest parent run with children) and their
    per-sample tables, then writes what `render_report` writes; `options` are its keyword options.
    """
    runs = load_runs(experiment, tracking_uri, parent_run_id)
    parent = runs.attrs["parent_run_id"]
    samples = load_samples(experiment, tracking_uri, parent)  # same parent: one invocation
    drift = drift_frame(samples, experiment, tracking_uri, parent)
    return render_report(experiment, out_dir, runs, samples, drift, source=f"Parent run {parent}", **options)


def build_sweep_report(
    sweep: str,
    out_dir: str | Path,
    tracking_uri: str | None = None,
    parent_run_id: str | None = None,
    *,
    direction: str | None = None,
) -> dict[str, Path]:
    """A sweep's report from the store: the trials of the latest `role=sweep` parent run (or
    `parent_run_id`), rendered by reports/build.py `render_sweep_report`."""
    return render_sweep_report(
        sweep, out_dir, load_trials(sweep, tracking_uri, parent_run_id), direction=direction
    )
