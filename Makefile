# lhc-vae: two commands set everything up on a fresh machine with Python 3.11+.
#   make run   -> .venv + install + default event sample (if missing) + default pipeline
#   make test  -> .venv + install + the whole test suite (make lint: ruff check + format --check)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export MPLBACKEND := Agg
export ARROW_DEFAULT_MEMORY_POOL := jemalloc

.PHONY: install run test lint format bench viz clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "lhc-vae needs Python >= 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m lhc_vae.default_run

test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m lhc_vae.benchmarks.preprocessing

viz: $(STAMP)
	$(BIN)/kedro viz run

clean:
	rm -rf $(VENV) build
