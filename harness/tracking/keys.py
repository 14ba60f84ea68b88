"""The names of what the harness writes to MLflow, defined once for the writer and the reader.

The writer is `harness/tracking.py`; the readers are `harness/tracking/store_reader.py` and the MLflow UI's saved views
(`harness ui`). All use these functions and constants, so a renamed key cannot leave a reader with
nothing.

    tags      role (parent | sweep | baseline | arm), arm, seed, experiment, variant, preset,
              git_commit, trial, suite_digest.<track>, metric_backend.<metric>, error,
              pruned / pruned_step / pruned_value, sweep.searched (the keys a sweep varies),
              delta_vs_base.reference (the arm the delta_vs_base metrics are against);
              kind (what a child run is, for the review's table: the base arm, an arm, or a reference:
              no model), summary/<track>/<primary> and summary/<track>/<primary> vs base (the
              review's summary as text: mean [95% interval] (n=...), the difference from the base);
              MLflow's own: mlflow.note.content (descriptions: the experiment's, each arm run's, the
              report on the parent), mlflow.source.name / .type / .git.commit, mlflow.user,
              mlflow.runColor (one colour per arm name)
    metrics   <track>/<metric>                final score of a track, e.g. consistent_50s/fvd, on the
                                              scale it was scored on (VBench 0-1): what reports read
              percent/<track>/<metric>        the same score in percent, for metrics the report shows
                                              in percent (spec scale 100: the VBench dimensions)
              delta_vs_base/<track>/<metric>  this arm minus the reference arm, mean over samples, in
                                              the report's units (VBench: percentage points)
              delta_vs_base_lo/..., _hi/...   its 95% paired cluster-bootstrap interval
              delta_vs_base_n/...             the samples both arms scored (the bootstrap's n)
              drift/<track>/<metric>          per clip, step = clip index
              train/...                       training curves per step (loss, grad norm, lr, injections)
              memory/<bank>/fill, /bytes      replay-memory entries and bytes per bank (noise, clean)
              memory/<bank>/fill_fraction     entries / (slots x capacity)
              memory/<bank>/slot_<stat>_<how> per-slot statistics (stat: fill, norm) reduced over the
                                              slots (how: min, mean, max); the per-slot values stay in
                                              the run's train/metrics.jsonl artifact
              probe/<metric>                  drift of a training probe, step = training step
              objective                       a sweep trial's objective value
              review_order                    a child run's place in the review (the base arm, the
                                              arms, then the references), its sort key
    params    the flattened configuration (an untrained arm without the train-only sections);
              seconds_per_clip; arm
    images    <track>/<sample>                one frame per clip (its last), step = clip index
                                              (MlflowClient.log_image: the chart view's image cards)
    artifacts preview_<track>.mp4 / .gif      the track's videos side by side, enlarged for review
              datasets/<track>.json           the prompt set as a table (prompt text included)
              train/metrics.jsonl             the trainer's full metrics, per-slot memory included
              report.md, report.html          (parent run) the report; report/ holds every file
    tables    scores/<track>/samples.json     per-sample scores (MlflowClient.log_table): one row per
                                              (video, window) and per video, columns SAMPLE_COLUMNS
                                              then one per metric (null where a metric has no value)
    datasets  <track> (context evaluation)    the prompt set, source: the benchmark's track folder
              <data folder> (context training) the training clips (path, caption), source: data.root
"""

from __future__ import annotations

import re

from reports.frames import (  # noqa: F401 - the names a bundle shares with the store
    PROBE_PREFIX,
    REFERENCE_ROLE,
    SAMPLE_COLUMNS,
    STAGES,
    TRACK_METRIC,
    VIDEO_LEVEL,
    WINDOW_LEVEL,
    score_key,
    split_score_key,
    track,
)

PARENT_TAG = "mlflow.parentRunId"
BACKEND_PREFIX = "metric_backend."
# skipped_videos.<track>: the videos of a track that could not be decoded and were left out of its scores
# (experiment field skip_bad_videos), comma-separated stems
SKIPPED_VIDEOS_PREFIX = "skipped_videos."
REFERENCE_SOURCE_TAG = "reference_source"  # <arm>/seed<k>: the unit a reference's first clips come from
PLAN_HASH_TAG = (
    "plan_hash"  # the unit's plan hash (harness/declare/plan.py unit_hash) when it ran: a fact of the run
)
IMPORTED_TAG = "imported_from"  # the bundle folder an imported parent run (and its children) came from
BUNDLE_DIGEST_TAG = "bundle_digest"  # an imported bundle's manifest sha256: its parent run is found again
BUNDLE_MANIFEST = "bundle/manifest.json"  # an imported bundle's manifest, an artifact of its parent run
TRAINED_TAG = "trained"  # "true" for a fine-tuned arm, "false" for the untuned base model
SUITE_DIGEST_PREFIX = "suite_digest."
DRIFT_PREFIX = "drift/"
OBJECTIVE = "objective"
SEARCHED_TAG = "sweep.searched"  # comma-separated dotted config keys a sweep samples
SECONDS_PER_CLIP = "seconds_per_clip"
TIME_PREFIX = "time/"  # time/<stage>: a unit's wall seconds in that stage (harness/base/clock.py)
ARM_PARAM = "arm"

