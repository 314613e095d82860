"""Run the study: execute the chapter notebooks with papermill, then build the book.

The chapters are listed, in order, under ``notebooks:`` in ``study.yaml``. Each
is executed from ``notebooks/<name>.ipynb`` (sources, kept without outputs) into
``book/executed/<name>.ipynb``, which the Jupyter Book renders (``_toc.yml``
points there; the book never executes anything itself). A notebook receives
exactly the configuration keys its ``parameters`` cell declares, after the
per-notebook overrides in ``study.yaml`` and then the command line's ``-p``.

A chapter that needs an LLM, in a real run with no endpoint configured, is not
executed: its page says so and how to enable it. A failing notebook stops the
run with the notebook's name and the failing cell. ``book/generated/run_status.md``
records the mode, parameters and what ran; the book's landing page includes it,
so a book built from a smoke run says so on its first page.

The outputs of record for nbval are smoke-run copies of the executed notebooks in
``tests/records/``; ``record`` refreshes them after a deliberate change.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError

# nbformat (via jsonschema) and papermill take seconds to import: they are imported
# where a notebook is read or run, so that `persona-judge --help` starts at once.
ROOT_KEYS = ("mode", "dataset", "model", "max_users", "seed", "n_candidates", "m_candidates",
             "llm_settings")


class StudyRunError(PersonaJudgeError, RuntimeError):
    """A notebook of the study failed, or the study cannot start; the message says which."""


@dataclass(frozen=True)
class Chapter:
    name: str
    needs_llm: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return paths.project_root() / "notebooks" / f"{self.name}.ipynb"

    @property
    def executed(self) -> Path:
        return executed_dir() / f"{self.name}.ipynb"


def executed_dir() -> Path:
    return paths.project_root() / "book" / "executed"


def records_dir() -> Path:
    return paths.project_root() / "tests" / "records"


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line, the value read as YAML (``max_users=null``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise StudyRunError(f"parameter override {text!r} is not of the form key=value")
    return key.strip(), yaml.safe_load(value)


def load_config(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The study configuration from YAML, with command-line overrides applied."""
    path = Path(path) if path else paths.project_root() / "study.yaml"
    if not path.is_file():
        raise StudyRunError(f"study configuration not found: {path}")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise StudyRunError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(config, dict):
        raise StudyRunError(f"{path}: expected a mapping of settings at the top level")
    config.update(overrides or {})
    if config.get("mode") not in ("real", "smoke"):
        raise StudyRunError(f"{path}: setting 'mode' must be real or smoke, "
                            f"got {config.get('mode')!r}")
    return config


def chapters(config: Mapping[str, Any]) -> list[Chapter]:
    out = []
    for i, entry in enumerate(config.get("notebooks") or []):
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise StudyRunError(f"study.yaml: notebooks[{i}] needs a 'name'")
        chapter = Chapter(str(entry["name"]), bool(entry.get("needs_llm", False)),
                          dict(entry.get("parameters") or {}))
        if not chapter.source.is_file():
            raise StudyRunError(f"study.yaml: notebooks[{i}]: {chapter.source} does not exist")
        out.append(chapter)
    if not out:
        raise StudyRunError("study.yaml lists no notebooks")
    return out


def notebook_parameters(chapter: Chapter, config: Mapping[str, Any],
                        overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The values this chapter receives: only the names its parameters cell declares."""
    import papermill

    declared = papermill.inspect_notebook(str(chapter.source))
    merged = {**{k: v for k, v in config.items() if k in ROOT_KEYS}, **chapter.parameters,
              **overrides}
    return {k: v for k, v in merged.items() if k in declared}


def _placeholder(chapter: Chapter, why: str) -> None:
    """Write the chapter's page as its sources plus a note on why it did not run."""
    import nbformat

    nb = nbformat.read(chapter.source, as_version=4)
    note = nbformat.v4.new_markdown_cell(
        "```{admonition} Not executed in this run\n:class: warning\n" + why + "\n```")
    title = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "markdown" else None
    nb.cells = ([title] if title else []) + [note] + [
        c for c in nb.cells[1 if title else 0:] if c.cell_type == "markdown"]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"placeholder-{i}"
    chapter.executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, chapter.executed)


NO_ENDPOINT = (
    "This chapter calls an LLM, and no endpoint was configured when the study ran. To run it, "
    "set `TOGETHER_API_KEY` (Together AI) or `LLM_BASE_URL` (any OpenAI-compatible server, "
    "e.g. vLLM at `http://localhost:8000/v1`) and run `make study` again; "
    "`persona-judge estimate` prints what a run will cost first. A smoke run "
    "(`make study MODE=smoke`) executes it against a local stand-in model instead."
)


