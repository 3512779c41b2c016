# Two commands for a fresh machine: `make repro` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: repro test lint bench clean

$(BIN)/digits: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(BIN)/pytest: $(BIN)/digits
	$(BIN)/pip install --quiet -e '.[test,lint]'
	@touch $@

repro: $(BIN)/digits  ## install into .venv, then run the whole pipeline
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(BIN)/pytest  ## install what tests need, then lint, type-check and test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

bench: $(BIN)/digits  ## seed-network training speed against plain float64 NumPy (needs ../shared data)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/seed_speed.py

clean:
	rm -rf $(VENV)
