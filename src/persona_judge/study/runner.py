"""Run the study: execute the chapter notebooks with papermill, then build the book.

The chapters are listed, in order, under ``notebooks:`` in ``study.yaml`` (see
:mod:`persona_judge.study.config` for the settings, their precedence and grids). Each run
of a chapter is executed from ``notebooks/<name>.ipynb`` (its one source, kept without
outputs) into ``book/executed/<page>.ipynb`` of the run's :class:`~persona_judge.study.book.Site`
(the checkout by default), then finished as a book page (:mod:`persona_judge.study.pages`).

A chapter that needs an LLM, in a real run with no endpoint configured, is not executed:
its page says so and how to enable it. An ``optional`` chapter that stops with an expected
problem gets a page explaining it and the run goes on; any other failing notebook stops
the run with the notebook's name and the failing cell. ``book/generated/run_status.md`` and
the announcement bar of every page record the mode, settings, data and what ran;
``book/generated/provenance.json`` records, per page, the run it came from, and for an
executed page its parameters and when it ran (:func:`chapter_runs`), kept across
``run --only`` runs and written as each page is done (a run that stops later keeps them).

The outputs of record for nbval are smoke-run copies of the executed chapters in
``tests/records/``; :func:`record` refreshes them after a deliberate change.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from persona_judge import paths
from persona_judge.study import pages
from persona_judge.study.book import (
    Site,
    build_book,
    page_settings,
    provenance_line,
    read_provenance,
    record_provenance,
    write_status,
)
from persona_judge.study.config import (
    Chapter,
    ChapterRun,
    StudyRunError,
    chapters,
    expand,
    load_config,
    notebook_parameters,
    parse_override,
    select,
)

__all__ = ["Chapter", "ChapterRun", "Site", "StudyRunError", "build_book", "chapter_runs",
           "chapters", "check_data", "executed_dir", "load_config", "notebook_parameters",
           "parse_override", "record", "records_dir", "run_study"]

NO_ENDPOINT = (
    "This chapter calls an LLM, and no endpoint was configured when the study ran. To run it, "
    "set `TOGETHER_API_KEY` (Together AI) or `LLM_BASE_URL` (any OpenAI-compatible server, "
    "e.g. vLLM at `http://localhost:8000`) and run `make study` again; "
    "`persona-judge estimate` prints what a run will cost first. A smoke run "
    "(`make study MODE=smoke`) executes it against a local stand-in model instead."
)


def executed_dir() -> Path:
    return Site.default().executed_dir


def records_dir() -> Path:
    return paths.project_root() / "tests" / "records"


def check_data(config: Mapping[str, Any], runs: Sequence[ChapterRun]) -> None:
    """In a real run, make sure every dataset the chapters need is on disk (download once)."""
    if config["mode"] != "real":
        return
    from persona_judge.data.benchmark import (
        BENCHMARKS,
        DataUnavailableError,
        download,
        pinned_revision,
    )

    wanted: set[str] = set()
    for run in runs:
        name = {**config, **run.chapter.parameters, **run.cell}.get("dataset", "all")
        if name == "all":
            wanted |= set(BENCHMARKS)
        elif name in BENCHMARKS:
            wanted.add(name)
    missing: dict[str, str] = {}
    for name in sorted(wanted):
        try:
            download(name, revision=pinned_revision(name, config))
        except DataUnavailableError as err:
            missing[name] = str(err).split(" Either download")[0].rstrip(".")
    if missing:
        names = " and ".join(missing)
        raise DataUnavailableError(
            f"this run needs PersonalRewardBench's {' and '.join(sorted(wanted))}, and "
            f"{names} {'is' if len(missing) == 1 else 'are'} not on this machine ("
            + "; ".join(missing.values())
            + "). Download the benchmark once with `persona-judge download` (both datasets, "
            "into data/hub; needs the Hugging Face Hub, or copy data/hub from a machine that "
            "has them), or run on generated fixture data with a local stand-in model: "
            "`persona-judge run --smoke` (`make study MODE=smoke`).")


def _endpoint_configured() -> bool:
    from persona_judge.llm import endpoint_configured

    return endpoint_configured()


def _execute(run: ChapterRun, target: Path, params: Mapping[str, Any]) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(run.chapter.source), str(target), parameters=dict(params),
            progress_bar=True, cwd=str(paths.project_root()), kernel_name="python3")
    except PapermillExecutionError as err:
        raise _ChapterFailed(run, target, err) from None


class _ChapterFailed(Exception):
    def __init__(self, run: ChapterRun, target: Path, err: Any) -> None:
        super().__init__(f"notebook {run.label} failed in cell {err.cell_index} "
                         f"(execution count {err.exec_count}): {err.ename}: {err.evalue}\n"
                         f"The partly executed notebook is {target}.")
        self.ename = err.ename

    @property
    def expected(self) -> bool:
        """True when the chapter stopped with one of the study's expected problems."""
        return self.ename in {cls.__name__ for cls in _expected_classes()}


