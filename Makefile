# One-command set-up on a fresh CPU machine: a virtual environment in .venv with the CPU build of
# torch installed first (so no dependency drags in a CUDA build), then the project and its extras.
# GPU users: see docs/index.md, "Installing on a GPU machine".

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export MLFLOW_DISABLE_TELEMETRY := true
export DS_ACCELERATOR ?= $(if $(wildcard /dev/nvidia0),cuda,cpu)

.PHONY: setup test test-other-cpu test-slow coverage lint demo docs clean constraints

setup: $(STAMP)

# constraints.txt pins every dependency to the versions CI last passed with (regenerate with
# `make constraints` after an upgrade); torch itself is pinned by TORCH_SPEC.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -c constraints.txt -e ".[dev,docs]"
	# VBench's RAFT / AMT-S model code, without VBench's pins (see scoring/vbench_models.py)
	$(PY) -m pip install --no-deps vbench==0.1.5
	touch $(STAMP)

constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(torch==|svi-harness|nvidia|triton)' > constraints.txt

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The default suite stays within 10 minutes on 2 cores; the end-to-end tests marked `slow`
# (multi-process DeepSpeed, real servers, toy runs end to end) run in CI after it (.ci/run).
# Both run on pytest-xdist workers, one per core (TEST_WORKERS=0: in this process); each worker's torch
# gets cores / workers threads (tests/conftest.py). Most tests keep one core busy, so two workers on 2
# cores take about 60% of the time of one. The default suite sends each test module to one worker
# (its module fixtures built once); the slow suite's tests take minutes each, so there a worker that
# runs out of tests takes half of the other's (worksteal) instead of waiting on a long module.
# COVERAGE=1 measures line coverage too: `make test COVERAGE=1 && make test-slow COVERAGE=1` adds the
# slow suite's lines to the default suite's and writes .cache/coverage.json (as .ci/run does).
TEST_WORKERS ?= auto
PYTEST := $(VENV)/bin/pytest -q -ra -n $(TEST_WORKERS) --durations=15
COVERAGE ?=
COV_FIRST := $(if $(COVERAGE),--cov --cov-report=)
COV_THEN := $(if $(COVERAGE),--cov --cov-append --cov-report=json:.cache/coverage.json)

test: lint
	$(PYTEST) --dist loadscope -m "not slow" $(COV_FIRST)

# The tests that compute floats along two paths (marked `floats` in tests/conftest.py: the metrics, the
# method, the toy world, the scripts over them, and every test promising bit-identity) once more,
# rounding as another CPU does: MKL's SSE4.2 kernels in place of the AVX-512 or AVX2 ones it picks by the
# CPU, PyTorch's scalar vector code (ATEN_CPU_CAPABILITY), one thread. A test that compares two paths'
# floats with == passes on one CPU and fails on another; this run shows it on any machine
# (docs/guides/testing.md, "Floats along two paths"). The rest of the suite meets no torch kernel whose
# rounding differs (reports/ imports no torch: tests/test_layering.py holds it to that).
test-other-cpu: setup
	MKL_ENABLE_INSTRUCTIONS=SSE4_2 ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 \
		$(PYTEST) --dist loadscope -m "floats and not slow" -p no:cacheprovider

test-slow: setup
	$(PYTEST) --dist worksteal -m slow $(COV_THEN)

# Line coverage of the packages over the default and slow suites together (pytest-cov; [tool.coverage]
# in pyproject.toml): the total and each file's share on stdout, the figures in .cache/coverage.json.
coverage: setup
	$(PYTEST) --dist worksteal -p no:cacheprovider --cov --cov-report=term --cov-report=json:.cache/coverage.json

demo: setup
	MLFLOW_DISABLE_TELEMETRY=true $(VENV)/bin/harness run ablation_eimg_demo

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or a page missing from the nav
# fails the build; docs/cli.md is generated from the harness's own parsers (docs/hooks/cli_reference.py).
docs: setup
	$(VENV)/bin/mkdocs build --strict --site-dir .cache/site

clean:
	rm -rf $(VENV) .cache workspace .pytest_cache

# Crosscheck of scoring/ against the vbench package's own functions (manual; not part of
# test or CI). VBench's modules need torchvision, which has no build for .venv's CPU torch, so a second
# venv gets PyPI's default torch with its matching torchvision (CUDA builds that run on the CPU; about
# 4 GB), the run-time imports of the checked vbench modules, and vbench 0.1.5 itself without its pins.
# --isolated keeps pip from preferring a local CPU torch wheel (find-links) that torchvision cannot load;
# openai-clip (imported by background_consistency / aesthetic_quality) needs pkg_resources: setuptools<81.
# See benchmarks/crosscheck/README.md.
CROSSCHECK_VENV ?= .cache/crosscheck-venv
CROSSCHECK_PY := $(CROSSCHECK_VENV)/bin/python
CROSSCHECK_TORCH ?= torch==2.13.0 torchvision==0.28.0
CROSSCHECK_STAMP := $(CROSSCHECK_VENV)/.installed

.PHONY: crosscheck

$(CROSSCHECK_STAMP):
	test -x $(CROSSCHECK_PY) || $(PYTHON) -m venv $(CROSSCHECK_VENV)
	$(CROSSCHECK_PY) -m pip install --isolated $(CROSSCHECK_TORCH)
	$(CROSSCHECK_PY) -m pip install "numpy<2" scipy opencv-python-headless decord easydict omegaconf \
		Pillow imageio tqdm pyyaml ftfy regex "setuptools<81"
	$(CROSSCHECK_PY) -m pip install --no-deps vbench==0.1.5 openai-clip==1.0.1
	touch $@

crosscheck: setup $(CROSSCHECK_STAMP)
	$(PY) benchmarks/crosscheck/run.py --vbench-python $(CROSSCHECK_PY) --out .cache/crosscheck/report.json
