"""Real servers for the team-mode tests: PostgreSQL, an S3-compatible store (moto), an MLflow server.

The team set-up of the README ("Team mode") on this machine: MLflow's tracking server on PostgreSQL
with its artifacts proxied to an S3 bucket, and Optuna studies on PostgreSQL. Registered in
tests/conftest.py; each fixture is session-scoped (a server starts once per test session, on a free
port, in its own temporary folder, and is stopped and deleted at teardown):

    postgres       a PostgreSQL cluster; `postgres.database(prefix)` creates a fresh database -> its URL;
                   `postgres.password_user(name, password)` a login that must give its password
    s3             moto's S3 server with one bucket; `s3.keys(prefix)` lists its objects
    mlflow_server  `mlflow server` on a PostgreSQL database, `--artifacts-destination s3://<bucket>/mlflow`
    auth_server    `mlflow server --app-name basic-auth` (README, "Team mode"): users and passwords

PostgreSQL needs its server binaries (initdb, pg_ctl), looked for in $SVI_TEST_PG_BIN, on PATH and under
/usr/lib/postgresql/<version>/bin; without them the tests that need it are skipped, saying why. It
refuses to run as root, so under root the cluster runs as the `postgres` user (runuser).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.run.launch import free_port

# Seconds a server may take to answer. The MLflow server takes about 20 s to start on this 2-core
# machine while another job keeps the cores busy (it imports most of MLflow and migrates its tables).
START_SECONDS = 180
PG_USER = "postgres"  # the cluster's superuser, and the OS user it runs as under root
# Members of this role log in over TCP with a password (scram-sha-256); everyone else is trusted, so the
# other tests connect without one.
PG_PASSWORD_GROUP = "svi_password_users"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def _wait(ready, proc: subprocess.Popen | None, what: str, log: Path) -> None:
    """Poll `ready()` until it is true; a RuntimeError with the server's log if it exits or times out."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; its log ({log}):\n{_tail(log)}")
        try:
            if ready():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer within {START_SECONDS} s; its log ({log}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (its own session: workers included), SIGKILL what is left."""
    for sig, wait_seconds in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_seconds)
            break
        except subprocess.TimeoutExpired:
            continue


# -- PostgreSQL -------------------------------------------------------------------------------------


def pg_bin_dir() -> Path | None:
    """The folder with initdb and pg_ctl, or None."""
    candidates = [Path(os.environ["SVI_TEST_PG_BIN"])] if os.environ.get("SVI_TEST_PG_BIN") else []
    if shutil.which("initdb"):
        candidates.append(Path(shutil.which("initdb")).parent)

    def version(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    return next((c for c in candidates if (c / "initdb").is_file() and (c / "pg_ctl").is_file()), None)


@dataclass
class Postgres:
    host: str
    port: int
    folder: Path

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` (psycopg 3, the driver the team set-up uses)."""
        return f"postgresql+psycopg://{PG_USER}@{self.host}:{self.port}/{database}"

    def database(self, prefix: str) -> str:
        """Create a new, empty database named `prefix_<random>` -> its URL."""

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def password_user(self, name: str, password: str, database: str) -> str:
        """A login role that must authenticate with `password`, owning `database` (made by
        `database(...)`, given as its URL) -> the database's URL as that user, with the password."""
        from psycopg import sql

        db = database.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                    sql.Identifier(name), sql.Literal(password), sql.Identifier(PG_PASSWORD_GROUP)
                )
            )
            conn.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db), sql.Identifier(name))
            )
        return f"postgresql+psycopg://{name}:{password}@{self.host}:{self.port}/{db}"

    def _admin(self):
        import psycopg

        return psycopg.connect(
            host=self.host, port=self.port, user=PG_USER, dbname="postgres", autocommit=True
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = pg_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install PostgreSQL "
            "(apt-get install postgresql) or set SVI_TEST_PG_BIN to the folder that holds them"
        )
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="svi-test-pg-"))
    if os.geteuid() == 0:  # initdb and postgres refuse root
        import pwd

        try:
            user = pwd.getpwnam(PG_USER)
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip(f"running as root and there is no `{PG_USER}` user to run PostgreSQL as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", PG_USER, "--"]
    folder.chmod(0o700)
    data, log, port = folder / "data", folder / "postgres.log", free_port()
    pg_ctl = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        init = subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8",
             "--no-sync"],
            capture_output=True, text=True,
        )  # fmt: skip
        if init.returncode:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        hba = data / "pg_hba.conf"  # first match wins: the password group's line goes first
        stat = hba.stat()
        hba.write_text(f"host all +{PG_PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        os.chown(hba, stat.st_uid, stat.st_gid)
        # A throw-away cluster: no fsync, and its socket in its own folder (not /var/run/postgresql).
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off"
        )
        start = subprocess.run(
            [*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
            capture_output=True,
            text=True,
        )
        if start.returncode:
            raise RuntimeError(f"PostgreSQL did not start:\n{start.stderr}\n{_tail(log)}")
        pg = Postgres("127.0.0.1", port, folder)
        with pg._admin() as conn:
            conn.execute(f"CREATE ROLE {PG_PASSWORD_GROUP} NOLOGIN")
        yield pg
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


# -- S3 (moto) -------------------------------------------------------------------------------------


@dataclass
class S3:
    endpoint: str
    bucket: str

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS["AWS_DEFAULT_REGION"],
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under `prefix`."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    folder = Path(tempfile.mkdtemp(prefix="svi-test-s3-"))
    port, log = free_port(), folder / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True,
        )  # fmt: skip
    store = S3(f"http://127.0.0.1:{port}", "svi-team")
    try:
        _wait(lambda: store.client().list_buckets() is not None, proc, "moto's S3 server", log)
        store.client().create_bucket(Bucket=store.bucket)
        yield store
    finally:
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


