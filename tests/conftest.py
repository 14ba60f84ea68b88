"""Fixtures shared by the test packages."""

from pathlib import Path

import pytest

# DeepSpeed compiles its CPU communication op on first use; a run keeps the build in its workspace
# (cache/torch_extensions), which would rebuild it for every test's fresh workspace. The tests share
# one build here, as a user's TORCH_EXTENSIONS_DIR would.
SHARED_BUILDS = Path(__file__).resolve().parent.parent / ".cache" / "torch_extensions"

# Real servers (PostgreSQL, an S3 store, an MLflow server) for the team-mode tests: tests/servers.py
pytest_plugins = ["tests.servers"]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh workspace (HARNESS_HOME) with its own MLflow store and no benchmark from the environment."""
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "ws"))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("SVI_BENCHMARK", raising=False)
    monkeypatch.delenv("HARNESS_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("HARNESS_SWEEP_STORAGE", raising=False)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(SHARED_BUILDS))
    return tmp_path
