# hookline developer commands. Every target sets up .venv first if it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=
# two test processes: much of the suite waits on servers, sockets and PostgreSQL
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck contracts pytest screenshots bench bench-smoke clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

## Start hookline on SQLite (./.hookline) and print the API URL and the admin token.
run: $(STAMP)
	$(BIN)/hookline serve --dev --host $(HOST) --port $(PORT)

## The whole suite: lint, types, architecture contracts, tests.
test: lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=40 $(PYTEST_ARGS)

## The browser tests alone (Chromium), saving their screenshots into docs/screenshots: commit
## those. `make test` saves them into build/screenshots instead, leaving the tree clean.
screenshots: $(STAMP)
	HOOKLINE_SCREENSHOT_DIR=docs/screenshots $(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

## Every benchmark scenario with same-run baselines (SCENARIO=drain for one); writes
## docs/benchmarks.md and bench/results/latest.json.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(SCENARIO),--scenario $(SCENARIO))

## Deliveries per second for 10,000 messages to a local receiver.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.smoke

clean:
	rm -rf $(VENV) .hookline build dist src/*.egg-info
