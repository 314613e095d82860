"""Command-line subcommands that run the study: ``run``, ``book``, ``record``, ``download``.

They are registered on the ``persona-judge`` command (``persona_judge.cli``, which
``python -m persona_judge.study`` also runs). Expected failures (no data, a failing
notebook, a bad setting) end there with a one-paragraph message and exit status 2,
never a traceback. The runner (papermill, nbformat) is imported only when a command
runs, so that building the parser, and so ``persona-judge --help``, stays fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from persona_judge.data.benchmark import BENCHMARKS
from persona_judge.study.book import Site


def study_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The ``-p key=value`` settings and ``--smoke`` of ``run`` / ``estimate``, checked.

    ``-p mode smoke`` (papermill's form, with a space) is named with the form these
    commands take, instead of failing on a stray word.
    """
    from persona_judge.study.config import StudyRunError, parse_override

    stray = list(getattr(args, "stray", None) or [])
    config = getattr(args, "config", None)
    if not stray and config and not Path(config).is_file() and any(
            "=" not in p for p in args.param):
        stray = [config]  # `estimate -p mode smoke`: the value landed in CONFIG
    for text in args.param:
        if "=" not in text:
            value = f"={stray[0]}" if stray else "=VALUE"
            raise StudyRunError(
                f"-p {text}{' ' + stray[0] if stray else ''}: this command takes "
                f"-p {text}{value} (key=value, no space; `-p key value` is papermill's "
                "form)" + (", or --smoke" if text.strip() == "mode" else ""))
    if stray:
        raise StudyRunError(f"unexpected argument {stray[0]!r}; settings are given as "
                            "-p key=value, e.g. -p mode=smoke (or --smoke)")
    overrides = dict(parse_override(p) for p in args.param)
    if getattr(args, "smoke", False):
        if overrides.get("mode", "smoke") != "smoke":
            raise StudyRunError(f"--smoke contradicts -p mode={overrides['mode']}; give one")
        overrides["mode"] = "smoke"
    return overrides


def _run(args: argparse.Namespace) -> int:
    from persona_judge.study import runner

    overrides = study_overrides(args)
    config = runner.load_config(args.config, overrides)
    start = time.monotonic()
    site = Site(Path(args.site).resolve()) if args.site else Site.default()
    written = runner.run_study(config, overrides, only=args.only or None, site=site)
    print(f"Executed {len(written)} notebook(s) into {site.executed_dir} "
          f"in {time.monotonic() - start:.0f} s.")
    if args.record:
        if config["mode"] != "smoke":
            raise runner.StudyRunError("--record keeps smoke runs only (nbval's outputs of "
                                       "record must be reproducible without an endpoint)")
        for path in runner.record(written, site):
            print(f"recorded {path}")
    if not args.no_book:
        start = time.monotonic()
        index = runner.build(site)
        print(f"Built the book in {time.monotonic() - start:.0f} s: {index}")
        if config["mode"] == "smoke":
            print("Note: this is a SMOKE RUN on synthetic data and a stand-in model; "
                  "the book says so on every page.")
    return 0


def _book(args: argparse.Namespace) -> int:
    from persona_judge.study import runner

    site = Site(Path(args.site).resolve()) if args.site else Site.default()
    print(f"Built the book: {runner.build(site)}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from persona_judge.data.benchmark import download

    for name in BENCHMARKS if args.dataset == "all" else [args.dataset]:
        print(f"{name}: {download(name, offline=False)}")
    return 0


def add_study_commands(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="execute the study's notebooks with papermill, then build "
                                     "the book")
    run.add_argument("--config", default=None, help="study configuration (default: study.yaml)")
    run.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                     help="override a setting, e.g. -p mode=smoke -p max_users=5 (repeatable)")
    run.add_argument("--smoke", action="store_true",
                     help="a smoke run: generated fixture data and a local stand-in model "
                          "(the same as -p mode=smoke; the book says so on every page)")
    run.add_argument("--only", action="append", metavar="NOTEBOOK",
                     help="run just this notebook, e.g. --only 01_benchmark (repeatable)")
    run.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    run.add_argument("--no-book", action="store_true", help="execute notebooks only")
    run.add_argument("--site", default=None, metavar="DIR",
                     help="write the executed pages and the book into DIR instead of the "
                          "checkout (book/executed, _build/html)")
    run.add_argument("--record", action="store_true",
                     help="copy the executed smoke notebooks to tests/records (nbval's record)")
    run.set_defaults(handler=_run)
    book = sub.add_parser("book", help="build the Jupyter Book from the executed notebooks")
    book.add_argument("--site", default=None, metavar="DIR",
                      help="the folder a previous `run --site DIR` wrote into")
    book.set_defaults(handler=_book)
    dl = sub.add_parser("download", help="download PersonalRewardBench from the Hugging Face "
                                         "Hub into data/hub (once)")
    dl.add_argument("dataset", nargs="?", default="all", choices=[*BENCHMARKS, "all"])
    dl.set_defaults(handler=_download)
