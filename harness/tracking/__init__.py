"""The one place that talks to MLflow, split by job:

    client      the store, its reachability check, artifact locations
    provenance  Source / User / commit columns (arm colours: reports/colours.py)
    lifecycle   runs opened, described, logged to, finished
    curves      training curves (live) and system metrics
    datasets    prompt sets and training clips as MLflow datasets
    arm_run     the child run of one (arm, seed) unit, its per-sample tables
    liveness    heartbeats and stale runs
    deltas      what the report adds to the runs
    review      the UI's saved views and review links (`harness ui`)
    media       keyframes, strips and previews for review

The package exports each part's API, so callers write `tracking.client()`, `tracking.ArmRun(...)`.


One MLflow experiment per declared experiment (created once, in the parent process), a parent run
per invocation and a child run per (arm, seed), owned by an `ArmRun`. Everything goes through an
explicit MlflowClient, so no global "active run" state leaks between arms. Key names come from
`harness/tracking/keys.py`, which the reports read with.

What is logged is meant to be reviewed in the MLflow UI as well as read back by `reports/`: runs
carry descriptions, provenance (source, user, commit) and a colour per arm; replay-memory curves
reach MLflow reduced over their slots; scores come in the report's units too; videos come with
per-clip images and enlarged previews (harness/tracking/media.py); datasets name the folders they came from.
"""

# ruff: noqa: E402
from harness.base import telemetry

telemetry.quiet()  # before MLflow is first imported: it starts its telemetry client on import

from harness.tracking.arm_run import (  # noqa: F401
    TRAIN_ONLY_SECTIONS,
    ArmRun,
    drift_curves,
    log_samples,
    log_table,
    samples_table,
    suite_metric_rows,
)
from harness.tracking.client import (  # noqa: F401
    ARTIFACT_ROOT_ENV,
    REACH_TIMEOUT_SECONDS,
    SERVER_SCHEMES,
    artifact_location,
    check_reachable,
    client,
    ensure_experiment,
)
from harness.tracking.curves import CurveForwarder, SystemMetrics, log_training_metrics, reduce_slots  # noqa: F401
from harness.tracking.datasets import dataset_digest, log_dataset, prompt_rows  # noqa: F401
from harness.tracking.deltas import delta_rows, log_deltas, log_report_figures, log_summary, report_note  # noqa: F401
from harness.tracking.lifecycle import (  # noqa: F401
    BATCH,
    MAX_PARAM_LENGTH,
    NOTE_LIMIT,
    finish,
    finish_quietly,
    log_metrics,
    log_params,
    set_experiment_note,
    set_note,
    set_tags,
    start_child,
    start_parent,
)
from harness.tracking.liveness import (  # noqa: F401
    FAILURE_TAG,
    HEARTBEAT_SECONDS,
    HEARTBEAT_TAG,
    HOST_TAG,
    PID_START_TAG,
    PID_TAG,
    STALE_SECONDS,
    Heartbeat,
    reap_stale,
    settle_submitted,
    stale_reason,
)
from harness.tracking.provenance import (  # noqa: F401
    git_commit,
    provenance,
    source_name,
    source_type,
    user,
)
from reports.colours import GROUP_TAGS, PALETTE, arm_color, group_tag  # noqa: F401
