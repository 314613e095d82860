"""Where the study keeps things on disk, in one place.

Everything is relative to the project root (the folder with ``pyproject.toml``
and ``study.yaml``), found from this file for an editable install and from the
working directory otherwise. ``PERSONA_JUDGE_DATA`` moves the data folder (the
Hub copies, fixtures, LLM cache and run artifacts) elsewhere, e.g. to a big disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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


def _slug(value: object) -> str:
    text = str(value).rsplit("/", 1)[-1]  # a model id's last part reads best
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in text).strip("-")[:40] or "x"


def run_dir(kind: str, settings: Mapping[str, Any], *, root: Path | None = None,
            create: bool = True) -> Path:
    """The results folder of one run, keyed by everything that defines the run.

    ``settings`` is every value that defines the run (mode, dataset, model, the users,
    seed, method settings, data revision when known); any change gives another folder,
    so saved results never mix runs. The name is a readable prefix (``kind`` and the
    mode, dataset and model when given) plus a short hash of the settings, and the
    folder holds ``settings.json`` with the settings in full. Created if missing, unless
    ``create=False`` (to look for a run's results without leaving an empty folder behind).
    """
    canonical = json.dumps(settings, sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(f"{kind}\n{canonical}".encode()).hexdigest()[:10]
    prefix = "-".join([_slug(kind)] + [_slug(settings[k]) for k in ("mode", "dataset", "model")
                                       if settings.get(k) is not None])
    folder = (root or runs_dir()) / f"{prefix}-{digest}"
    if not create:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(
        json.dumps({"kind": kind, **json.loads(canonical)}, indent=2, sort_keys=True,
                   ensure_ascii=False) + "\n", encoding="utf-8")
    return folder
