# dmslab — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env demo test test-browser lint bench fuzz lab clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

env: $(STAMP)

demo: env
	$(BIN)/dmslab --home demo-data demo

# JupyterLab on the site's store (the settings of DMSLAB_HOME / DMSLAB_DATABASE_URL), loopback and a token, with
# the starter notebook notebooks/prototype.ipynb; `make lab LAB_HOME=demo-data` opens it on the demo data.
LAB_HOME ?=
lab: env
	$(BIN)/dmslab $(if $(LAB_HOME),--home $(LAB_HOME)) lab

test: env
	$(BIN)/python -m pytest

# Only the dashboards in headless chromium (tests/dashboards/test_browser.py; `make test` runs them too).
test-browser: env
	$(BIN)/python -m pytest tests/dashboards/test_browser.py

lint: env
	$(BIN)/ruff check dmslab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Coverage-guided fuzzing (docs/fuzzing.md): every target for FUZZ_S seconds; prints executions, coverage, findings.
FUZZ_S ?= 600
fuzz: env
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_S)

# the bench extra: duckdb (bench_audit.py) and pyskindose (bench_skindose.py compares against it)
bench: env
	$(BIN)/python -m pip install -q -e ".[bench]"
	for f in bench/bench_*.py; do echo "### $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf demo-data bench-data .pytest_cache .mypy_cache .ruff_cache
