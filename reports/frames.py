"""The frames the reports read, wherever they came from (the MLflow store, read by
harness/tracking/store_reader.py, or a results bundle, reports/bundle.py): their columns and the
vocabulary a bundle shares with the store (roles, levels, stages, score names). No MLflow here.

    runs frame     one row per unit: RUN_COLUMNS, then one column per score `<track>/<metric>`
    samples frame  one row per (unit, track, sample, level, window, metric): SAMPLE_FRAME_COLUMNS
    trials frame   one row per sweep trial: its params, objective and probe/<metric> curves' last values
"""

from __future__ import annotations

import re

import pandas as pd

REFERENCE_ROLE = (
    "reference"  # role of a degenerate reference's run (harness/run/reference_units.py): never an arm
)
# A unit's stages in the order it meets them: writing the inputs it needs (toy training clips and
# benchmark), training, generation, scoring, review media (keyframe strips, per-clip images,
# previews), logging to MLflow; `report` is the parent run's, once per invocation.
STAGES = ("provision", "train", "generate", "score", "review_media", "log", "references", "report")
PROBE_PREFIX = "probe/"

# The per-sample table of a track: these columns, then one column per metric (its name).
SAMPLE_COLUMNS = ("track", "sample", "seed", "level", "window", "start_frame", "end_frame")
VIDEO_LEVEL, WINDOW_LEVEL = "video", "window"  # values of its `level` column

# `<suite>_<length>/<metric>`, length like 50s or 2.5s; suites may hold underscores (conditional_talk)
TRACK_METRIC = re.compile(r"^(?P<track>(?P<suite>[^/]+)_(?P<length>\d+(?:\.\d+)?s))/(?P<metric>[^/]+)$")


def track(suite: str, length: str) -> str:
    """'consistent', '50s' -> 'consistent_50s'."""
    return f"{suite}_{length}"


def score_key(track_name: str, metric: str) -> str:
    return f"{track_name}/{metric}"


def split_score_key(key: str) -> tuple[str, str, str, str] | None:
    """'consistent_50s/fvd' -> ('consistent_50s', 'consistent', '50s', 'fvd'); None if not a score."""
    m = TRACK_METRIC.match(key)
    if m is None:
        return None
    return m["track"], m["suite"], m["length"], m["metric"]


COMPARISON_SEPARATOR = " - "  # "ARM - OTHER": the arm ARM minus the arm OTHER


def split_comparison(text: str) -> tuple[str, str]:
    """'full - plain' -> ('full', 'plain'); a ValueError where the text is not two names around ' - '."""
    parts = str(text).split(COMPARISON_SEPARATOR)
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ValueError(f"comparison {text!r} is not of the form 'ARM - OTHER_ARM' (spaces around the '-')")
    return parts[0].strip(), parts[1].strip()


FINISHED = "FINISHED"
RUN_LEVEL = "run"  # load_samples' level of a run's logged final score (the set value)
SAMPLE_FRAME_COLUMNS = [
    "arm",
    "role",
    "seed",
    "run_id",
    "status",
    "track",
    "sample",
    "level",
    "window",
    "metric",
    "value",
    "seconds",
]

RUN_COLUMNS = [
    "run_id",
    "parent_run_id",
    "run_name",
    "arm",
    "seed",
    "role",
    "status",
    "variant",
    "preset",
    "git_commit",
    "start_time",
    "finished_at",
    "seconds_per_clip",
    "backends",
]


class ReportError(LookupError):
    """The runs a report needs are not in the MLflow store (the message says what to do)."""


class BundleError(LookupError):
    """A folder that is not a results bundle, or one this harness cannot read (the message says why).
    Here, below the modules that read a bundle's parts (reports/bundle.py, reports/registration.py)."""


def track_sort_key(track: str) -> tuple:
    """Order tracks as the paper does: consistent, creative, then others; shorter lengths first."""
    m = re.match(r"^(.+)_(\d+(?:\.\d+)?)s$", track)
    suite, seconds = (m[1], float(m[2])) if m else (track, 0.0)
    rank = {"consistent": 0, "creative": 1}.get(suite, 2)
    return rank, suite, seconds


def frame(rows: list[dict], first: list[str]) -> pd.DataFrame:
    """A frame of `rows` with the `first` columns first, then the others, then the score columns
    (`<track>/<metric>`) in the paper's track order."""
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=first)
    metric_cols = sorted(
        (c for c in df.columns if c not in first and split_score_key(c)),
        key=lambda c: (track_sort_key(split_score_key(c)[0]), c),
    )
    rest = [c for c in df.columns if c not in first and c not in metric_cols]
    return df[[c for c in first if c in df.columns] + rest + metric_cols]


def sweep_params(trials: pd.DataFrame) -> list[str]:
    """The searched params present in a trials frame, in the sweep's own order (its parent's
    `sweep.searched` tag; none for a parent without it)."""
    return [k for k in trials.attrs.get("searched") or [] if k in trials.columns]