# Review keys: scores as the report shows them, differences against the reference arm.
PERCENT_PREFIX = "percent/"
DELTA_PREFIX = "delta_vs_base/"
DELTA_LOW_PREFIX = "delta_vs_base_lo/"
DELTA_HIGH_PREFIX = "delta_vs_base_hi/"
DELTA_N_PREFIX = "delta_vs_base_n/"
DELTA_REFERENCE_TAG = "delta_vs_base.reference"

# The review's summary (harness/tracking/deltas.py `log_summary`): text tags, so that MLflow's table shows
# every digit (its charts round to two decimals), and the order the review lists the runs in.
KIND_TAG = "kind"
KIND_BASE, KIND_ARM, KIND_REFERENCE = "arm (the base)", "arm", "reference (no model)"
SUMMARY_PREFIX = "summary/"
SUMMARY_VS_BASE = " vs base"  # after a summary key: the arm's difference from the base
REVIEW_ORDER = "review_order"

# Replay memory: the trainer writes `memory/<bank>/<stat>/slot_<i>` per slot (svi/training/memory.py `stats()`);
# MLflow gets them reduced over the slots, metrics.jsonl keeps them.
MEMORY_PREFIX = "memory/"
PER_SLOT = re.compile(r"^(?P<bank>memory/[^/]+)/(?P<stat>[^/]+)/slot_\d+$")
SLOT_REDUCTIONS = ("min", "mean", "max")

# MLflow's own tags, as the UI reads them
NOTE_TAG = "mlflow.note.content"  # a run's or an experiment's description (Markdown)
SOURCE_NAME_TAG = "mlflow.source.name"
SOURCE_TYPE_TAG = "mlflow.source.type"  # LOCAL | JOB
SOURCE_COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"
RUN_COLOR_TAG = "mlflow.runColor"  # '#rrggbb': the run's colour in charts and tables
PRIMARY_TAG = "harness.primary"  # a parent run's primary metric: the review view charts it first in a section
GROUP_BY_TAG = "harness.group_by"  # the tag (its value: the arm) the review view groups a unit's run by

# Artifacts for review
PREVIEW_STEM = "preview_"  # preview_<track>.mp4 and preview_<track>.gif at the run's artifact root
DATASETS_DIR = "datasets"
TRAIN_METRICS_ARTIFACT = "train"  # where metrics.jsonl goes: train/metrics.jsonl
REPORT_DIR = "report"  # every report file on the parent run; report.md and report.html also at its root

SAMPLES_FILE = "samples.json"


def samples_artifact(track_name: str) -> str:
    """'consistent_50s' -> 'scores/consistent_50s/samples.json' (the run's per-sample table)."""
    return f"scores/{track_name}/{SAMPLES_FILE}"


# value k at step k for every clip index a drift curve has: the UI's drift charts plot against it,
# so their x axis reads "clip" rather than "Step" (harness/tracking/review.py)
CLIP_KEY = "clip"


def drift_key(track_name: str, metric: str) -> str:
    return f"{DRIFT_PREFIX}{track_name}/{metric}"


def probe_key(metric: str) -> str:
    return f"{PROBE_PREFIX}{metric}"


def backend_tag(metric: str) -> str:
    return f"{BACKEND_PREFIX}{metric}"


def percent_key(track_name: str, metric: str) -> str:
    """'consistent_50s', 'subject_consistency' -> 'percent/consistent_50s/subject_consistency'."""
    return f"{PERCENT_PREFIX}{track_name}/{metric}"


def delta_keys(track_name: str, metric: str) -> tuple[str, str, str, str]:
    """(difference, interval low, interval high, n) keys of one track and metric."""
    tail = f"{track_name}/{metric}"
    return (DELTA_PREFIX + tail, DELTA_LOW_PREFIX + tail, DELTA_HIGH_PREFIX + tail, DELTA_N_PREFIX + tail)


def summary_keys(track_name: str, metric: str) -> tuple[str, str]:
    """(the mean's tag, the difference's tag) of the review's summary of one track and metric."""
    tail = f"{SUMMARY_PREFIX}{track_name}/{metric}"
    return tail, tail + SUMMARY_VS_BASE


def image_key(track_name: str, sample: str) -> str:
    """The image key of a video's per-clip frames: '<track>/<sample>', with characters MLflow refuses in
    image keys (anything but letters, digits, _ - . space /) replaced by '_'."""
    return re.sub(r"[^A-Za-z0-9_\-. ]", "_", track_name) + "/" + re.sub(r"[^A-Za-z0-9_\-. ]", "_", sample)


def slot_key(bank: str, stat: str, how: str) -> str:
    """'memory/noise', 'fill', 'mean' -> 'memory/noise/slot_fill_mean'."""
    return f"{bank}/slot_{stat}_{how}"


def fill_fraction_key(bank: str) -> str:
    return f"{bank}/fill_fraction"


def preview_name(track_name: str, suffix: str) -> str:
    """'consistent_50s', '.mp4' -> 'preview_consistent_50s.mp4' (an artifact at the run's root)."""
    return f"{PREVIEW_STEM}{track_name}{suffix}"
