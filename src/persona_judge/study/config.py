"""The study's settings: ``study.yaml``, command-line overrides, and what each chapter receives.

``study.yaml`` holds the study-wide settings (every top-level key except ``notebooks``)
and the chapters, in the order they run. A chapter entry may set:

* ``parameters``: values that override the study-wide settings for this chapter only;
* ``needs_llm: true``: the chapter calls an LLM; a real run without an endpoint writes a
  page that says how to enable it instead of executing it;
* ``optional: true``: if the chapter stops with an *expected* problem (a
  :class:`~persona_judge.errors.PersonaJudgeError`, e.g. gated data the user has no access
  to), its page explains the problem and the study goes on;
* ``grid``: a mapping of setting → list of values; the chapter runs once per combination
  (one papermill run per cell), each cell its own page.

Precedence, lowest first: study-wide settings < the chapter's ``parameters`` < its grid cell
< ``-p key=value`` on the command line. A ``-p`` value for a grid axis narrows the grid to
that value. Each notebook receives only the names its ``parameters`` cell declares.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError

MODES = ("real", "smoke", "local")  # local: fixtures judged by a local model (make real-check)


class StudyRunError(PersonaJudgeError, RuntimeError):
    """A notebook of the study failed, or the study cannot start; the message says which."""


@dataclass(frozen=True)
class Chapter:
    """One chapter of the study as ``study.yaml`` lists it."""

    name: str
    needs_llm: bool = False
    optional: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)
    grid: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return paths.project_root() / "notebooks" / f"{self.name}.ipynb"


@dataclass(frozen=True)
class ChapterRun:
    """One execution of a chapter: the chapter, its grid cell (if any) and its page name."""

    chapter: Chapter
    cell: Mapping[str, Any] = field(default_factory=dict)
    index: int = 0  # the cell's position in the grid (pages sort in grid order)

    @property
    def name(self) -> str:
        return self.chapter.name

    @property
    def page(self) -> str:
        """The page's path under ``book/executed`` without suffix (grid cells: a sub-folder)."""
        if not self.chapter.grid:
            return self.chapter.name
        return f"{self.chapter.name}/{self.index + 1:02d}--{cell_slug(self.cell)}"

    @property
    def label(self) -> str:
        if not self.cell:
            return self.name
        return f"{self.name} [{', '.join(f'{k}={v}' for k, v in self.cell.items())}]"


def cell_slug(cell: Mapping[str, Any]) -> str:
    """A readable, file-safe name for a grid cell, e.g. ``prism--llama-3.1-8b-instruct-turbo``."""
    parts = []
    for value in cell.values():
        text = str(value).rsplit("/", 1)[-1].lower()
        parts.append(re.sub(r"[^a-z0-9.]+", "-", text).strip("-") or "x")
    return "--".join(parts)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line, the value read as YAML (``max_users=null``)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise StudyRunError(f"parameter override {text!r} is not of the form key=value")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as err:
        raise StudyRunError(f"parameter override {text!r}: the value is not valid YAML "
                            f"({str(err).splitlines()[0]})") from None


def load_config(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The study configuration from YAML, with command-line overrides applied."""
    import yaml

    path = Path(path) if path else paths.project_root() / "study.yaml"
    if not path.is_file():
        raise StudyRunError(f"study configuration not found: {path}")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise StudyRunError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise StudyRunError(f"{path}: expected a mapping of settings at the top level")
    config.update(overrides or {})
    if config.get("mode") not in MODES:
        raise StudyRunError(f"{path}: setting 'mode' must be real, smoke or local, "
                            f"got {config.get('mode')!r}")
    return config


def study_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every study-wide setting (all top-level keys but the chapter list)."""
    return {k: v for k, v in config.items() if k != "notebooks"}


def chapters(config: Mapping[str, Any]) -> list[Chapter]:
    """The chapters ``study.yaml`` lists, checked: each has a name and a source notebook."""
    out = []
    for i, entry in enumerate(config.get("notebooks") or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise StudyRunError(f"study.yaml: notebooks[{i}] needs a 'name'")
        unknown = set(entry) - {"name", "needs_llm", "optional", "parameters", "grid"}
        if unknown:
            raise StudyRunError(f"study.yaml: notebooks[{i}] ({entry['name']}) has unknown "
                                f"key(s) {', '.join(sorted(unknown))}; allowed: name, "
                                "needs_llm, optional, parameters, grid")
        grid = entry.get("grid") or {}
        if not isinstance(grid, Mapping) or not all(
                isinstance(v, list) and v for v in grid.values()):
            raise StudyRunError(f"study.yaml: notebooks[{i}] ({entry['name']}): 'grid' must map "
                                "each setting to a non-empty list of values")
        chapter = Chapter(str(entry["name"]), bool(entry.get("needs_llm", False)),
                          bool(entry.get("optional", False)), dict(entry.get("parameters") or {}),
                          {str(k): tuple(v) for k, v in grid.items()})
        if not chapter.source.is_file():
            raise StudyRunError(f"study.yaml: notebooks[{i}]: {chapter.source} does not exist")
        out.append(chapter)
    if not out:
        raise StudyRunError("study.yaml lists no notebooks")
    return out


def expand(chapter: Chapter, overrides: Mapping[str, Any] | None = None) -> list[ChapterRun]:
    """The runs of a chapter: one, or one per grid cell (a ``-p`` value narrows its axis)."""
    if not chapter.grid:
        return [ChapterRun(chapter)]
    overrides = overrides or {}
    axes = {k: ((overrides[k],) if k in overrides else values)
            for k, values in chapter.grid.items()}
    return [ChapterRun(chapter, dict(zip(axes, combo, strict=True)), index)
            for index, combo in enumerate(itertools.product(*axes.values()))]


def declared_parameters(source: Path) -> set[str]:
    """The names a notebook's ``parameters`` cell declares (as papermill reads them)."""
    import papermill

    return set(papermill.inspect_notebook(str(source)))


def notebook_parameters(run: ChapterRun | Chapter, config: Mapping[str, Any],
                        overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values this run receives: only the names its parameters cell declares."""
    if isinstance(run, Chapter):
        run = ChapterRun(run)
    declared = declared_parameters(run.chapter.source)
    merged = {**study_settings(config), **run.chapter.parameters, **run.cell, **overrides}
    return {k: v for k, v in merged.items() if k in declared}


def select(runs: Sequence[ChapterRun], only: Sequence[str] | None) -> list[ChapterRun]:
    """The runs of the chapters named in ``only`` (all when empty); unknown names refused."""
    if not only:
        return list(runs)
    known = {r.name for r in runs}
    unknown = set(only) - known
    if unknown:
        raise StudyRunError(f"unknown notebook(s) {', '.join(sorted(unknown))}; "
                            f"study.yaml lists {', '.join(dict.fromkeys(r.name for r in runs))}")
    return [r for r in runs if r.name in only]
