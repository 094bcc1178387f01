# namespace-ctl: every target creates its own .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/config.yaml
PORT ?= 3000
# The project's version, from pyproject.toml: the image tag and its OCI version label.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: run test lint demo bench image clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The bot on the example config (simulated cluster, SQLite): with no Slack tokens in the
# environment, the console on stdin; the jobs run and /healthz, /readyz answer on $(PORT).
run: $(STAMP)
	$(BIN)/namespace-ctl --config $(CONFIG) serve --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/mypy core

test: lint
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.report_reads
	$(BIN)/python -m bench.failover
	$(BIN)/python -m bench.api_namespaces

# The container image (Dockerfile; needs a Docker engine with BuildKit). No venv needed.
image:
	docker build --build-arg VERSION=$(VERSION) -t namespace-ctl:$(VERSION) .

clean:
	rm -rf $(VENV) .nsctl .pytest_cache .mypy_cache .ruff_cache .hypothesis
