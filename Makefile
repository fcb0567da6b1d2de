# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of PyTorch that lies on this machine's disk; any other spec pulls a CUDA build.
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

LINT := assistant web tests $(wildcard bench/*.py)

.PHONY: install run build test test-fast lint typecheck bench soak audit charts eval clean

install: $(STAMP)

# pip takes torch from this machine's disk (uv does not look there); uv, from PyPI, installs
# the rest in about 25 s against pip's 100 (a fresh venv, bytecode compiled by both), holding
# torch to the same pin so that no dependency can pull a CUDA build. Where uv cannot be had
# or fails, pip installs the rest from its own indexes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q $(TORCH)
	( $(BIN)/python -m pip install --disable-pip-version-check -q 'uv>=0.9' \
		&& $(BIN)/uv pip install -q --python $(BIN)/python --compile-bytecode $(TORCH) -e '.[dev]' ) \
		|| $(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

index/CURRENT: | $(STAMP)
	$(BIN)/mmn-assistant build

build: install
	$(BIN)/mmn-assistant build

PORT ?= 8000

run: install index/CURRENT
	$(BIN)/mmn-assistant serve --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/ruff check $(LINT)
	$(BIN)/ruff format --check $(LINT)
	$(BIN)/mypy
	$(BIN)/python -m pytest

# The fast loop: what needs no model, server, browser or long training (under 30 s).
test-fast: install
	$(BIN)/python -m pytest -q -m "not model and not server and not browser and not slow"

typecheck: install
	$(BIN)/mypy

# Figures, not tests: each script prints them and writes JSON under bench/results/.
# On an otherwise idle machine: about 45 minutes in all (load 13, scale 12, memory 5).
bench: install
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/floor.py --config default --config MMN_WORKERS=2 --config MMN_ONNX_SPIN=false
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/memory.py

# Issue 7's soak: 16 clients for 10 minutes.
soak: install
	$(BIN)/python bench/load.py --soak

charts: install
	$(BIN)/python bench/charts.py

# pip-audit cannot reach its advisory data from this machine (README, "Dependency audit");
# audit_latest.py checks what PyPI's package JSON does list.
audit: install
	-$(BIN)/pip-audit --progress-spinner off
	$(BIN)/python bench/audit_latest.py

# Retrieval quality on the gold set's test part, every variant side by side.
eval: install index/CURRENT
	$(BIN)/mmn-assistant eval tests/gold/test.jsonl --compare
	$(BIN)/mmn-assistant eval tests/gold/voices.jsonl --by-tag

lint: install
	$(BIN)/ruff check $(LINT)
	$(BIN)/ruff format --check $(LINT)

clean:
	rm -rf $(VENV) index/CURRENT index/versions index/.staging-*
