# One-command set-up on a fresh CPU machine: a virtual environment in .venv with the CPU build of
# torch installed first (so no dependency drags in a CUDA build), then the project and its extras.
# GPU users: see README, "Installing on a GPU machine".

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

export MLFLOW_DISABLE_TELEMETRY := true
export TORCH_EXTENSIONS_DIR := $(CURDIR)/.cache/torch_extensions
export DS_ACCELERATOR ?= $(if $(wildcard /dev/nvidia0),cuda,cpu)

.PHONY: setup test lint demo clean constraints

setup: $(STAMP)

# constraints.txt pins every dependency to the versions CI last passed with (regenerate with
# `make constraints` after an upgrade); torch itself is pinned by TORCH_SPEC.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -c constraints.txt -e ".[dev]"
	# VBench's RAFT / AMT-S model code, without VBench's pins (see benchmarks/metrics/vbench_models.py)
	$(PY) -m pip install --no-deps vbench==0.1.5
	touch $(STAMP)

constraints:
	$(PY) -m pip freeze --exclude-editable | grep -v -i -E '^(torch==|svi-harness|nvidia|triton)' > constraints.txt

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(VENV)/bin/pytest -q -ra

demo: setup
	$(VENV)/bin/harness demo

clean:
	rm -rf $(VENV) .cache workspace .pytest_cache
