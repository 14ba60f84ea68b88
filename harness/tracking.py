"""The one place that talks to MLflow.

One MLflow experiment per declared experiment (created once, in the parent process), a parent run
per invocation and a child run per (arm, seed), owned by an `ArmRun`. Everything goes through an
explicit MlflowClient, so no global "active run" state leaks between arms. Key names come from
`reports/keys.py`, which the reports read with.

What is logged is meant to be reviewed in the MLflow UI as well as read back by `reports/`: runs
carry descriptions, provenance (source, user, commit) and a colour per arm; replay-memory curves
reach MLflow reduced over their slots; scores come in the report's units too; videos come with
per-clip images and enlarged previews (harness/media.py); datasets name the folders they came from.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from harness import workspace
from harness.redact import redact_uri, scrub
from reports import keys
from svi.config import ConfigError

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
BATCH = 900  # MLflow accepts up to 1000 metrics per log_batch
REACH_TIMEOUT_SECONDS = 5.0


_created: set[str] = set()  # SQLite stores this process has opened (their tables exist)


def client() -> MlflowClient:
    uri = workspace.tracking_uri()
    if uri.startswith("sqlite:///") and uri not in _created:
        # Two harness processes opening a new SQLite store at once would both create its tables
        # ("duplicate column name"): the first creates them under a lock, the second finds them.
        with workspace.stage_lock(Path(uri.removeprefix("sqlite:///"))):
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        _created.add(uri)
    return MlflowClient(tracking_uri=uri)


def check_reachable(uri: str | None = None, timeout: float = REACH_TIMEOUT_SECONDS) -> None:
    """The tracking store answers within `timeout` seconds and accepts our credentials, else a
    ConfigError that names the URI (its password masked) and says what went wrong.

    A server (http, https) must answer an authenticated request (MLflow's basic-auth app: the
    MLFLOW_TRACKING_USERNAME / _PASSWORD variables); a database URL must parse and accept a connection;
    a local store must be writable. Checked before anything is logged, so a wrong MLFLOW_TRACKING_URI
    or password costs seconds instead of a silent hang or a traceback.
    """
    uri = uri or workspace.tracking_uri()
    shown = redact_uri(uri)
    scheme = uri.split(":", 1)[0].lower()
    fix = "fix MLFLOW_TRACKING_URI, or unset it to track into the workspace's SQLite file"
    try:
        if scheme in ("http", "https"):
            _check_server(uri, timeout)
        elif scheme.startswith(("postgresql", "mysql", "mssql")):
            import sqlalchemy

            try:
                url = sqlalchemy.engine.make_url(uri)
                url.port  # noqa: B018 - a non-numeric port raises here
            except (ValueError, sqlalchemy.exc.ArgumentError) as e:
                raise ConfigError(
                    f"the MLflow tracking URI {shown} is malformed ({scrub(str(e))}): {fix}"
                ) from None
            args = {"connect_timeout": int(max(1, timeout))}
            with sqlalchemy.create_engine(url, connect_args=args).connect():
                pass
        elif scheme == "sqlite":
            workspace.check_writable(Path(uri.removeprefix("sqlite:///")).parent)
        elif scheme == "file":
            workspace.check_writable(Path(uri.removeprefix("file://")))
    except ConfigError:
        raise
    except Exception as e:
        text = scrub(str(e).strip())
        first = text.splitlines()[0][:200] if text else ""
        if _auth_failure(text):
            raise ConfigError(
                f"the MLflow tracking store {shown} refused the credentials: authentication failed "
                f"({first}). Check the user and password in MLFLOW_TRACKING_URI (or PGPASSWORD / ~/.pgpass)"
            ) from None
        raise ConfigError(
            f"the MLflow tracking store {shown} did not answer within {timeout:.0f} s "
            f"({type(e).__name__}: {first}). Start the server or {fix}."
        ) from None


def _auth_failure(text: str) -> bool:
    low = text.lower()
    return "authentication failed" in low or "access denied" in low or "login failed" in low


def _check_server(uri: str, timeout: float) -> None:
    """An MLflow server answers an API call that needs the caller's rights (the health endpoint does
    not, even under basic auth), with the credentials MLflow's client would send."""
    import requests

    try:
        port = urlsplit(uri).port  # noqa: F841 - a non-numeric port raises ValueError here
    except ValueError as e:
        raise ConfigError(f"the MLflow tracking URI {redact_uri(uri)} is malformed ({e})") from None
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    headers = {}
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
    reply = requests.get(
        uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        auth=(user, password or "") if user else None,
        headers=headers,
        timeout=timeout,
    )
    if reply.status_code in (401, 403):
        given = "no credentials were given" if not (user or headers) else f"user {user!r} was refused"
        what = "authentication failed" if reply.status_code == 401 else "permission denied"
        raise ConfigError(
            f"the MLflow tracking server {redact_uri(uri)} said {what} (HTTP {reply.status_code}; {given}). "
            "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account of the server "
            '(its admin creates one: README, "Team mode")'
        )


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


