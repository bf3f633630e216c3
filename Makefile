# Set-up and everyday tasks. Everything installs into .venv from this project's own files.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test lint install clean bench

$(BIN)/.installed: pyproject.toml
	sh scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## The main job on the bundled example data: the sales pipeline of a freelance web designer.
demo: $(BIN)/.installed
	$(BIN)/crm --dir examples pipeline --format table

## Lint, type-check and run the whole test suite.
test: $(BIN)/.installed lint
	$(BIN)/python -m pytest -n auto

lint: $(BIN)/.installed
	$(BIN)/ruff check crm tests
	$(BIN)/ruff format --check crm tests
	$(BIN)/mypy

## Time every command on generated folders of each size; writes docs/benchmarks.md.
## make bench SIZES=1000,10000 RUNS=3
SIZES ?= 1000,10000,100000
RUNS ?= 5
bench: $(BIN)/.installed
	$(BIN)/python bench/run.py --sizes $(SIZES) --runs $(RUNS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
