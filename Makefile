# distilvit: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel on this kind of machine's disk; an open `torch` pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.DEFAULT_GOAL := help
.PHONY: help install test lint bench

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY) ## create .venv with torch (CPU) and distilvit[dev]
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev]"

test: ## run the test suite
	$(PY) -m pytest -q

lint: ## ruff
	$(PY) -m ruff check src tests bench

bench: ## generation latency at the base architecture (random weights)
	$(PY) bench/generate_latency.py --json runs/bench/generate_latency.json
