"""The ``persona-judge`` command: fit the method on your own preferences, estimate a study's cost.

Subcommands are registered by small ``add_*_command(subparsers)`` functions
listed in :data:`COMMANDS`; each sets ``handler`` (a function of the parsed
arguments returning an exit status). Adding a subcommand = writing one such
function and appending it. The study's own subcommands (``run``, ``book``,
``download``, ...) come from :mod:`persona_judge.study.commands`.

* ``persona-judge fit PREFS_FILE [--out DIR] [--model M] [--smoke]`` fits
  SynthesizeMe on a person's preferences file (JSONL or CSV; see the README) and
  writes, per user, ``artifact.json`` (everything the fit did), ``persona.txt``,
  ``judge_prompt.txt`` (the personalized judge prompt) and
  ``generation_prompt.txt`` (a system prompt steering a chat model toward them).
* ``persona-judge estimate [CONFIG]`` dry-runs the main-results pipeline for a
  study configuration (default ``study.yaml``) through the client's dry run, and
  prints the calls, tokens and dollars a real run would spend. Nothing is sent.

Expected problems (a bad preferences file, no endpoint, missing data) end with a
one-paragraph message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

SMOKE_LABEL = ("SMOKE RUN: fitted against a scripted stand-in model on this machine, not a "
               "real LLM. The persona and prompts below only show that the pipeline runs.")


# -- fit ---------------------------------------------------------------------------------
def _fit(args: argparse.Namespace) -> int:
    from persona_judge.data import group_by_user, load_preferences_file
    from persona_judge.evaluation.predict import fit_users
    from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig
    from persona_judge.study.notebook import real_llm, smoke_llm

    report = load_preferences_file(args.prefs_file, seed=args.seed)
    users = list(group_by_user(report.preferences).values())
    if args.user:
        users = [u for u in users if u.user_id == args.user]
        if not users:
            raise ValueError(f"{args.prefs_file} has no rows with user_id {args.user!r}.")
    config = SynthesizeMeConfig(n_candidates=args.n_candidates, m_candidates=args.m_candidates,
                                persona_instruction=args.persona_instruction, seed=args.seed)
    with ExitStack() as stack:
        if args.smoke:
            client = stack.enter_context(smoke_llm(args.model))
        else:
            client = real_llm(args.model, cache_path=args.cache, progress=False)
            stack.callback(client.close)
        artifacts = fit_users(SynthesizeMe(config), users, client)
        out = Path(args.out)
        for user in users:
            art = artifacts[user.user_id]
            if args.smoke:
                art.label = SMOKE_LABEL
            folder = out / _safe(user.user_id)
            write_outputs(art, folder)
            _print_fit(art, folder, n_test=len(user.test))
        print(client.summary())
    return 0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "user"


def write_outputs(art: Any, folder: Path) -> list[Path]:
    """Write a fitted artifact and its three renderings into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    head = f"{art.label}\n\n" if art.label else ""
    files = [art.save(folder / "artifact.json")]
    for name, text in (("persona.txt", art.persona or "(no usable persona; see artifact.json "
                                                      "fallbacks)"),
                       ("judge_prompt.txt", art.judge_prompt_text()),
                       ("generation_prompt.txt", art.generation_system_prompt())):
        path = folder / name
        path.write_text(head + text.rstrip() + "\n", encoding="utf-8")
        files.append(path)
    return files


def _print_fit(art: Any, folder: Path, n_test: int) -> None:
    spend = art.total_spend
    best = art.demo_candidates[art.demo_winner] if art.demo_candidates else None
    val = f"{best.n_correct}/{best.n_judged}" if best and best.n_correct is not None else "n/a"
    print(f"\n== {art.user_id} -> {folder}")
    if art.label:
        print(f"[{art.label}]")
    print(f"verified traces: {len(art.verified_traces)} of {len(art.traces)}; validation of the "
          f"chosen prompt: {val}; demos: {len(art.demo_set)}")
    print(f"LLM requests: {spend.requests} ({spend.prompt_tokens:,} prompt + "
          f"{spend.completion_tokens:,} completion tokens)")
    for note in art.fallbacks:
        print(f"note: {note}")
    if n_test:
        print(f"({n_test} test row(s) in the file were not used for fitting.)")
    print(f"persona: {art.persona or '(none)'}")


