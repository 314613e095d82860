"""Where the study keeps things on disk, in one place.

Everything is relative to the project root (the folder with ``pyproject.toml``
and ``study.yaml``), found from this file for an editable install and from the
working directory otherwise. ``PERSONA_JUDGE_DATA`` moves the data folder (the
Hub copies, fixtures, LLM cache and run artifacts) elsewhere, e.g. to a big disk.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The repository root: the nearest parent holding ``study.yaml`` and ``pyproject.toml``."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "study.yaml").is_file() and (folder / "pyproject.toml").is_file():
                return folder
    return Path.cwd().resolve()


def data_dir() -> Path:
    """The data folder (git-ignored contents): ``$PERSONA_JUDGE_DATA`` or ``<root>/data``."""
    env = os.environ.get("PERSONA_JUDGE_DATA")
    return Path(env).expanduser().resolve() if env else project_root() / "data"


def hub_dir() -> Path:
    """Local copies of Hugging Face Hub datasets, downloaded once."""
    return data_dir() / "hub"


def fixtures_dir() -> Path:
    """Generated, schema-exact fixture copies of the benchmark (smoke runs and tests)."""
    return data_dir() / "fixtures"


def cache_path(mode: str) -> Path:
    """The SQLite LLM cache for a run mode; smoke and real answers never share a file."""
    return data_dir() / "cache" / f"llm-{mode}.sqlite"


def runs_dir() -> Path:
    """Per-run artifacts (fitted personas, predictions) written by the notebooks."""
    return data_dir() / "runs"
