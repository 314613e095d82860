# Two commands for a new user (Python 3.11 and PyPI reachable):
#   make study   -- set up .venv if needed, run the study's notebooks, build the book
#   make test    -- set up .venv if needed, run the test suite (pytest + nbval)
# setup installs the test and reference extras (the reference arm: the authors' own code).
# Both are idempotent: the environment is (re)installed only when pyproject.toml changes.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODE   ?= real
ARGS   ?=

.PHONY: setup study test record book lint browser-setup browser-test

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,reference,reward-models]"
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

# The book in a real browser: system Chromium (Debian package) driven by Playwright.
# Idempotent; fails with a clear message if Chromium cannot be installed here.
browser-setup: setup
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium (apt-get install chromium)"; \
	  apt-get install -y chromium >/dev/null 2>&1 || \
	  { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }; } || true
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Chromium is not installed and could not be installed (needs apt-get as root)."; \
	  exit 3; }
	@test -f $(VENV)/.browser-installed -a $(VENV)/.browser-installed -nt pyproject.toml || { \
	  $(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,browser]" && \
	  touch $(VENV)/.browser-installed; }

browser-test: browser-setup
	$(PY) -m pytest tests/browser -p no:cacheprovider