ARTIFACT_ROOT_ENV = "HARNESS_ARTIFACT_ROOT"
SERVER_SCHEMES = ("http", "https", "databricks")  # tracking URIs behind which a server owns the artifacts


def artifact_location(uri: str, name: str) -> str | None:
    """Where a new experiment named `name` keeps its artifacts; None: the tracking server decides.

    HARNESS_ARTIFACT_ROOT, when set, wins (`s3://bucket/prefix`: each host writes there itself and
    needs the store's credentials). Otherwise a server (http, https) decides: its
    `--artifacts-destination` (proxied) or `--default-artifact-root`, so artifacts land in the team's
    store, not on the disk of the machine that ran the job. A store without a server (the workspace's
    SQLite file, or a database URL used directly) keeps them in the workspace's `artifacts/`, where
    MLflow would otherwise pick `./mlruns` relative to wherever the command happens to run.
    """
    root = os.environ.get(ARTIFACT_ROOT_ENV, "").strip()
    if root:
        return f"{root.rstrip('/')}/{name}"
    if uri.split(":", 1)[0].lower() in SERVER_SCHEMES:
        return None
    workspace.check_name(name, "experiment name")  # a folder of the workspace's artifact store
    return f"{workspace.artifact_root()}/{name}"


def ensure_experiment(c: MlflowClient, name: str) -> str:
    """The id of experiment `name`, created (artifact location: `artifact_location`) if missing.

    An existing experiment keeps the artifact location it was created with (MLflow cannot move it): one
    on a tracking server that points at a local folder (made by an older harness) gets a warning.
    """
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        where = exp.artifact_location or ""
        if artifact_location(c.tracking_uri, name) is None and where.startswith("file:"):
            from harness.console import say

            say(
                f"experiment {name} on {c.tracking_uri} keeps its artifacts in {where}, on the disk of "
                "whichever machine runs the job. To send them to the server's artifact store, rename it "
                f"(MlflowClient().rename_experiment({exp.experiment_id!r}, '{name}-local')) and run "
                "again: the harness then creates a new one without a location of its own"
            )
        return exp.experiment_id
    try:
        return c.create_experiment(name, artifact_location=artifact_location(c.tracking_uri, name))
    except Exception:  # another process created it between the two calls
        exp = c.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return os.environ.get("USER") or "unknown"


def source_type() -> str:
    """JOB inside a submitit job (it sets SUBMITIT_EXECUTOR) or any SLURM job, else LOCAL (MLflow's
    SourceType names). Read from the environment: importing submitit here would cost every run."""
    return "JOB" if os.environ.get("SUBMITIT_EXECUTOR") or os.environ.get("SLURM_JOB_ID") else "LOCAL"


def source_name(c: MlflowClient, experiment_id: str, tags: dict[str, str]) -> str:
    """The command that made a run, as the UI's Source column shows it: `harness run <experiment>`, or
    `harness sweep <sweep>` for a sweep's runs (its parent has role sweep, its trials a trial tag)."""
    try:
        name = c.get_experiment(experiment_id).name
    except Exception:  # the store said no a moment ago; the column is a courtesy, not worth a failure
        name = tags.get("experiment", "?")
    command = "sweep" if tags.get("role") == "sweep" or "trial" in tags else "run"
    return f"harness {command} {name}"


def provenance(c: MlflowClient, experiment_id: str, tags: dict[str, str]) -> dict[str, str]:
    """MLflow's own provenance tags (Source, User, commit columns of the UI) of a new run."""
    commit = git_commit()
    return {
        "git_commit": commit,
        keys.SOURCE_COMMIT_TAG: commit,
        keys.SOURCE_NAME_TAG: source_name(c, experiment_id, tags),
        keys.SOURCE_TYPE_TAG: source_type(),
        keys.USER_TAG: user(),
    }


# Colours that tell lines apart on white and on dark backgrounds (Tableau 10, then 6 more).
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#8c564b",
)  # fmt: skip


def arm_color(arm: str) -> str:
    """The colour of an arm in MLflow's charts: a fixed palette entry chosen by a stable hash of its
    name (sha256, not Python's salted hash), so `full` has the same colour in every experiment."""
    return PALETTE[int.from_bytes(hashlib.sha256(arm.encode()).digest()[:8], "big") % len(PALETTE)]


