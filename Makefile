# Two commands for a new user (Python 3.11 and PyPI reachable):
#   make study   -- set up .venv if needed, run the study's notebooks, build the book
#   make test    -- set up .venv if needed, run the test suite (pytest + nbval)
# Both are idempotent: the environment is (re)installed only when pyproject.toml changes.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODE   ?= real
ARGS   ?=

.PHONY: setup study test record book lint

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

study: setup
	$(VENV)/bin/persona-judge run -p mode=$(MODE) $(ARGS)

test: setup
	$(PY) -m pytest

record: setup
	$(VENV)/bin/persona-judge run -p mode=smoke --record --no-book

book: setup
	$(VENV)/bin/persona-judge book

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
