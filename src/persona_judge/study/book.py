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


def announcement(config: Mapping[str, Any]) -> str:
    """The HTML of the status bar shown at the top of every page."""
    model = html.escape(str(config.get("model", "")))
    data = html.escape(data_label(config))
    if config.get("mode") == "smoke":
        return ('<span class="run-status-smoke"><strong>SMOKE RUN — not a result.</strong> '
                f"Synthetic data · data: {data} · judge: a scripted stand-in in place of "
                f"{model}</span>")
    if config.get("mode") == "local":
        return ('<span class="run-status-smoke"><strong>LOCAL MODEL CHECK — not a result.'
                f"</strong> Synthetic data · data: {data} · judge: a tiny local model "
                f"({model}) served on this machine</span>")
    return (f'<span class="run-status-real"><strong>Real run.</strong> data: {data} · '
            f"judge: {model}</span>")


def write_status(site: Site, config: Mapping[str, Any], ran: Sequence[str],
                 skipped: Mapping[str, str]) -> Path:
    """``book/generated/run_status.md``: the landing page's account of this run."""
    out = site.generated_dir / "run_status.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
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
    details = [f"Built {when} with {_settings_text(config)}; data: {data_label(config)}.", "",
               f"Executed ({len(ran)}): " + (", ".join(ran) or "none") + "."]
    for name, why in skipped.items():
        details += ["", f"Not executed: {name} ({why})."]
    summary = f"{len(ran)} chapter run(s) executed" + (f", {len(skipped)} not executed"
                                                      if skipped else "")
    lines = [head, f"````{{dropdown}} What ran: {summary}", *details, "````"]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def write_build_config(site: Site, config: Mapping[str, Any]) -> Path:
    """The build's ``_config.yml``: the repository's, with this run's status bar."""
    import yaml

    base = yaml.safe_load((site.root / "_config.yml").read_text(encoding="utf-8")) or {}
    sphinx = base.setdefault("sphinx", {})
    # Merge with the options jupyter-book builds from `html:` instead of replacing them.
    sphinx["recursive_update"] = True
    options = sphinx.setdefault("config", {}).setdefault("html_theme_options", {})
    options["announcement"] = announcement(config)
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
