# The e-commerce streaming warehouse. `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# Run a command with the project's settings (.env, then the environment) exported.
WITH_ENV := $(PY) -m pipeline exec --
PYTEST_ARGS ?=
LOCK := $(if $(shell command -v flock),flock .setup.lock,)

STREAM_ARGS ?=
GENERATE_ARGS ?=
DBT_ARGS ?=
DEMO_ARGS ?=
LIVE_ARGS ?=
DOCS_HOST ?= 127.0.0.1
DOCS_PORT ?= 8080
DASHBOARD_ARGS ?=

.PHONY: help setup up down status db psql generate stream ingest dbt freshness docs checkpoint dashboard bench test test-unit lint format clean clean-db demo live

help: ## List the targets (the default)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(INSTALLED) ## Create .venv and install the pinned dependencies (constraints.txt)

$(INSTALLED): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
	  || { echo "error: Python 3.11+ is needed ($(PYTHON) is $$($(PYTHON) -V 2>&1)); set PYTHON=python3.11" >&2; exit 2; }
	@# flock: `make stream` and `make generate` started together must not install at the same time
	$(LOCK) sh -c 'test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install --quiet --upgrade pip && \
	  $(PY) -m pip install --quiet -c constraints.txt -e ".[test]"'
	@touch $@

up: setup ## Start the project-managed PostgreSQL (or use yours) and apply sql/
	$(PY) -m pipeline up

down: setup ## Stop the project-managed PostgreSQL
	$(PY) -m pipeline down

status: setup ## Database, streaming checkpoint and ledger status (last batches, totals, files waiting)
	@$(PY) -m pipeline status && $(PY) -m ingestion status

db: setup ## Apply the idempotent DDL, roles and grants in sql/
	$(PY) -m pipeline db

psql: setup ## Open psql on the warehouse (ROLE=analyst|loader|transformer|auditor to pick a role)
	$(PY) -m pipeline psql $(if $(ROLE),--role $(ROLE))

generate: setup ## Feed the stream: fake events into the inputs folder until Ctrl-C (GENERATE_ARGS="--rate 5000")
	$(PY) -m generator $(GENERATE_ARGS)

stream: up ## Run the streaming job: inputs folder -> raw.ecommerce_events, until Ctrl-C (STREAM_ARGS=...)
	$(PY) -m ingestion $(STREAM_ARGS)

ingest: up ## Ingest every file waiting in the inputs folder, then exit (--once)
	$(PY) -m ingestion --once $(STREAM_ARGS)

dbt: up ## Build and test the dbt models (staging, marts) as the transformer role
	cd dbt_project && $(abspath $(PY)) -m pipeline exec -- $(abspath $(VENV))/bin/dbt build $(DBT_ARGS)

freshness: up ## Is the stream alive? dbt source freshness (warn after 15 min, error after 60)
	cd dbt_project && $(abspath $(PY)) -m pipeline exec -- $(abspath $(VENV))/bin/dbt source freshness

docs: up ## Generate the dbt docs and serve them (DOCS_PORT=8080, DOCS_HOST=127.0.0.1)
	cd dbt_project && $(abspath $(PY)) -m pipeline exec -- $(abspath $(VENV))/bin/dbt docs generate
	@echo "dbt docs: http://$(DOCS_HOST):$(DOCS_PORT)  (Ctrl-C stops)"
	cd dbt_project && $(abspath $(PY)) -m pipeline exec -- $(abspath $(VENV))/bin/dbt docs serve --host $(DOCS_HOST) --port $(DOCS_PORT) --no-browser

checkpoint: up ## Run the Great Expectations checkpoints (raw_layer, staging_layer, marts_layer)
	$(PY) -m expectations run --all

dashboard: up ## Serve the dashboard over the marts, as the analyst role (DASHBOARD_ARGS="--port 8060 --refresh 30")
	$(PY) -m dashboard $(DASHBOARD_ARGS)

bench: up ## Run every benchmark (prints figures; takes a while; own PostgreSQL on port 55435)
	$(PY) bench/bench_generator.py
	$(PY) bench/bench_ingestion.py
	$(PY) bench/bench_ingestion_cpu.py
	$(PY) bench/bench_latency.py
	$(PY) bench/bench_backlog.py
	$(PY) bench/bench_bigfile.py
	$(PY) bench/bench_dbt_incremental.py
	$(PY) bench/bench_gx_raw.py

test: setup ## Run every test (unit and integration; starts its own PostgreSQL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## Run the fast unit tests only (no services)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: setup ## ruff, sqlfluff on the dbt models, GX context in sync with its code (never rewrites files)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	cd dbt_project && $(abspath $(VENV))/bin/sqlfluff lint models tests
	$(PY) -m expectations sync --check

format: setup ## Rewrite Python files with ruff format and fix what ruff can
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

demo: up ## The whole pipeline end to end: generate -> stream (--once) -> dbt build -> checkpoints -> report
	$(PY) -m pipeline.demo $(DEMO_ARGS)

live: up ## Everything running: generator + stream + dbt every 5 s + checkpoints, a status line per cycle (LIVE_ARGS="--rate 5000")
	$(PY) -m pipeline.live $(LIVE_ARGS)

clean: ## Remove generated data, checkpoints and caches (keeps the database and .venv)
	rm -rf .warehouse/inputs .warehouse/archive .warehouse/quarantine .warehouse/checkpoints \
	  .warehouse/manifest.jsonl \
	  .warehouse/test .pytest_cache .ruff_cache dbt_project/target dbt_project/logs \
	  expectations/gx/uncommitted

clean-db: setup ## Stop the project-managed PostgreSQL and delete its data
	$(PY) -m pipeline destroy