def check_data(config: Mapping[str, Any], run: Sequence[Chapter]) -> None:
    """In a real run, make sure every dataset the chapters need is on disk (download once)."""
    if config["mode"] != "real":
        return
    from persona_judge.data.benchmark import BENCHMARKS, download

    wanted: set[str] = set()
    for chapter in run:
        name = {**config, **chapter.parameters}.get("dataset", "all")
        wanted |= set(BENCHMARKS) if name == "all" else {name}
    for name in sorted(wanted):
        download(name)


def _status_page(config: Mapping[str, Any], ran: list[str], skipped: list[str]) -> None:
    out = paths.project_root() / "book" / "generated" / "run_status.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = ", ".join(f"`{k}={config.get(k)}`" for k in ROOT_KEYS if k in config)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if config["mode"] == "smoke":
        head = ("```{warning}\n**This book was built from a SMOKE RUN.** Every chapter ran on "
                "synthetic fixture data, and the LLM chapters on a scripted stand-in model "
                "served on this machine. The numbers show that the pipeline runs end to end; "
                "none of them is a finding about SynthesizeMe. See *How to reproduce* for a "
                "real run.\n```\n")
    else:
        head = "```{note}\nThis book was built from a **real run**.\n```\n"
    lines = [head, f"Built {when} with {settings}.", ""]
    lines.append("Executed chapters: " + (", ".join(ran) or "none") + ".")
    if skipped:
        lines.append("")
        lines.append("Not executed (no LLM endpoint configured): " + ", ".join(skipped) + ".")
    out.write_text("\n".join(lines) + "\n")


def run_study(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
              only: Sequence[str] | None = None) -> list[Path]:
    """Execute the study's notebooks in order; return the executed copies."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    overrides = dict(overrides or {})
    config = {**config, **{k: v for k, v in overrides.items() if k in ROOT_KEYS}}
    run = chapters(config)
    if only:
        unknown = set(only) - {c.name for c in run}
        if unknown:
            raise StudyRunError(f"unknown notebook(s) {', '.join(sorted(unknown))}; "
                                f"study.yaml lists {', '.join(c.name for c in run)}")
        run = [c for c in run if c.name in only]
    check_data(config, run)
    have_llm = config["mode"] == "smoke" or not any(c.needs_llm for c in run) or \
        _endpoint_configured()
    ran, skipped, written = [], [], []
    for i, chapter in enumerate(run, start=1):
        if chapter.needs_llm and not have_llm:
            print(f"[{i}/{len(run)}] {chapter.name}: skipped (needs an LLM endpoint)", flush=True)
            _placeholder(chapter, NO_ENDPOINT)
            skipped.append(chapter.name)
            written.append(chapter.executed)
            continue
        params = notebook_parameters(chapter, config, overrides)
        print(f"[{i}/{len(run)}] {chapter.name} with {params}", flush=True)
        chapter.executed.parent.mkdir(parents=True, exist_ok=True)
        try:
            papermill.execute_notebook(
                str(chapter.source), str(chapter.executed), parameters=params,
                progress_bar=True, cwd=str(paths.project_root()), kernel_name="python3")
        except PapermillExecutionError as err:
            raise StudyRunError(
                f"notebook {chapter.name} failed in cell {err.cell_index} "
                f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
                f"The partly executed notebook is {chapter.executed}.") from None
        ran.append(chapter.name)
        written.append(chapter.executed)
    _status_page(config, ran, skipped)
    return written


def _endpoint_configured() -> bool:
    from persona_judge.llm import endpoint_configured

    return endpoint_configured()


def build_book(root: Path | None = None) -> Path:
    """Build the Jupyter Book (1.x) from the executed notebooks; return the HTML index."""
    root = root or paths.project_root()
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--keep-going"]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StudyRunError(f"the book build failed (jupyter-book exit {result.returncode}):\n"
                            f"{tail}")
    index = root / "_build" / "html" / "index.html"
    if not index.is_file():
        raise StudyRunError(f"the book build finished but {index} is missing")
    return index


def record(written: Sequence[Path]) -> list[Path]:
    """Copy smoke-executed notebooks into tests/records as nbval's outputs of record."""
    target = records_dir()
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(p, target / p.name)) for p in written]
