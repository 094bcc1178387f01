# namespace-ctl: every target creates its own .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/config.yaml

.PHONY: run test lint demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Until the Slack bot lands, `run` shows the state of the example (simulated) cluster.
run: $(STAMP)
	$(BIN)/namespace-ctl --config $(CONFIG) status

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

clean:
	rm -rf $(VENV) .nsctl .pytest_cache .mypy_cache .ruff_cache .hypothesis
