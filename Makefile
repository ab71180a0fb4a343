# Quick start: `make demo` and `make test`. Both build .venv/ at the repo root on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -c constraints-cpu.txt
DEMO_TEXT ?= Rice is often served in round bowls.

.PHONY: demo test sysdeps sysdeps-test check-nbs lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps re-run the install when the package metadata or the constraints change.
$(VENV)/.installed: $(BIN)/python setup.py settings.ini constraints-cpu.txt
	$(PIP) -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) -q -e ".[dev,train,fast,serve,eval]"
	touch $@

# System voices (flite, espeak-ng) speak test sentences and corpora; installed with apt when missing.
sysdeps:
	@bash scripts/install_sysdeps.sh

# The tests also drive the web UI in headless Chromium.
sysdeps-test:
	@bash scripts/install_sysdeps.sh --browser

demo: sysdeps $(VENV)/.installed
	@bash scripts/demo.sh "$(DEMO_TEXT)"

check-nbs: $(VENV)/.installed-dev
	@bash scripts/check_nbdev.sh

# ruff.toml: formatting of the notebooks, scripts and tests; lint of everything, the exported package included
lint: $(VENV)/.installed-dev
	$(BIN)/ruff format --check --quiet .
	$(BIN)/ruff check --quiet .

test: sysdeps-test $(VENV)/.installed-dev check-nbs lint
	$(BIN)/python -m pytest tests
	$(BIN)/nbdev_test --n_workers 2

clean-venv:
	rm -rf $(VENV)
