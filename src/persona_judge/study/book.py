"""The Jupyter Book (1.x) around the executed chapters: where it is built, its status, the build.

A :class:`Site` is the folder a run writes its pages and book into. By default it is the
repository itself: executed chapters go to ``book/executed/``, generated snippets to
``book/generated/`` and the HTML to ``_build/html/``, all git-ignored. Any other folder
(``persona-judge run --site DIR``; the tests use a temporary one) receives a copy of the
book's sources (``_config.yml``, ``_toc.yml``, ``references.bib``, ``book/*.md``) first, so
a run never writes into the checkout.

Every page of the book shows the run's status in the theme's announcement bar (smoke or
real, data revision, judge model): :func:`write_build_config` writes the build's
configuration from ``_config.yml`` with that bar filled in, and the landing page includes
``book/generated/run_status.md``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError
from persona_judge.study.config import StudyRunError

BOOK_SOURCES = ("_config.yml", "_toc.yml", "references.bib", "_static")
STATUS_KEYS = ("mode", "dataset", "model", "max_users", "seed", "n_candidates", "m_candidates")


@dataclass(frozen=True)
class Site:
    """The folder that holds one run's executed pages, generated snippets and built HTML."""

    root: Path

    @classmethod
    def default(cls) -> Site:
        return cls(paths.project_root())

    @property
    def in_checkout(self) -> bool:
        return self.root.resolve() == paths.project_root().resolve()

    @property
    def book_dir(self) -> Path:
        return self.root / "book"

    @property
    def executed_dir(self) -> Path:
        return self.book_dir / "executed"

    @property
    def generated_dir(self) -> Path:
        return self.book_dir / "generated"

    @property
    def raw_dir(self) -> Path:
        """Executed chapters as papermill wrote them, before the book's page edits (which
        fold run logs out of cell outputs): what ``--record`` keeps for nbval."""
        return self.root / "_build" / "executed-raw"

    def raw_copy(self, page: Path) -> Path:
        """Where the unedited copy of an executed page (under :attr:`executed_dir`) lives."""
        return self.raw_dir / page.resolve().relative_to(self.executed_dir.resolve())

    @property
    def html_dir(self) -> Path:
        return self.root / "_build" / "html"

    def prepare(self) -> Site:
        """Copy the book's sources into the site (nothing to do for the checkout itself)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.in_checkout:
            return self
        source = paths.project_root()
        for name in BOOK_SOURCES:
            if (source / name).is_file():
                shutil.copy2(source / name, self.root / name)
            elif (source / name).is_dir():
                shutil.copytree(source / name, self.root / name, dirs_exist_ok=True)
        self.book_dir.mkdir(exist_ok=True)
        for item in (source / "book").iterdir():
            if item.name in ("executed", "generated"):
                continue
            if item.is_dir():
                shutil.copytree(item, self.book_dir / item.name, dirs_exist_ok=True)
            else:
                shutil.copy2(item, self.book_dir / item.name)
        return self


def _settings_text(config: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}={config.get(k)}`" for k in STATUS_KEYS if k in config)


def data_label(config: Mapping[str, Any]) -> str:
    """The data a run read, for the status bar: the revision of each local benchmark copy."""
    from persona_judge.data.benchmark import BENCHMARKS, dataset_revision

    mode = config.get("mode", "smoke")
    if mode in ("smoke", "local"):
        return "synthetic fixtures"
    labels = []
    for name in BENCHMARKS:
        try:
            revision = dataset_revision(name, mode)
        except PersonaJudgeError:
            continue
        if not revision.startswith("unknown"):
            labels.append(f"{name} @ {revision[:12]}")
    return "PersonalRewardBench " + (", ".join(labels) if labels else "(revision not recorded)")


def _when(iso: str) -> str:
    """``2026-12-05T17:30:12+00:00`` → ``2026-12-05 17:30 UTC``."""
    return dt.datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def settings_text(settings: Mapping[str, Any]) -> str:
    """``dataset=prism, model=Llama-3.3-70B-Instruct-Turbo, max_users=4, seed=0``."""
    parts = []
    for key in STATUS_KEYS:
        if key in settings and key != "mode":
            value = settings[key]
            if value is None and key == "max_users":
                value = "all"
            elif key in ("model", "dataset"):
                from persona_judge.study.display import reader_name

                value = reader_name(value)
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def provenance_line(entry: Mapping[str, Any]) -> str:
    """One sentence naming the run a page comes from: its mode, time and settings."""
    kind = {"smoke": "smoke run", "local": "local model check"}.get(entry.get("mode"), "real run")
    verb = "Computed in" if entry.get("status", "executed") == "executed" else "Not executed in"
    settings = settings_text(entry.get("settings", {}))
    return (f"{verb} the {kind} of {_when(entry['run'])}"
            + (f" with {settings}." if settings else "."))


def page_settings(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a page's provenance names (the status keys it ran with)."""
    return {k: parameters[k] for k in STATUS_KEYS if k in parameters}


