# The e-commerce streaming warehouse. `make` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ECOM := $(VENV)/bin/ecom
SYSTEM_PACKAGES := scripts/system-packages.sh
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
	@# plain `dbt` from the repository root once the venv is activated (.envrc does the same for direnv)
	@grep -q 'ecommerce-stream-warehouse' $(VENV)/bin/activate || printf '%s\n' \
	  '# ecommerce-stream-warehouse: the project'"'"'s settings and dbt project, for plain dbt and psql' \
	  'export DBT_PROJECT_DIR="$(CURDIR)/dbt_project" DBT_PROFILES_DIR="$(CURDIR)/dbt_project"' \
	  'if [ -f "$${ECOM_ENV_FILE:-$(CURDIR)/.env}" ]; then set -a; . "$${ECOM_ENV_FILE:-$(CURDIR)/.env}"; set +a; fi' \
	  >> $(VENV)/bin/activate
	@touch $@

up: setup ## Start the project-managed PostgreSQL (or use yours) and migrate the schema
	$(ECOM) up

down: setup ## Stop the project-managed PostgreSQL
	$(ECOM) down

status: setup ## Database, streaming checkpoint and ledger status (last batches, totals, files waiting)
	@$(ECOM) status

db: setup ## Apply pending schema migrations (sql/migrations), then roles and grants (sql/roles.sql)
	$(ECOM) db

psql: setup ## Open psql on the warehouse (ROLE=analyst|loader|transformer|auditor to pick a role)
	$(ECOM) psql $(if $(ROLE),--role $(ROLE))

generate: setup ## Feed the stream: fake events into the inputs folder until Ctrl-C (GENERATE_ARGS="--rate 5000")
	$(ECOM) generate $(GENERATE_ARGS)

stream: up ## Run the streaming job: inputs folder -> raw.ecommerce_events, until Ctrl-C (STREAM_ARGS=...)
	$(ECOM) stream $(STREAM_ARGS)

ingest: up ## Ingest every file waiting in the inputs folder, then exit (--once)
	$(ECOM) ingest $(STREAM_ARGS)

dbt: up ## Build and test the dbt models (staging, marts) as the transformer role
	$(ECOM) dbt build $(DBT_ARGS)

freshness: up ## Is the stream alive? dbt source freshness (warn after 15 min, error after 60)
	$(ECOM) dbt source freshness

docs: up ## Generate the dbt docs and serve them (DOCS_PORT=8080, DOCS_HOST=127.0.0.1)
	$(ECOM) dbt docs generate
	@echo "dbt docs: http://$(DOCS_HOST):$(DOCS_PORT)  (Ctrl-C stops)"
	$(ECOM) dbt docs serve --host $(DOCS_HOST) --port $(DOCS_PORT) --no-browser

checkpoint: up ## Run the Great Expectations checkpoints (raw_layer, staging_layer, marts_layer)
	$(ECOM) checkpoint run --all

dashboard: up ## Serve the dashboard over the marts, as the analyst role (DASHBOARD_ARGS="--port 8060 --refresh 30")
	$(ECOM) dashboard $(DASHBOARD_ARGS)

bench: setup ## Run every benchmark (prints figures; takes a while; own PostgreSQL on a free port)
	@bash $(SYSTEM_PACKAGES) bench
	$(PY) bench/bench_generator.py
	$(PY) bench/bench_ingestion.py
	$(PY) bench/bench_dialects.py
	$(PY) bench/bench_ingestion_cpu.py
	$(PY) bench/bench_latency.py
	$(PY) bench/bench_backlog.py
	$(PY) bench/bench_soak.py
	$(PY) bench/bench_bigfile.py
	$(PY) bench/bench_dbt_incremental.py
	$(PY) bench/bench_gx_raw.py

test: setup ## Run every test (unit and integration; installs missing system packages; own PostgreSQL)
	@bash $(SYSTEM_PACKAGES) test
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## Run the fast unit tests only (no services)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: setup ## ruff, the import layers, sqlfluff on the dbt models, GX context in sync (never rewrites files)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	cd dbt_project && $(abspath $(VENV))/bin/sqlfluff lint models tests
	$(PY) -m expectations sync --check
	bash -n $(SYSTEM_PACKAGES)

format: setup ## Rewrite Python files with ruff format and fix what ruff can
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

demo: setup ## The whole pipeline end to end: generate -> stream (--once) -> dbt build -> checkpoints -> report
	@bash $(SYSTEM_PACKAGES) demo
	$(ECOM) demo $(DEMO_ARGS)

live: up ## Everything running: generator + stream + dbt every 5 s + checkpoints, a status line per cycle (LIVE_ARGS="--rate 5000")
	$(ECOM) live $(LIVE_ARGS)

clean: ## Remove generated data, checkpoints and caches (keeps the database and .venv)
	rm -rf .warehouse/inputs .warehouse/archive .warehouse/quarantine .warehouse/checkpoints \
	  .warehouse/manifest.jsonl \
	  .warehouse/test .pytest_cache .ruff_cache dbt_project/target dbt_project/logs \
	  expectations/gx/uncommitted

clean-db: setup ## Stop the project-managed PostgreSQL and delete its data
	$(ECOM) destroy
