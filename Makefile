# Bootstrap + dev tasks for noex_trio.
#
# On a fresh machine with only Python 3.11 and make:
#     make test    # creates .venv-poetry/ (pinned Poetry) and .venv/ (project + dev deps), installs
#                  # Debian's chromium when missing (as root), then lint, types, tests
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

.PHONY: help install browser lock lint typecheck test demo bench soak format clean

help:
	@echo "make install    create .venv (project + dev deps) via pinned Poetry $(POETRY_VERSION)"
	@echo "make test       install + browser + lint + typecheck + tests under coverage (fail-under from pyproject)"
	@echo "make browser    install Debian's chromium for the web dashboard's browser tests (as root)"
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

# The browser the web dashboard's tests drive (tests/test_observer_browser.py, through
# Playwright): Debian's chromium, never a downloaded one. Installed when missing and make runs
# as root with apt-get; otherwise this says what is missing and how to get it. The tests skip
# without it, except in CI (CI set), where this step fails instead: a skipped browser test
# would hide a broken dashboard. Nothing to do once the binary is there (no stamp needed).
CHROMIUM ?= /usr/bin/chromium
export NOEX_CHROMIUM := $(CHROMIUM)

browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests: apt-get install -y chromium"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium && \
		test -x "$(CHROMIUM)" || { echo "error: chromium installed, but $(CHROMIUM) is missing (set CHROMIUM=...)" >&2; exit 1; }; \
	else \
		echo "missing: $(CHROMIUM), the browser the web dashboard's tests drive (tests/test_observer_browser.py)" >&2; \
		echo "  install it:  sudo apt-get install chromium   (Debian; or run make as root, which installs it)" >&2; \
		echo "  or use another Chromium:  make test CHROMIUM=/path/to/chromium" >&2; \
		if [ -n "$$CI" ]; then echo "error: CI is set: failing instead of skipping the browser tests" >&2; exit 1; fi; \
		echo "the browser tests will be skipped" >&2; \
	fi

lock: | $(POETRY_STAMP)
	$(POETRY) lock

# ---------------------------------------------------------------- checks

lint: $(INSTALL_STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-logo --no-cache

typecheck: $(INSTALL_STAMP)
	$(VENV)/bin/mypy

test: browser lint typecheck
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
