# namespace-ctl: every target creates its own .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/config.yaml
PORT ?= 3000
# The project's version, from pyproject.toml: the image tag and its OCI version label.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

# The web page's third-party assets (Bootstrap, FullCalendar, luxon, Chart.js), from the npm
# registry by web/package-lock.json, copied into bot/web/static/vendor.
WEB_ASSETS := bot/web/static/vendor/versions.json

.PHONY: run test lint demo bench image clean web

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The bot on the example config (simulated cluster, SQLite): with no Slack tokens in the
# environment, the console on stdin; the jobs run and /healthz, /readyz answer on $(PORT).
run: $(STAMP) $(WEB_ASSETS)
	$(BIN)/namespace-ctl --config $(CONFIG) serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/mypy core

test: lint $(WEB_ASSETS)
	$(BIN)/pytest

web: $(WEB_ASSETS)

$(WEB_ASSETS): web/package.json web/package-lock.json web/build.mjs
	cd web && npm ci --no-audit --no-fund --loglevel=error
	node web/build.mjs

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.report_reads
	$(BIN)/python -m bench.failover
	$(BIN)/python -m bench.api_namespaces
	$(BIN)/python -m bench.throttled
	$(BIN)/python -m bench.cold_start
	$(BIN)/python -m bench.readiness

# The container image (Dockerfile; needs a Docker engine with BuildKit). No venv needed.
# The web page's vendor assets are built here (npm, by the lock file) and copied with bot/.
image: $(WEB_ASSETS)
	docker build --build-arg VERSION=$(VERSION) -t namespace-ctl:$(VERSION) .

clean:
	rm -rf $(VENV) .nsctl .pytest_cache .mypy_cache .ruff_cache .hypothesis
