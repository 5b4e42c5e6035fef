# Bootstrap + dev tasks for noex_trio.
#
# On a fresh machine with only Python 3.11 and make:
#     make test    # creates .venv-poetry/ (pinned Poetry) and .venv/ (project + dev deps), then lint, types, tests
#     make demo    # same set-up, then runs the demo
#
# The set-up is done once; it is redone only when pyproject.toml or poetry.lock change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
POETRY_VENV := .venv-poetry
POETRY_VERSION := 2.5.1
POETRY := $(POETRY_VENV)/bin/poetry
POETRY_STAMP := $(POETRY_VENV)/.poetry-$(POETRY_VERSION)
INSTALL_STAMP := $(VENV)/.installed

DEMO_ARGS ?=
BENCH_ARGS ?=
SOAK_ARGS ?=
PYTEST_ARGS ?=

# Poetry: project env in ./.venv, never prompt, never touch a keyring.
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_VIRTUALENVS_CREATE := true
export POETRY_NO_INTERACTION := 1
export POETRY_KEYRING_ENABLED := false
export PYTHON_KEYRING_BACKEND := keyring.backends.null.Keyring
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# An activated venv must not hijack where Poetry installs.
unexport VIRTUAL_ENV

.DEFAULT_GOAL := help

.PHONY: help install lock lint typecheck test demo bench soak format clean

help:
	@echo "make install    create .venv (project + dev deps) via pinned Poetry $(POETRY_VERSION)"
	@echo "make test       install + lint + typecheck + tests under coverage (fail-under from pyproject)"
	@echo "make demo       install + run the demo (DEMO_ARGS=...)"
	@echo "make lint       ruff format --check + ruff check + import layers (lint-imports)"
	@echo "make typecheck  mypy (config in pyproject.toml)"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make bench      install + python -m bench (BENCH_ARGS=...)"
	@echo "make soak       install + python -m tests.soak (SOAK_ARGS=...)"
	@echo "make lock       re-lock poetry.lock after editing pyproject.toml"
	@echo "make clean      remove .venv, .venv-poetry, coverage data and caches"

# ---------------------------------------------------------------- set-up

$(POETRY_STAMP):
	@test -n "$(PYTHON)" || { echo "error: no python3.11 / python3 found on PATH (set PYTHON=...)" >&2; exit 1; }
	rm -rf $(POETRY_VENV)
	$(PYTHON) -m venv $(POETRY_VENV)
	$(POETRY_VENV)/bin/python -m pip install --quiet --quiet "poetry==$(POETRY_VERSION)"
	@touch $@

$(INSTALL_STAMP): pyproject.toml poetry.lock | $(POETRY_STAMP)
	$(POETRY) check --lock
	$(POETRY) env use $(PYTHON)
	$(POETRY) install --with dev --no-interaction
	@touch $@

install: $(INSTALL_STAMP)

lock: | $(POETRY_STAMP)
	$(POETRY) lock

# ---------------------------------------------------------------- checks

lint: $(INSTALL_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo --no-cache

typecheck: $(INSTALL_STAMP)
	$(VENV)/bin/mypy

test: lint typecheck
	$(VENV)/bin/coverage erase
	$(VENV)/bin/coverage run -m pytest $(PYTEST_ARGS)
	$(VENV)/bin/coverage report

format: $(INSTALL_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# ---------------------------------------------------------------- run

demo: $(INSTALL_STAMP)
	@if [ -f examples/demo.py ]; then \
		echo "$(VENV)/bin/python -m examples.demo $(DEMO_ARGS)"; \
		$(VENV)/bin/python -m examples.demo $(DEMO_ARGS); \
	else \
		echo "$(VENV)/bin/python examples/quickstart.py $(DEMO_ARGS)"; \
		$(VENV)/bin/python examples/quickstart.py $(DEMO_ARGS); \
	fi

bench: $(INSTALL_STAMP)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

soak: $(INSTALL_STAMP)
	$(VENV)/bin/python -m tests.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(POETRY_VENV) .coverage .coverage.* htmlcov .mypy_cache .ruff_cache .pytest_cache .hypothesis dist
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
