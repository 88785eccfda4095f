# Everything a fresh Debian machine with Python 3 needs: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench test-systemd venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { \
	  echo "installing python3-venv"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv git >/dev/null; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,api]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mfn_tracker.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check mfn_tracker tests bench
	$(VENV)/bin/ruff format --check mfn_tracker tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict mfn_tracker

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(PY) bench/run_all.py

test-systemd: $(STAMP)
	bash tests/systemd/run_nspawn_test.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