def read_provenance(site: Site) -> dict[str, dict[str, Any]]:
    """``book/generated/provenance.json``: for each page present, the run it came from."""
    saved = site.generated_dir / "provenance.json"
    if not saved.is_file():
        return {}
    entries = json.loads(saved.read_text(encoding="utf-8"))
    return {page: e for page, e in entries.items()
            if (site.executed_dir / f"{page}.ipynb").is_file()}


def record_provenance(site: Site, entries: Mapping[str, Mapping[str, Any]]) -> Path:
    """Add this run's pages to ``provenance.json`` (pages of earlier runs stay, as they are
    still in the book; pages no longer on disk are dropped)."""
    from persona_judge.io import atomic_write_json

    merged = {**read_provenance(site), **{k: dict(v) for k, v in entries.items()}}
    return atomic_write_json(site.generated_dir / "provenance.json",
                             json.loads(json.dumps(merged, sort_keys=True, default=str)),
                             indent=1)


def runs_of(provenance: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The distinct runs (their start times) the book's pages come from, oldest first."""
    return sorted({e["run"] for e in provenance.values()})


def run_names(provenance: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each page's run as a reader's short name: ``run of 2026-12-05 17:30 UTC``."""
    return {page: f"run of {_when(e['run'])}" for page, e in provenance.items()}


def announcement(config: Mapping[str, Any],
                 provenance: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The HTML of the status bar shown at the top of every page."""
    from persona_judge.study.display import reader_name

    model = html.escape(reader_name(config.get("model", "")))
    data = html.escape(data_label(config))
    runs = runs_of(provenance or {})
    mixed = ""
    if len(runs) > 1:
        mixed = (f' · <strong class="run-status-mixed">pages from {len(runs)} runs</strong> '
                 "(each page names its run)")
    elif runs:
        mixed = f" · run of {_when(runs[0])}"
    if config.get("mode") == "smoke":
        return ('<span class="run-status-smoke"><strong>SMOKE RUN — not a result.</strong> '
                f"Synthetic data, scripted stand-in judge{mixed}</span>")
    if config.get("mode") == "local":
        return ('<span class="run-status-smoke"><strong>LOCAL MODEL CHECK — not a result.'
                f"</strong> Synthetic data · judge: a tiny local model ({model}) served on "
                f"this machine{mixed}</span>")
    return (f'<span class="run-status-real"><strong>Real run.</strong> data: {data} · '
            f"judge: {model}{mixed}</span>")


def write_status(site: Site, config: Mapping[str, Any], ran: Sequence[str],
                 skipped: Mapping[str, str]) -> Path:
    """``book/generated/run_status.md``: the landing page's account of the run(s) and the
    verdicts (``book/generated/verdicts.md``)."""
    out = site.generated_dir / "run_status.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    provenance = read_provenance(site)
    runs = runs_of(provenance)
    when = _when(runs[-1]) if runs else dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if config["mode"] == "smoke":
        head = ("```{warning}\n**This book was built from a SMOKE RUN.** Every chapter ran on "
                "synthetic fixture data, and the LLM chapters on a scripted stand-in model "
                "served on this machine. The numbers show that the pipeline runs end to end; "
                "none of them is a finding about SynthesizeMe. See {doc}`reproduce` for a "
                "real run.\n```\n")
    elif config["mode"] == "local":
        head = ("```{warning}\n**This book was built from a LOCAL MODEL CHECK.** Every "
                "chapter ran on synthetic fixture data, and the LLM chapters on a tiny model "
                "served on this machine (`make real-check`). The numbers show that a real "
                "model drives the pipeline end to end; none of them is a finding about "
                "SynthesizeMe.\n```\n")
    else:
        head = "```{note}\nThis book was built from a **real run**.\n```\n"
    if len(runs) > 1:
        head += ("\n```{important}\n**The pages come from " + f"{len(runs)} runs** with "
                 "different times or settings: each page names its run under its title, "
                 "and the verdicts above say which run each number is from.\n```\n")
    details = [f"Latest run {when} with {_settings_text(config)}; data: {data_label(config)}.",
               "", f"Executed in the latest run ({len(ran)}): " + (", ".join(ran) or "none")
               + "."]
    for name, why in skipped.items():
        details += ["", f"Not executed: {name} ({why})."]
    if len(runs) > 1:
        details += ["", "Every page and its run:", ""]
        details += [f"- {page}: {provenance_line(e)}" for page, e in sorted(provenance.items())]
    summary = f"{len(ran)} chapter run(s) executed" + (f", {len(skipped)} not executed"
                                                      if skipped else "")
    lines = [head, f"````{{dropdown}} What ran: {summary}", *details, "````"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_verdicts(site, config)
    return out


def write_verdicts(site: Site, config: Mapping[str, Any]) -> Path:
    """``book/generated/verdicts.md``: the verdict table the landing page opens with."""
    from persona_judge.study import verdicts

    provenance = read_provenance(site)
    found = verdicts.collect(site.executed_dir) if site.executed_dir.is_dir() else \
        [verdicts.verdict(c, None, None) for c in verdicts.CLAIMS]
    table = verdicts.verdicts_markdown(found, run_names(provenance))
    if config.get("mode") == "smoke":
        note = ("A smoke run's verdicts read *smoke — not a result*: its numbers show that the "
                "pipeline runs, and decide no claim.")
    else:
        rules = dict.fromkeys(c.rule for c in verdicts.CLAIMS)
        note = "*Reproduced* means: " + "; ".join(
            verdicts.RULE_TEXT[rule] + " (" + ", ".join(
                c.key.removeprefix("claim_") for c in verdicts.CLAIMS if c.rule == rule) + ")"
            for rule in rules) + "."
    out = site.generated_dir / "verdicts.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n\n" + note + "\n", encoding="utf-8")
    return out


def source_version() -> str:
    """``persona_judge 0.1.0, commit 1a2b3c4d5e6f`` (``+ local changes`` when the tree is dirty);
    the commit is left out where the source is not a git checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = f"persona_judge {version('persona-judge')}"
    except PackageNotFoundError:
        text = "persona_judge"
    root = paths.project_root()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return text
    return f"{text}, commit {commit}" + (" + local changes" if dirty else "")


def footer() -> str:
    """Every page's footer: the code's version and commit, the licence, how to cite."""
    return (f"<p>Built with {html.escape(source_version())}. Code under the MIT licence "
            "(<code>LICENSE</code>); to cite this study and the paper it reproduces, see "
            "<code>CITATION.cff</code> in the repository. The paper: "
            '<a href="https://arxiv.org/abs/2506.05598">arXiv 2506.05598</a>.</p>')


def write_build_config(site: Site, config: Mapping[str, Any]) -> Path:
    """The build's ``_config.yml``: the repository's, with this run's status bar."""
    import yaml

    base = yaml.safe_load((site.root / "_config.yml").read_text(encoding="utf-8")) or {}
    sphinx = base.setdefault("sphinx", {})
    # Merge with the options jupyter-book builds from `html:` instead of replacing them.
    sphinx["recursive_update"] = True
    options = sphinx.setdefault("config", {}).setdefault("html_theme_options", {})
    options["announcement"] = announcement(config, read_provenance(site))
    base.setdefault("html", {})["extra_footer"] = footer()
    out = site.generated_dir / "_config.yml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(base, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def build_book(site: Site | None = None, config: Mapping[str, Any] | None = None) -> Path:
    """Build the Jupyter Book (1.x) from the executed pages; return the HTML index."""
    site = site or Site.default()
    if config is None:
        from persona_judge.study.config import load_config

        config = load_config()
    write_verdicts(site, config)
    build_config = write_build_config(site, config)
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(site.root),
               "--config", str(build_config), "--path-output", str(site.root), "--keep-going"]
    result = subprocess.run(command, cwd=site.root, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StudyRunError(f"the book build failed (jupyter-book exit {result.returncode}):\n"
                            f"{tail}")
    index = site.html_dir / "index.html"
    if not index.is_file():
        raise StudyRunError(f"the book build finished but {index} is missing")
    return index