def add_fit_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit SynthesizeMe on your own preferences file",
                       description="Fit SynthesizeMe (persona + demonstrations) on a preferences "
                                   "file and write the persona, judge prompt and generation "
                                   "prompt.")
    p.add_argument("prefs_file", help="JSONL or CSV of preferences (prompt/context, chosen, "
                                      "rejected; optional user_id, split)")
    p.add_argument("--out", default="persona_out", help="output folder (default: persona_out)")
    p.add_argument("--model", default="meta-llama/Llama-3.3-70B-Instruct-Turbo",
                   help="judge model id (Together, or your server's model name)")
    p.add_argument("--smoke", action="store_true",
                   help="use a local scripted stand-in model (no endpoint; output is not real)")
    p.add_argument("--user", default=None, help="fit only this user_id from the file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-candidates", type=int, default=10, help="step-1 candidates (paper: 10)")
    p.add_argument("--m-candidates", type=int, default=10, help="demo candidates (paper: 10)")
    p.add_argument("--persona-instruction", default="persona_synthesis@v1",
                   help="persona-synthesis instruction: a packaged template id or a .txt file")
    p.add_argument("--cache", default=None, help="LLM cache file (default: data/cache/"
                                                 "llm-real.sqlite)")
    p.set_defaults(handler=_fit)


# -- estimate ----------------------------------------------------------------------------
def _estimate(args: argparse.Namespace) -> int:
    from persona_judge import paths
    from persona_judge.evaluation.main_results import run_main_results
    from persona_judge.llm import client_from_env
    from persona_judge.method.synthesizeme import SynthesizeMeConfig
    from persona_judge.study.notebook import load_users
    from persona_judge.study.runner import load_config, parse_override

    overrides = dict(parse_override(p) for p in args.param)
    config = load_config(args.config, overrides)
    users = load_users(config["dataset"], config["mode"], config.get("max_users"),
                       int(config.get("seed", 0)))
    method_config = SynthesizeMeConfig(n_candidates=int(config.get("n_candidates", 10)),
                                       m_candidates=int(config.get("m_candidates", 10)),
                                       seed=int(config.get("seed", 0)))
    cache = paths.cache_path(config["mode"])
    client = client_from_env(config["model"], cache_path=cache, dry_run=True, progress=False,
                             dry_run_completion_tokens=args.completion_tokens)
    try:
        result = run_main_results(users, client, method_config, progress=False)
    finally:
        client.close()
    n_test = sum(len(u.test) for u in users)
    print(f"Estimate for {config['mode']} run: {config['dataset']}, {len(users)} users "
          f"({n_test} test pairs), model {config['model']}, n={method_config.n_candidates}, "
          f"m={method_config.m_candidates}, seed {method_config.seed}.")
    table = result.spend.copy()
    table["dollars"] = table["dollars"].map(lambda d: f"${d:,.2f}")
    print(table.to_string(index=False))
    tokens = ("completion tokens assume the full max_tokens of every request (an upper bound)"
              if args.completion_tokens is None
              else f"completion tokens assume {args.completion_tokens} per call")
    print(f"Dry run: nothing was sent. Answers already in {cache} count as cache hits (free); "
          f"{tokens}. {client.summary()}")
    return 0


def add_estimate_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="print calls, tokens and dollars for a study "
                                        "configuration (dry run, nothing is sent)")
    p.add_argument("config", nargs="?", default=None, help="study configuration (default: "
                                                           "study.yaml)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. -p max_users=131 (repeatable)")
    p.add_argument("--completion-tokens", type=int, default=None,
                   help="assumed completion tokens per call (default: each request's "
                        "max_tokens, an upper bound)")
    p.set_defaults(handler=_estimate)


# -- wiring ------------------------------------------------------------------------------
def _study_commands(sub: argparse._SubParsersAction) -> None:
    from persona_judge.study.commands import add_study_commands

    add_study_commands(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_fit_command, add_estimate_command, _study_commands]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="persona-judge",
        description="SynthesizeMe: personas and demonstrations that personalize LLM judges.")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback instead of a one-line error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def _expected_errors() -> tuple[type[BaseException], ...]:
    from persona_judge.data import DataUnavailableError, PreferenceDataError
    from persona_judge.llm import EndpointConfigError, NoEndpointError
    from persona_judge.study.runner import StudyRunError

    return (PreferenceDataError, DataUnavailableError, EndpointConfigError, NoEndpointError,
            StudyRunError, FileNotFoundError, ValueError, RuntimeError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except _expected_errors() as err:
        if args.traceback:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
