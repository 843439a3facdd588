# Candleflow: `make up` runs the local Airflow stack, `make test` the whole suite.
# Needs only Python 3.11+ and make: the Makefile bootstraps uv, which installs the
# locked dependencies (uv.lock) into .venv.

PYTHON ?= python3
UV_VERSION := 0.13.9
BOOT := .candleflow/bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# Byte-compile at install time: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every
# fresh process would otherwise recompile Airflow and Great Expectations from source.
export UV_COMPILE_BYTECODE := 1

.PHONY: up test lint bench soak install browser clean-venv help compose-check

help:
	@echo "make up     - install, start PostgreSQL and Airflow (UI on http://localhost:8080)"
	@echo "make test   - install and run the test suite"
	@echo "make lint   - ruff check and format check"
	@echo "make bench  - run the benchmarks and write benchmarks/README.md"
	@echo "make soak   - the stack under 20 minutes of injected faults, then checked (SOAK_MINUTES)"
	@echo "make compose-check - the scale-out check: build the images, run docker-compose.yaml for real"

$(UV):
	@mkdir -p .candleflow
	$(PYTHON) -m venv $(BOOT)
	$(BOOT)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

up: install
	$(VENV)/bin/candleflow up

# The chart-page test drives Debian's Chromium (no browser download at run time).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the chart-page test"; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "chromium not found: the chart-page test will skip (apt-get install chromium)"; fi; }

# make test runs the test suite and installs only what its tests need (Chromium for the
# chart page). The scale-out check (Docker engine, images, the compose stack) is its own
# target, make compose-check, which CI runs after make test.
test: install browser
	$(VENV)/bin/pytest

# The scale-out check: docker-compose.yaml for real (docker/compose_check.py; docs/scaling.md):
# a Docker engine if none runs (as root: Debian's docker.io), the images, the stack, an
# ohlcv_1h run and a history month through the REST API with a worker killed, the bars
# against the oracle, then teardown. About 12 minutes on a fresh 2-core machine.
compose-check: install
	$(VENV)/bin/python docker/compose_check.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(VENV)/bin/python benchmarks/run_all.py

# The soak (candleflow.testing.soak; docs/reliability.md): the make up stack with a few
# hundred symbols under a seeded schedule of faults for SOAK_MINUTES (default 20), then every
# bar and tick checked against the replay server. Not part of make test (which runs a short
# one, tests/e2e/test_soak.py). Its figures go to benchmarks/results/soak.json.
soak: install
	SOAK_RESULTS=benchmarks/results/soak.json $(VENV)/bin/python -m candleflow.testing.soak

clean-venv:
	rm -rf $(VENV) $(BOOT)
