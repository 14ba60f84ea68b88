"""Fixtures shared by the test packages."""

import os
import sys
from pathlib import Path

import pytest

from harness.run.launch import threads_per_rank

# `make test` and `make test-slow` run on pytest-xdist workers, one per core (Makefile). Each worker,
# and every process a test starts from it, shares the cores out as a run's ranks do (cores / workers
# torch threads): two workers whose torch threads each spin on every core slow each other down many
# times over. An OMP_NUM_THREADS set by the user wins, as it does for a run.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(threads_per_rank(int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    if "torch" in sys.modules:  # imported before this file (a plugin): its pool is sized already
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

# DeepSpeed compiles its CPU communication op on first use; a run keeps the build in its workspace
# (cache/torch_extensions), which would rebuild it for every test's fresh workspace. The tests share
# one build here, as a user's TORCH_EXTENSIONS_DIR would.
SHARED_BUILDS = Path(__file__).resolve().parent.parent / ".cache" / "torch_extensions"

# `make test-other-cpu` runs the tests that compute floats along two paths (marked `floats` here) once more
# under another CPU's rounding: every test of the packages whose floats come from torch kernels (the
# metrics, the method, the toy world and the scripts over them), every test promising bit-identity, and
# the modules below that score or generate with torch in the test's own process. The rest of the suite
# (declarations, tracking, processes, reports in pandas) meets no kernel whose rounding differs.
FLOAT_FOLDERS = ("scoring", "svi", "toyworld", "benchmarks")
FLOAT_MODULES = ("harness/test_score_cli.py", "harness/test_generate_cli.py", "harness/test_truth_vae.py")


def pytest_collection_modifyitems(items):
    tests = Path(__file__).resolve().parent
    for item in items:
        where = Path(item.fspath).resolve().relative_to(tests).as_posix()
        if (
            where.split("/")[0] in FLOAT_FOLDERS
            or where in FLOAT_MODULES
            or item.get_closest_marker("bitwise")
        ):
            item.add_marker(pytest.mark.floats)


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


@pytest.fixture()
def one_thread():
    """torch on one thread for the test: bit-identical floats need one summation order (MKL may vary
    its thread count), so a test comparing bytes of two runs holds the order fixed."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