def start_parent(c: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> str:
    tags = {"role": "parent", **tags}
    run = c.create_run(experiment_id, run_name=name, tags={**provenance(c, experiment_id, tags), **tags})
    return run.info.run_id


def start_child(c: MlflowClient, experiment_id: str, parent_id: str, name: str, tags: dict[str, str]) -> str:
    tags = {"mlflow.parentRunId": parent_id, **tags}
    if "arm" in tags:
        tags.setdefault(keys.RUN_COLOR_TAG, arm_color(tags["arm"]))
    return c.create_run(
        experiment_id, run_name=name, tags={**provenance(c, experiment_id, tags), **tags}
    ).info.run_id


NOTE_LIMIT = 7900  # MLflow keeps 8000 characters of a run tag; the rest of a long note is cut here


def set_note(c: MlflowClient, run_id: str, text: str, more: str = "") -> None:
    """A run's description (the UI's Description, Markdown). Cut to what MLflow keeps, saying where the
    whole text is (`more`) when it is cut."""
    if len(text) > NOTE_LIMIT:
        tail = f"\n\n*(cut here; {more or 'the rest is not shown'})*"
        text = text[: NOTE_LIMIT - len(tail)] + tail
    c.set_tag(run_id, keys.NOTE_TAG, text)


def set_experiment_note(c: MlflowClient, experiment_id: str, text: str) -> None:
    c.set_experiment_tag(experiment_id, keys.NOTE_TAG, text[:19000])  # experiment tags keep 20000


def log_params(c: MlflowClient, run_id: str, params: dict) -> None:
    items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
    for i in range(0, len(items), 90):  # MLflow: at most 100 params per batch
        c.log_batch(run_id, params=items[i : i + 90])


def log_metrics(c: MlflowClient, run_id: str, rows: list[tuple[str, float, int]]) -> None:
    """rows of (key, value, step); None and NaN values are skipped (MLflow rejects them)."""
    import math
    import time

    now = int(time.time() * 1000)
    items = [
        Metric(k, float(v), now, int(s)) for k, v, s in rows if v is not None and math.isfinite(float(v))
    ]
    for i in range(0, len(items), BATCH):
        c.log_batch(run_id, metrics=items[i : i + BATCH])


def set_tags(c: MlflowClient, run_id: str, tags: dict[str, str]) -> None:
    c.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def reduce_slots(rec: dict, capacity: int | None = None) -> dict[str, float]:
    """One metrics.jsonl row as MLflow gets it: per-slot replay-memory values (`memory/<bank>/<stat>/
    slot_<i>`, 50 slots x 2 stats x 2 banks in the official setting) replaced by their min, mean and
    max over the slots, and each bank's fill as a fraction of its slots x `capacity` (when given).
    Numbers only; `step` is left to the caller. The per-slot values stay in metrics.jsonl."""
    out: dict[str, float] = {}
    slots: dict[tuple[str, str], list[float]] = {}
    for k, v in rec.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        m = keys.PER_SLOT.match(k)
        if m is None:
            out[k] = v
        else:
            slots.setdefault((m["bank"], m["stat"]), []).append(float(v))
    for (bank, stat), values in slots.items():
        values = [v for v in values if math.isfinite(v)]
        if values:
            stats = {"min": min(values), "mean": sum(values) / len(values), "max": max(values)}
            out.update({keys.slot_key(bank, stat, how): stats[how] for how in keys.SLOT_REDUCTIONS})
        if stat == "fill" and capacity and f"{bank}/fill" in out:
            # every slot reports its fill, empty ones too: their number is the bank's slot count
            out[keys.fill_fraction_key(bank)] = out[f"{bank}/fill"] / (len(slots[bank, stat]) * capacity)
    return out


def log_training_metrics(
    c: MlflowClient, run_id: str, metrics_file: Path, capacity: int | None = None
) -> None:
    """Forward the trainer's metrics.jsonl (loss, grad norm, replay memory statistics reduced over
    the slots: `reduce_slots`) per step."""
    if not metrics_file.is_file():
        return
    rows = []
    for line in metrics_file.read_text().splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # the last line of a trainer stopped while writing it
                continue
            step = rec.pop("step")
            rows += [(k, v, step) for k, v in reduce_slots(rec, capacity).items()]
    log_metrics(c, run_id, rows)


def log_dataset(
    c: MlflowClient,
    run_id: str,
    name: str,
    rows: list[dict],
    digest: str,
    *,
    source: str | Path | None = None,
    context: str = "evaluation",
) -> None:
    """A table of inputs as an MLflow dataset input of the run.

    rows: one dict per item (a benchmark sample with its prompt text, a training clip with its
    caption); source: the folder they were read from (MLflow shows it as the dataset's source; without
    one MLflow would say "code"); digest: what identifies the content (MLflow keeps one dataset per
    experiment, name and digest); context: `evaluation` (a prompt set) or `training`. The rows also go
    to `datasets/<name>.json` as an MLflow table, since a dataset input keeps only schema and profile.
    """
    import warnings

    import mlflow
    import mlflow.exceptions
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    table = pd.DataFrame(rows)
    if source is not None and "://" not in str(source):
        from mlflow.data.sources import LocalArtifactDatasetSource

        source = LocalArtifactDatasetSource(str(source))  # MLflow's own guess warns: two local kinds
    with warnings.catch_warnings():
        # MLflow's hint about integer columns concerns model signatures; a logged prompt set has none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        dataset = mlflow.data.from_pandas(table, source=source, name=name, digest=digest[:36])
        entity = dataset._to_mlflow_entity()  # the schema is inferred here
        c.log_table(run_id, data=table, artifact_file=f"{keys.DATASETS_DIR}/{_safe_name(name)}.json")
    tag = InputTag(key="mlflow.data.context", value=context)
    inputs = [DatasetInput(dataset=entity, tags=[tag])]
    try:
        c.log_inputs(run_id, datasets=inputs)
    except mlflow.exceptions.MlflowException as e:
        # Two sweep workers can insert the same (experiment, name, digest) at once; the loser's
        # retry finds the winner's row and only links it to this run.
        if "unique constraint" not in str(e).lower():  # SQLite's and PostgreSQL's wordings
            raise
        time.sleep(0.2)
        c.log_inputs(run_id, datasets=inputs)


def _safe_name(name: str) -> str:
    """A name as an artifact file name (MLflow refuses quotes, commas, colons, brackets, braces)."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)


def prompt_rows(manifest: dict, prompts: dict[str, tuple[str, ...]] | None = None) -> list[dict]:
    """A prompt set's rows: the manifest's per-sample entries with the prompt text beside them
    (`prompt`: the first clip's, `prompts`: every clip's, one a line)."""
    rows = []
    for entry in manifest.get("samples", []):
        texts = (prompts or {}).get(entry["name"], ())
        rest = {k: v for k, v in entry.items() if k != "name"}
        rows.append(
            {"name": entry["name"], "prompt": texts[0] if texts else "", "prompts": "\n".join(texts), **rest}
        )
    return rows


def dataset_digest(*parts) -> str:
    """sha256 over the JSON of `parts` (rows, a manifest digest and a source), what names a dataset."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def finish(c: MlflowClient, run_id: str, status: str = "FINISHED") -> None:
    c.set_terminated(run_id, status=status)


def finish_quietly(c: MlflowClient, run_id: str, status: str) -> bool:
    """`finish`, on a failure path: a store that refuses (a full disk, a lost server) is said in one
    line instead of raised over the error being handled; the next `run` or `report` reaps the run
    (its heartbeat has stopped). -> whether the status was written."""
    try:
        finish(c, run_id, status)
        return True
    except Exception as e:  # noqa: BLE001
        from harness.console import say

        say(f"run {run_id} could not be marked {status} ({type(e).__name__}); the next run or report will")
        return False


# -- what the report adds to the runs --------------------------------------------------------------


def delta_rows(summary) -> dict[str, list[tuple[str, float, int]]]:
    """arm -> its `delta_vs_base` metrics, from the report's summary (`reports.tables.summarize`, or
    its results.csv): the difference against the reference arm with its paired-bootstrap interval and
    n, in the report's units (VBench in percentage points). Only where the bootstrap ran (a per-sample
    metric both arms scored): set-level metrics (FVD) and runs without per-sample tables have no
    interval, and get no delta metric."""
    from reports.tables import metric_info

    out: dict[str, list[tuple[str, float, int]]] = {}
    for rec in summary.to_dict("records"):
        values = [rec.get(k) for k in ("delta", "delta_low", "delta_high", "delta_n_samples")]
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            continue
        scale = metric_info(rec["metric"]).scale
        delta, low, high, n = values
        names = keys.delta_keys(rec["track"], rec["metric"])
        rows = [(names[0], delta * scale, 0), (names[1], low * scale, 0), (names[2], high * scale, 0)]
        out.setdefault(str(rec["arm"]), []).extend([*rows, (names[3], float(n), 0)])
    return out


def log_deltas(c: MlflowClient, parent_id: str, results_csv: Path) -> int:
    """Log `delta_rows` of a report's results.csv on every finished child run of `parent_id` (each
    seed of an arm gets the arm's difference, which is over its seeds), with tag
    `delta_vs_base.reference` naming the arm it is against. -> runs that got metrics."""
    import pandas as pd

    text = {col: str for col in ("track", "arm", "metric", "reference")}  # an arm named "1" stays text
    summary = pd.read_csv(results_csv, dtype=text, keep_default_na=False, na_values=[""])
    per_arm = delta_rows(summary)
    if not per_arm:
        return 0
    reference = next((r for r in summary["reference"].dropna().unique() if r), "")
    exp_id = c.get_run(parent_id).info.experiment_id
    kids = c.search_runs(
        [exp_id], filter_string=f"tags.`{keys.PARENT_TAG}` = '{parent_id}'", max_results=5000
    )
    done = 0
    for run in kids:
        rows = per_arm.get(run.data.tags.get("arm", ""))
        if rows and run.info.status == "FINISHED":
            log_metrics(c, run.info.run_id, rows)
            set_tags(c, run.info.run_id, {keys.DELTA_REFERENCE_TAG: reference})
            done += 1
    return done


def report_note(markdown: str) -> str:
    """A report's Markdown as a run description: plots are files beside report.md, which the
    description cannot show, so each becomes a line naming its artifact."""
    return re.sub(
        r"!\[([^\]]*)\]\(([^)]+)\)", lambda m: f"*{m[1]}* (plot: `{keys.REPORT_DIR}/{m[2]}`)", markdown
    )


# -- the run of one arm ----------------------------------------------------------------------------


# Sections only training reads: an untrained arm (train: false) does not log them as params, so its
# row in the UI does not claim a LoRA rank or learning rate it never used.
TRAIN_ONLY_SECTIONS = ("train", "erft", "memory", "lora", "data")


class ArmRun:
    """The MLflow child run of one ArmPlan: its tags, configuration, training curves, suites, status.

    `description` becomes the run's description in the UI (`runner.arm_description`)."""

    def __init__(self, c: MlflowClient, experiment_id: str, parent_id: str, unit, description: str = ""):
        self.c = c
        self.seed = unit.seed
        self.arm = unit.arm
        self.trains = unit.train
        self.capacity: int | None = None  # replay-memory entries per slot, from the configuration
        tags = {
            "arm": unit.arm,
            "seed": str(unit.seed),
            "role": unit.role,
            keys.TRAINED_TAG: str(bool(unit.train)).lower(),
            "experiment": unit.experiment,
            **unit.tags,
        }
        self.run_id = start_child(c, experiment_id, parent_id, unit.run_name, tags)
        if description:
            set_note(c, self.run_id, description)
        self.heartbeat = Heartbeat(c, self.run_id)
        self.curves: CurveForwarder | None = None

    def log_config(self, cfg, config_file: Path) -> None:
        from harness.experiment import flatten

        set_tags(self.c, self.run_id, {"variant": cfg.variant or "none", "preset": cfg.model.preset})
        params = flatten(cfg.model_dump(mode="json"))
        if not self.trains:
            params = {k: v for k, v in params.items() if k.split(".", 1)[0] not in TRAIN_ONLY_SECTIONS}
        log_params(self.c, self.run_id, {keys.ARM_PARAM: self.arm, **params})
        self.capacity = cfg.memory.capacity
        self.c.log_artifact(self.run_id, str(config_file))

    def log_params(self, params: dict) -> None:
        log_params(self.c, self.run_id, params)

    def log_training_set(self, root: str | Path, rows: list[dict]) -> None:
        """The clips this arm trains on (path, caption) as a dataset input with context `training`."""
        root = Path(root)
        log_dataset(
            self.c,
            self.run_id,
            root.name,
            rows,
            dataset_digest(rows, str(root)),
            source=root,
            context="training",
        )

    def live_curves(self, train_folder: Path) -> CurveForwarder:
        """The forwarder of this run's training curves; call its `poll()` while training runs."""
        self.curves = CurveForwarder(
            self.c, self.run_id, train_folder / "metrics.jsonl", capacity=self.capacity
        )
        return self.curves

    def log_training(self, train_folder: Path, lora: Path | None = None) -> None:
        """The trainer's curves (what the live forwarder has not sent yet, or all of metrics.jsonl for
        a training that was skipped), metrics.jsonl itself (the per-slot replay-memory values MLflow
        gets only reduced) and, when training finished, its LoRA."""
        metrics = train_folder / "metrics.jsonl"
        if self.curves is not None:
            self.curves.poll(final=True)
        else:
            log_training_metrics(self.c, self.run_id, metrics, self.capacity)
        if metrics.is_file():
            self.c.log_artifact(self.run_id, str(metrics), keys.TRAIN_METRICS_ARTIFACT)
        if lora is not None:
            self.c.log_artifact(self.run_id, str(lora))

    def log_suite(
        self,
        track: str,
        manifest: dict,
        videos: Path,
        report: dict,
        scores: Path,
        *,
        source: Path | None = None,
        prompts: dict[str, tuple[str, ...]] | None = None,
        review: Path | None = None,
    ) -> None:
        """One track's inputs (dataset: `source` is the benchmark's track folder, `prompts` each
        sample's prompt text), videos with labelled keyframe strips, per-clip images and a preview
        (written into `review`, default the arm's `review/` folder), scores (also in percent where the
        report shows percent), drift curves, backends."""
        from benchmarks.metrics.specs import SPECS

        set_tags(self.c, self.run_id, {keys.SUITE_DIGEST_PREFIX + track: manifest["digest"]})
        rows = prompt_rows(manifest, prompts)
        digest = dataset_digest(manifest["digest"], str(source) if source else None)
        log_dataset(self.c, self.run_id, track, rows, digest, source=source)
        mp4s = sorted(videos.glob("*.mp4"))
        for mp4 in mp4s:
            self.c.log_artifact(self.run_id, str(mp4), f"videos/{track}")
        self._log_review(track, mp4s, review or videos.parent.parent / "review")
        rows = [(keys.score_key(track, m), v, 0) for m, v in report["aggregate"].items()]
        for m, v in report["aggregate"].items():
            if m in SPECS and SPECS[m].scale == 100.0 and v is not None:
                rows.append((keys.percent_key(track, m), v * 100.0, 0))
        clips = 0
        for m, curve in drift_curves(report).items():
            rows += [(keys.drift_key(track, m), v, k) for k, v in enumerate(curve)]
            clips = max(clips, len(curve))
        rows += [(keys.CLIP_KEY, k, k) for k in range(clips)]  # the drift charts' x axis (harness/ui.py)
        log_metrics(self.c, self.run_id, rows)
        set_tags(self.c, self.run_id, {keys.backend_tag(m): b for m, b in report["backends"].items()})
        for f in sorted(scores.glob("scores.*")):
            self.c.log_artifact(self.run_id, str(f), f"scores/{track}")
        log_samples(self.c, self.run_id, track, self.seed, report)

    def _log_review(self, track: str, mp4s: list[Path], review: Path) -> None:
        """Keyframe strips (beside each video), one image per clip (`log_image`, step = clip) and the
        track's preview at the artifact root. A video that cannot be read for review leaves a warning,
        not a failed arm: the scores are what the run is for."""
        from harness import media

        try:
            for mp4 in mp4s:
                frames = media.keyframes(mp4)
                strip = mp4.with_suffix(".keyframes.png")
                if not media.up_to_date([strip], [mp4]):
                    media.keyframe_strip(frames, strip)
                self.c.log_artifact(self.run_id, str(strip), f"videos/{track}")
                key = keys.image_key(track, mp4.stem)
                for f in frames:
                    image = media.enlarge(f.frame, media.REVIEW_SHORT_SIDE)
                    self.c.log_image(self.run_id, image, key=key, step=f.step, synchronous=True)
            if mp4s:
                out = [review / keys.preview_name(track, ext) for ext in (".mp4", ".gif")]
                if not media.up_to_date(out, mp4s):
                    media.suite_preview(mp4s, *out)
                for f in out:
                    self.c.log_artifact(self.run_id, str(f))
        except Exception as e:  # noqa: BLE001 - any decoder or encoder error
            from harness.console import say

            say(f"{self.arm} seed {self.seed}: {track}: review media not logged ({type(e).__name__}: {e})")

    def log_metrics(self, rows: list[tuple[str, float, int]]) -> None:
        log_metrics(self.c, self.run_id, rows)

    def set_tags(self, tags: dict[str, str]) -> None:
        set_tags(self.c, self.run_id, tags)

    def finish(self, status: str = "FINISHED") -> None:
        self.heartbeat.stop()
        finish(self.c, self.run_id, status)

    def fail(self, error: str, files: list[Path]) -> None:
        """Mark the run FAILED with `error` (a tag) and `files` (artifacts), logging what it can: a
        failure path must not raise (on a full disk the artifact store may refuse), or the run would
        stay RUNNING until the next invocation reaps it."""
        self.heartbeat.stop()
        for f in files:
            try:
                if f.is_file():
                    self.c.log_artifact(self.run_id, str(f))
            except Exception:  # noqa: BLE001 - the status matters more than the attachment
                pass
        try:
            set_tags(self.c, self.run_id, {"error": scrub(error)[:5000]})
        except Exception:  # noqa: BLE001
            pass
        finish_quietly(self.c, self.run_id, "FAILED")


def samples_table(track: str, seed: int, report: dict):
    """A scores report (`SuiteScores.to_json()`) as the per-sample table the reports recompute from.

    One row per (video, window) and per video (`stream.report_rows` without its suite row), with
    columns `keys.SAMPLE_COLUMNS` (sample = the video's stem) and one per metric. Set-level metrics
    (FVD) have no per-video value: their column is null and the run's final score is the set value.
    """
    import pandas as pd

    from benchmarks.metrics.stream import report_rows

    rows = [r for r in report_rows(report) if r["level"] != "suite"]
    table = pd.DataFrame(
        rows, columns=["level", "video", "window", "start_frame", "end_frame", *report["aggregate"]]
    )
    table = table.rename(columns={"video": "sample"}).assign(track=track, seed=int(seed))
    table["window"] = table["window"].astype("Int64")  # integers with nulls for the video rows
    metrics = list(report["aggregate"])
    table[metrics] = table[metrics].astype(float)  # None (no value) -> NaN, written as null
    return table[[*keys.SAMPLE_COLUMNS, *metrics]]


def log_samples(c: MlflowClient, run_id: str, track: str, seed: int, report: dict) -> None:
    """Log a track's per-sample table (`samples_table`) to the run as `keys.samples_artifact(track)`."""
    import warnings

    with warnings.catch_warnings():  # MLflow's hint about integer columns concerns model signatures
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
        c.log_table(
            run_id, data=samples_table(track, seed, report), artifact_file=keys.samples_artifact(track)
        )


def drift_curves(report: dict) -> dict[str, list[float | None]]:
    """metric -> per-clip mean over videos of the window values (index = clip)."""
    curves: dict[str, list[float | None]] = {}
    for name in report["aggregate"]:
        per_video = [v["window_scores"].get(name) or [] for v in report["videos"]]
        length = max((len(w) for w in per_video), default=0)
        curve = []
        for k in range(length):
            vals = [w[k] for w in per_video if k < len(w) and w[k] is not None]
            curve.append(sum(vals) / len(vals) if vals else None)
        curves[name] = curve
    return curves


# -- liveness: heartbeats, and runs whose process vanished -----------------------------------------

# A RUNNING run refreshes its heartbeat tag every HEARTBEAT_SECONDS; one silent for STALE_SECONDS
# (several missed beats: a tracking server that is briefly down must not get live runs failed) is
# taken for dead. Environment overrides exist for tests and for clusters with slow stores.
HEARTBEAT_SECONDS = float(os.environ.get("HARNESS_HEARTBEAT_SECONDS", 60))
STALE_SECONDS = float(os.environ.get("HARNESS_STALE_SECONDS", 10 * 60))
HEARTBEAT_TAG, HOST_TAG, PID_TAG, PID_START_TAG = (
    "harness.heartbeat",
    "harness.host",
    "harness.pid",
    "harness.pid_start",
)
FAILURE_TAG = "failure"


class Heartbeat:
    """A daemon thread that stamps `run_id` with the time every `HEARTBEAT_SECONDS`, beside the host and
    process that own it, so `reap_stale` can tell a live run from one whose process was SIGKILLed or
    whose node was lost. A failed stamp (the server is briefly unreachable) is skipped, not raised."""

    def __init__(self, c: MlflowClient, run_id: str, every_seconds: float | None = None):
        import psutil

        self.c, self.run_id = c, run_id
        self.every = every_seconds or HEARTBEAT_SECONDS
        me = psutil.Process()
        set_tags(
            c,
            run_id,
            {
                HOST_TAG: socket.gethostname(),
                PID_TAG: str(me.pid),
                PID_START_TAG: f"{me.create_time():.2f}",
                HEARTBEAT_TAG: f"{time.time():.0f}",
            },
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.c.set_tag(self.run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
            except Exception:  # the next beat tries again; only a long silence marks the run stale
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _process_gone(tags: dict[str, str]) -> bool:
    """The run's owner ran on this host and its process no longer exists (same PID, same start time)."""
    import psutil

    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    try:
        p = psutil.Process(int(tags[PID_TAG]))
        return abs(p.create_time() - float(tags.get(PID_START_TAG, p.create_time()))) > 1.0
    except (psutil.NoSuchProcess, ValueError):
        return True


def stale_reason(tags: dict[str, str], now: float | None = None) -> str | None:
    """Why a RUNNING run with these tags is dead, or None while it may be alive (or never beat)."""
    if HEARTBEAT_TAG not in tags:
        return None  # runs written before heartbeats, and parents waiting on jobs they do not watch
    if _process_gone(tags):
        return f"its process {tags[PID_TAG]} on {tags[HOST_TAG]} is gone"
    silent = (now or time.time()) - float(tags[HEARTBEAT_TAG])
    if silent > STALE_SECONDS:
        return f"no heartbeat for {silent / 60:.0f} min (last from {tags.get(HOST_TAG, '?')})"
    return None


def reap_stale(c: MlflowClient, experiment_id: str) -> list[str]:
    """Mark FAILED every RUNNING run of the experiment whose process vanished without marking it (SIGKILL,
    node loss), with tag `failure` saying why. -> the run ids marked. Called by `run` and `report`."""
    marked = []
    runs = c.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=5000)
    for run in runs:
        reason = stale_reason(run.data.tags)
        if reason is None:
            continue
        try:
            set_tags(c, run.info.run_id, {FAILURE_TAG: f"stale: {reason}"})
            finish(c, run.info.run_id, "FAILED")
            marked.append(run.info.run_id)
        except Exception:  # another process reaped it first
            continue
    return marked


# -- live training curves --------------------------------------------------------------------------


class CurveForwarder:
    """Forwards the trainer's metrics.jsonl (rank 0's loss, grad norm, replay-memory statistics reduced
    over their slots by `reduce_slots`) to the run while training runs, in batches of at most one call
    per `every_seconds`.

    Only complete lines are read, from where the last read stopped. Rows that cannot be sent (the store
    is unreachable) stay pending and go with the next call, so the curves catch up and training never
    waits for tracking. A resumed trainer rewrites the steps after its checkpoint: steps at or below the
    last one forwarded are not sent twice (a resume reproduces them exactly).
    """

    def __init__(
        self,
        c: MlflowClient,
        run_id: str,
        metrics_file: Path,
        every_seconds: float = 10.0,
        capacity: int | None = None,
    ):
        self.c, self.run_id, self.path, self.every = c, run_id, metrics_file, every_seconds
        self.capacity = capacity  # replay-memory entries per slot: fill fractions (`reduce_slots`)
        self.offset = 0
        self.last_step = -1
        self.pending: list[tuple[str, float, int]] = []
        self.last_sent = 0.0
        self.failures = 0

    def _read_new(self) -> None:
        if not self.path.is_file():
            return
        size = self.path.stat().st_size
        if size < self.offset:  # truncated by a resume: read again, skipping steps already sent
            self.offset = 0
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read(size - self.offset)
        end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next read
        self.offset += end
        for line in chunk[:end].decode(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            step = rec.pop("step", None)
            if not isinstance(step, int) or step <= self.last_step:
                continue
            self.last_step = step
            self.pending += [(k, v, step) for k, v in reduce_slots(rec, self.capacity).items()]

    def poll(self, final: bool = False) -> None:
        """Send what is new; `final`: now, and raise if the store still refuses (the stage's end)."""
        if not final and time.monotonic() - self.last_sent < self.every:
            return
        self.last_sent = time.monotonic()
        self._read_new()
        if not self.pending:
            return
        try:
            log_metrics(self.c, self.run_id, self.pending)
            self.pending = []
        except Exception:
            self.failures += 1
            if final:
                raise


class SystemMetrics:
    """MLflow's system metrics (CPU, memory, disk, network; GPU where pynvml sees one) on `run_id` while
    a stage runs, sampled every `seconds` on this host (the node that runs the arm's rank 0)."""

    def __init__(self, run_id: str, seconds: float = 10.0):
        import logging

        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)  # no start/stop chatter
        self.monitor = SystemMetricsMonitor(
            run_id, sampling_interval=seconds, resume_logging=True, tracking_uri=workspace.tracking_uri()
        )

    def __enter__(self) -> SystemMetrics:
        try:
            self.monitor.start()
        except Exception:  # monitoring must never stop the work it watches
            self.monitor = None
        return self

    def __exit__(self, *exc) -> None:
        if self.monitor is not None:
            try:
                self.monitor.finish()
            except Exception:
                pass


def settle_submitted(c: MlflowClient, experiment_id: str) -> list[str]:
    """Finish the parents of `harness run --no-wait` (tag harness.awaiting=jobs) whose jobs have all
    ended: every job's child run exists and none is RUNNING. -> the parent run ids finished."""
    done = []
    parents = c.search_runs(
        [experiment_id],
        filter_string="attributes.status = 'RUNNING' and tags.`harness.awaiting` = 'jobs'",
        max_results=1000,
    )
    for p in parents:
        jobs = [j for j in p.data.tags.get("harness.jobs", "").split(",") if j]
        kids = c.search_runs(
            [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{p.info.run_id}'", max_results=5000
        )
        units = {(k.data.tags.get("arm"), k.data.tags.get("seed")) for k in kids}
        if len(units) >= len(jobs) and all(k.info.status != "RUNNING" for k in kids):
            set_tags(c, p.info.run_id, {"harness.awaiting": "done"})
            finish(c, p.info.run_id, "FINISHED")
            done.append(p.info.run_id)
    return done
