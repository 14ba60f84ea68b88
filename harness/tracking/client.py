"""The tracking store: the client, the check that it answers (and accepts our credentials) before
anything is logged, and where an experiment keeps its artifacts."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from mlflow.tracking import MlflowClient

from harness.base import workspace
from harness.base.redact import redact_uri, scrub
from svi.config import ConfigError

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
            from harness.base.console import say

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