# -- MLflow server ---------------------------------------------------------------------------------


@dataclass
class MlflowServer:
    url: str
    backend: str  # the PostgreSQL URL of its store
    s3: S3
    prefix: str  # where in the bucket its artifacts go: s3://<bucket>/<prefix>/<experiment id>/...

    def artifact_keys(self, experiment_id: str = "") -> list[str]:
        """The bucket's objects of one experiment (or of all)."""
        return self.s3.keys(f"{self.prefix}/{experiment_id}/" if experiment_id else f"{self.prefix}/")


@pytest.fixture(scope="session")
def mlflow_server(postgres: Postgres, s3: S3) -> Iterator[MlflowServer]:
    import requests

    backend = postgres.database("mlflow")
    folder = Path(tempfile.mkdtemp(prefix="svi-test-mlflow-"))
    port, log, prefix = free_port(), folder / "mlflow.log", "mlflow"
    env = {
        **os.environ,
        **AWS,
        "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,  # the server's boto3 talks to moto, not AWS
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # no job runners (GenAI evaluation): five fewer processes, and a stop in seconds
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend,
             "--artifacts-destination", f"s3://{s3.bucket}/{prefix}", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{url}/health", timeout=2).ok, proc, "the MLflow server", log)
        yield MlflowServer(url, backend, s3, prefix)
    finally:
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


# -- MLflow server with basic auth -----------------------------------------------------------------


@dataclass
class AuthServer:
    url: str
    admin: str
    admin_password: str

    def add_user(self, name: str, password: str) -> None:
        """A user of the server (the admin's REST call), with the default permission (EDIT here)."""
        import requests

        reply = requests.post(
            f"{self.url}/api/2.0/mlflow/users/create",
            json={"username": name, "password": password},
            auth=(self.admin, self.admin_password),
            timeout=30,
        )
        reply.raise_for_status()


@pytest.fixture(scope="session")
def auth_server() -> Iterator[AuthServer]:
    """`mlflow server --app-name basic-auth` on SQLite (the team set-up's authentication; its extra
    dependency, Flask-WTF, is in the `team` extra)."""
    import requests

    folder = Path(tempfile.mkdtemp(prefix="svi-test-mlflow-auth-"))
    port, log = free_port(), folder / "mlflow.log"
    admin, admin_password = "admin", "admin-" + uuid.uuid4().hex[:12]
    ini = folder / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = EDIT\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        f"admin_username = {admin}\nadmin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth", "--backend-store-uri",
             f"sqlite:///{folder / 'mlflow.db'}", "--default-artifact-root", (folder / "artifacts").as_uri(),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: requests.get(f"{url}/health", timeout=2).ok, proc, "the basic-auth MLflow server", log)
        yield AuthServer(url, admin, admin_password)
    finally:
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)