def _expected_classes() -> list[type]:
    """Every subclass of PersonaJudgeError in the modules a chapter may raise from."""
    import importlib

    from persona_judge.errors import PersonaJudgeError

    for module in ("persona_judge.data", "persona_judge.llm", "persona_judge.construction",
                   "persona_judge.reward_models.backbone"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    found, todo = [], [PersonaJudgeError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def run_study(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None,
              only: Sequence[str] | None = None, site: Site | None = None) -> list[Path]:
    """Execute the study's chapters in order into ``site``; return the executed pages."""
    site = (site or Site.default()).prepare()
    overrides = dict(overrides or {})
    config = {**config, **overrides}
    runs = select([r for c in chapters(config) for r in expand(c, overrides)], only)
    check_data(config, runs)
    have_llm = config["mode"] == "smoke" or _endpoint_configured()
    ran: list[str] = []
    skipped: dict[str, str] = {}
    written: list[Path] = []
    # every page records the run it came from (its time and settings): pages of earlier
    # runs stay in the book, and the book shows when they differ
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    provenance: dict[str, dict[str, Any]] = {}

    def origin(run: ChapterRun, params: Mapping[str, Any], executed: bool) -> str:
        entry = {"run": started, "mode": config["mode"], "chapter": run.label,
                 # what the page ran with (a placeholder: the run's settings)
                 "settings": page_settings(params or config),
                 "status": "executed" if executed else "not executed"}
        provenance[run.page] = entry
        return provenance_line(entry)

    for name in dict.fromkeys(r.name for r in runs if r.chapter.grid):
        # a grid chapter's pages are this run's cells only: no page of an earlier grid stays
        shutil.rmtree(site.executed_dir / name, ignore_errors=True)
        shutil.rmtree(site.raw_dir / name, ignore_errors=True)
    for i, run in enumerate(runs, start=1):
        target = site.executed_dir / f"{run.page}.ipynb"
        if run.chapter.needs_llm and not have_llm:
            print(f"[{i}/{len(runs)}] {run.label}: skipped (needs an LLM endpoint)", flush=True)
            pages.placeholder_page(run.chapter.source, target, NO_ENDPOINT,
                                   pages.glue_keys_wanted(site.book_dir, run.page),
                                   origin(run, {}, executed=False))
            skipped[run.label] = "no LLM endpoint configured"
            written.append(target)
            record_provenance(site, {run.page: provenance[run.page]})
            continue
        params = notebook_parameters(run, config, overrides)
        print(f"[{i}/{len(runs)}] {run.label} with {params}", flush=True)
        chapter_started = _now()  # not `started`: that is the run's, on every page
        try:
            _execute(run, target, params)
        except _ChapterFailed as failure:
            if not (run.chapter.optional and failure.expected):
                raise StudyRunError(str(failure)) from None
            print(f"    {run.label}: not completed ({failure.ename}); the page says why",
                  flush=True)
            pages.placeholder_page(
                run.chapter.source, target,
                f"This optional chapter stopped with an expected problem:\n\n"
                f"{str(failure).splitlines()[0]}",
                pages.glue_keys_wanted(site.book_dir, run.page),
                origin(run, params, executed=False))
            skipped[run.label] = f"stopped: {failure.ename}"
            written.append(target)
            record_provenance(site, {run.page: provenance[run.page]})
            continue
        raw = site.raw_copy(target)
        raw.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(target, raw)  # nbval's record: outputs as executed, logs included
        cell_overrides = {**run.cell, **overrides} if run.cell else overrides
        pages.finish_page(target, run.name, cell_overrides, params, run.cell,
                          label_suffix=f"{run.index + 1:02d}" if run.chapter.grid else "",
                          provenance=origin(run, params, executed=True),
                          number=f"{run.index + 1}" if run.chapter.grid else "")
        provenance[run.page].update(parameters=dict(params), chapter_started=chapter_started,
                                    finished=_now())  # record_provenance writes them as JSON
        record_provenance(site, {run.page: provenance[run.page]})
        ran.append(run.label)
        written.append(target)
    write_status(site, config, ran, skipped)
    (site.generated_dir / "run.json").write_text(
        json.dumps({k: v for k, v in config.items() if k != "notebooks"}, default=str, indent=1),
        encoding="utf-8")
    return written


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chapter_runs(site: Site | None = None) -> dict[str, dict[str, Any]]:
    """``{page: {"parameters", "started", "finished"}}`` of every page executed into
    ``site``, from the book's provenance (``read_provenance``); empty before any run."""
    return {page: {"parameters": entry["parameters"], "started": entry["chapter_started"],
                   "finished": entry["finished"]}
            for page, entry in read_provenance(site or Site.default()).items()
            if "parameters" in entry}


def last_run_config(site: Site | None = None) -> dict[str, Any]:
    """The settings of the last run written into ``site`` (study.yaml if none was)."""
    site = site or Site.default()
    saved = site.generated_dir / "run.json"
    if saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))
    return load_config()


def build(site: Site | None = None) -> Path:
    """Build the book of the last run in ``site``."""
    site = site or Site.default()
    return build_book(site, last_run_config(site))


def record(written: Sequence[Path], site: Site | None = None) -> list[Path]:
    """Copy smoke-executed chapters into tests/records as nbval's outputs of record.

    The copy is the notebook as executed (:meth:`Site.raw_copy`), not the book's page:
    the page moves run logs out of cell outputs into a folded box, and nbval compares the
    outputs a cell prints. A page that was not executed (a placeholder) is copied as is."""
    site = site or Site.default()
    target = records_dir()
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for page in written:
        name = page.name if page.parent.name == "executed" else \
            f"{page.parent.name}--{page.name.split('--', 1)[-1]}"
        raw = site.raw_copy(page)
        out.append(Path(shutil.copy2(raw if raw.is_file() else page, target / name)))
    return out
