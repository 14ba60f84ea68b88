"""The names of what the harness writes to MLflow, defined once for the writer and the reader.

The writer is `harness/tracking.py`; the reader is `reports/runs.py`. Both use these functions and
constants, so a renamed key cannot leave the reports reading nothing.

    tags      role (parent | sweep | baseline | arm), arm, seed, experiment, variant, preset,
              git_commit, trial, suite_digest.<track>, metric_backend.<metric>, error,
              pruned / pruned_step / pruned_value, sweep.searched (the keys a sweep varies)
    metrics   <track>/<metric>                final score of a track, e.g. consistent_50s/fvd
              drift/<track>/<metric>          per clip, step = clip index
              probe/<metric>                  drift of a training probe, step = training step
              objective                       a sweep trial's objective value
    params    the flattened configuration; seconds_per_clip
    tables    scores/<track>/samples.json     per-sample scores (MlflowClient.log_table): one row per
                                              (video, window) and per video, columns SAMPLE_COLUMNS
                                              then one per metric (null where a metric has no value)
"""

from __future__ import annotations

import re

PARENT_TAG = "mlflow.parentRunId"
BACKEND_PREFIX = "metric_backend."
SUITE_DIGEST_PREFIX = "suite_digest."
DRIFT_PREFIX = "drift/"
PROBE_PREFIX = "probe/"
OBJECTIVE = "objective"
SEARCHED_TAG = "sweep.searched"  # comma-separated dotted config keys a sweep samples
SECONDS_PER_CLIP = "seconds_per_clip"

# The per-sample table of a track: these columns, then one column per metric (its name).
SAMPLE_COLUMNS = ("track", "sample", "seed", "level", "window", "start_frame", "end_frame")
VIDEO_LEVEL, WINDOW_LEVEL = "video", "window"  # values of its `level` column
SAMPLES_FILE = "samples.json"

# `<suite>_<length>/<metric>`, length like 50s or 2.5s; suites may hold underscores (conditional_talk)
TRACK_METRIC = re.compile(r"^(?P<track>(?P<suite>[^/]+)_(?P<length>\d+(?:\.\d+)?s))/(?P<metric>[^/]+)$")


def track(suite: str, length: str) -> str:
    """'consistent', '50s' -> 'consistent_50s'."""
    return f"{suite}_{length}"


def score_key(track_name: str, metric: str) -> str:
    return f"{track_name}/{metric}"


def samples_artifact(track_name: str) -> str:
    """'consistent_50s' -> 'scores/consistent_50s/samples.json' (the run's per-sample table)."""
    return f"scores/{track_name}/{SAMPLES_FILE}"


def drift_key(track_name: str, metric: str) -> str:
    return f"{DRIFT_PREFIX}{track_name}/{metric}"


def probe_key(metric: str) -> str:
    return f"{PROBE_PREFIX}{metric}"


def backend_tag(metric: str) -> str:
    return f"{BACKEND_PREFIX}{metric}"


def split_score_key(key: str) -> tuple[str, str, str, str] | None:
    """'consistent_50s/fvd' -> ('consistent_50s', 'consistent', '50s', 'fvd'); None if not a score."""
    m = TRACK_METRIC.match(key)
    if m is None:
        return None
    return m["track"], m["suite"], m["length"], m["metric"]
