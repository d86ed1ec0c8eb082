# BigQuery-Lite. `make run` starts the app, `make test` runs the tests. Both install what they need first.
SHELL := /bin/bash
TOOLS := .tools
UV := $(TOOLS)/uv/bin/uv
BUN_DIR := $(TOOLS)/bun
BUN := $(BUN_DIR)/node_modules/.bin/bun
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
BUN_VERSION := 1.4.5
# bun (used by Reflex) reads the registry from the environment; reuse the one npm is configured with.
export NPM_CONFIG_REGISTRY ?= $(shell npm config get registry 2>/dev/null)
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export PATH := $(CURDIR)/$(BUN_DIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test setup setup-test bench lint clean check-exposure clickhouse-test-server

# check-exposure comes first, so an unsafe configuration is refused before anything is installed or built.
run: check-exposure setup ## Install what is missing, then start the API (:8000) and the UI (:3000)
	@scripts/run.sh

check-exposure:
	@scripts/run.sh --check-only

# The ClickHouse suites run a second time in server mode, over HTTP against the chdb-backed test server
# (tests/support, started by the suite itself; docs/clickhouse.md).
CLICKHOUSE_SUITES := tests/engines/test_conformance.py tests/engines/test_clickhouse_engine.py \
	tests/engines/test_parameters.py tests/engines/test_bulk_insert.py tests/engines/test_engine_sandbox.py \
	tests/engines/test_execution_graph.py tests/api/test_queries.py tests/api/test_query_parameters.py \
	tests/api/test_job_plan.py tests/api/test_schemas.py tests/api/test_system.py tests/schemas tests/loads \
	tests/jobs tests/bigquery tests/test_sample_data.py

test: setup-test ## Install what the tests need, then run them all
	$(VENV)/bin/ruff check bqlite_app engines bench tests
	$(PY) -m pytest -q
	BQLITE_TEST_CLICKHOUSE=server $(PY) -m pytest -q $(CLICKHOUSE_SUITES)

bench: setup ## Run the benchmarks and print their ratios
	$(PY) -m bench

# A ClickHouse-HTTP-compatible test server over chdb (a test fixture) on 127.0.0.1:$CH_TEST_PORT (default 18123),
# data in $CH_TEST_PATH (default: a dir under the system temp dir).
clickhouse-test-server: setup
	$(PY) -m tests.support.clickhouse_test_server

lint:
	$(VENV)/bin/ruff check bqlite_app engines tests bench

setup: $(VENV)/.synced $(BUN)

setup-test: setup $(VENV)/.playwright

$(UV):
	python3 -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet "uv==$(UV_VERSION)"

# Bytecode is compiled at install time: with PYTHONDONTWRITEBYTECODE set, every start would recompile every import
# (`bqlite --help` took 1.1 s instead of 0.2 s).
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python python3
	@touch $@

$(BUN):
	mkdir -p $(BUN_DIR)
	npm install --prefix $(BUN_DIR) --no-audit --no-fund --loglevel=error "bun@$(BUN_VERSION)"

# Browser tests drive Debian's Chromium: `playwright install` cannot download browsers offline.
$(VENV)/.playwright: $(VENV)/.synced
	@command -v chromium >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@touch $@

clean:
	rm -rf $(VENV) $(TOOLS) .web .states data
