"""The ``persona-judge`` command: fit the method on your own preferences, estimate a study's cost.

Subcommands are registered by small ``add_*_command(subparsers)`` functions
listed in :data:`COMMANDS`; each sets ``handler`` (a function of the parsed
arguments returning an exit status). Adding a subcommand = writing one such
function and appending it. The study's own subcommands (``run``, ``book``,
``download``, ...) come from :mod:`persona_judge.study.commands`.

* ``persona-judge fit PREFS_FILE [--out DIR] [--model M] [--smoke]`` fits
  SynthesizeMe on a person's preferences file (JSONL or CSV; see the README) and
  writes, per user, a folder under ``--out`` with ``artifact.json`` (everything the
  fit did), ``persona.txt``, ``judge_prompt.txt`` (the personalized judge prompt) and
  ``generation_prompt.txt`` (a system prompt steering a chat model toward them), plus
  ``--out/users.json``, the map from each user id to its folder and status.
* ``persona-judge estimate [CONFIG]`` dry-runs every chapter of a study configuration
  (default ``study.yaml``) that has an estimator, in every cell of its grid
  (:mod:`persona_judge.study.estimate`), and prints the calls, tokens and dollars a real
  run would spend per stage, per cell and for the whole study. Nothing is sent.

How ``fit`` fails safely. Everything cheap is checked before the first LLM call:
the preferences file, the output folder, the cache file, the persona instruction,
the endpoint (a preflight call). Users are fitted independently: a finished user's
folder is written at once (each file atomically, the folder swapped in whole); a
user who cannot be fitted (too few rows, a request the server refuses, LLM calls
that failed after all retries, or a fit that learned nothing: no verified trace and
no readable validation verdict, see ``SynthesizeMeArtifact.learned_nothing``) is
reported with the reason and **nothing** is written for them (a rerun repeats only
the calls that failed; the others are cached); a dead endpoint stops the whole
run. ``users.json`` records every user's folder and outcome.

Exit status: 0 every user fitted; 2 an expected problem (bad input, a setting, the
endpoint, the output folder or cache, or any user not fitted, including a fit that
learned nothing), printed as a
one-paragraph message; 1 a bug, shown with its traceback and how to report it;
130 interrupted (finished calls are cached).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from persona_judge.errors import PersonaJudgeError, SettingsError

SMOKE_LABEL = ("SMOKE RUN: fitted against a scripted stand-in model on this machine, not a "
               "real LLM. The persona and prompts below only show that the pipeline runs.")
BUG_REPORT = (
    "This is a bug in persona_judge, not a problem with your input or your endpoint. "
    "Please report it to the project's maintainers (see README.md, 'Reporting a bug') "
    "with the command you ran and the traceback above. Finished LLM calls are in the "
    "cache, so nothing paid for is lost.")
OUTPUT_MAP = "users.json"
OUTPUT_MAP_FORMAT = "persona_judge/fit-outputs@1"
DEFAULT_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
USER_WORKERS = 4  # users fitted at once; calls in flight are capped by the client


class FitIncompleteError(PersonaJudgeError):
    """Some users of a ``fit`` could not be fitted (the others were written)."""


# -- option types ---------------------------------------------------------------------
def _number(kind: type, low: float, inclusive: bool, what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value
    return parse


_positive_int = _number(int, 1, True, "a whole number >= 1")
_non_negative_int = _number(int, 0, True, "a whole number >= 0")
_positive_float = _number(float, 0, False, "a number of seconds > 0")


# -- fit ---------------------------------------------------------------------------------
@dataclass
class UserOutcome:
    """What happened to one user of a ``fit``."""

    user_id: str
    folder: str
    status: str  # "fitted" | "failed" | "not run"
    reason: str = ""


def _llm_settings(args: argparse.Namespace) -> dict[str, Any]:
    given = {"timeout": args.timeout, "connect_timeout": args.connect_timeout,
             "max_retries": args.max_retries, "max_timeout_retries": args.max_timeout_retries,
             "max_concurrency": args.max_concurrency,
             "structured_output": args.structured_output}
    return {k: v for k, v in given.items() if v is not None}


def check_persona_instruction(spec: str) -> str:
    """Load the persona instruction Θ and prove it renders, before any call is paid for.

    Returns its template id; raises :class:`SettingsError` naming the option and every
    problem of the file at once (missing sections, placeholders Θ files do not fill in, a
    lone '$'), or the file that does not exist. ``public`` is fetched here (see
    :mod:`persona_judge.method.theta`), so a failed download also stops the run early.
    """
    from persona_judge.data.records import Preference, Turn
    from persona_judge.method.persona import persona_request, theta_problems
    from persona_judge.method.templates import load_template
    from persona_judge.method.theta import resolve_instruction

    def bad(problem: str) -> SettingsError:
        return SettingsError(f"--persona-instruction {spec}: {problem}")

    try:
        path = resolve_instruction(spec)
        if Path(path).expanduser().is_file():
            problems = theta_problems(Path(path).expanduser().read_text(encoding="utf-8"))
            if len(problems) == 1:
                raise bad(problems[0])
            if problems:
                raise bad(f"{len(problems)} problems: " + "; ".join(
                    f"({i}) {p}" for i, p in enumerate(problems, start=1)))
        template = load_template(path)
        probe = Preference("probe", "probe", (Turn("user", "Hello?"),),
                           Turn("assistant", "Hi."), Turn("assistant", "Hello there."), "train")
        persona_request([(probe, None)], path)
    except SettingsError:
        raise
    except (KeyError, ValueError, OSError, UnicodeDecodeError, PersonaJudgeError) as err:
        raise bad(str(err.args[0]) if err.args else str(err)) from None
    return template.id


def _read_output_map(out: Path) -> dict[str, dict[str, Any]]:
    path = out / OUTPUT_MAP
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}  # rewritten below; the folders themselves are untouched
    if not isinstance(data, dict) or data.get("format") != OUTPUT_MAP_FORMAT:
        return {}
    users = data.get("users")
    return {str(k): dict(v) for k, v in users.items() if isinstance(v, dict)} \
        if isinstance(users, dict) else {}


def _write_output_map(out: Path, entries: dict[str, dict[str, Any]]) -> Path:
    from persona_judge.io import atomic_write_json

    return atomic_write_json(out / OUTPUT_MAP, {
        "format": OUTPUT_MAP_FORMAT,
        "about": "Each user id of the preferences file(s) fitted into this folder, the "
                 "sub-folder holding its results, and the outcome of its latest fit. A "
                 "folder is named after the id when the id is a plain lower-case name, "
                 "else after a cleaned form of the id plus a hash of the exact id.",
        "users": dict(sorted(entries.items())),
    })


def write_outputs(art: Any, folder: Path) -> list[Path]:
    """Write a fitted artifact and its three renderings into ``folder`` (each atomically)."""
    from persona_judge.io import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    head = f"{art.label}\n\n" if art.label else ""
    files = [art.save(folder / "artifact.json")]
    for name, text in (("persona.txt", art.persona or "(no usable persona; see artifact.json "
                                                      "fallbacks)"),
                       ("judge_prompt.txt", art.judge_prompt_text()),
                       ("generation_prompt.txt", art.generation_system_prompt())):
        files.append(atomic_write_text(folder / name, head + text.rstrip() + "\n"))
    return files


def _looks_like_ours(folder: Path) -> bool:
    return (folder / "artifact.json").is_file() or not any(folder.iterdir())


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


# Problems with the endpoint, the cache or the output folder: every other user would
# meet them too, so the run stops (finished users stay written).
def _run_wide_errors() -> tuple[type[BaseException], ...]:
    from persona_judge.errors import OutputError
    from persona_judge.llm import (
        CacheError,
        EndpointConfigError,
        EndpointUnavailableError,
        NoEndpointError,
        ReplayMissError,
    )

    return (EndpointUnavailableError, EndpointConfigError, NoEndpointError, CacheError,
            OutputError, ReplayMissError)


def _fit(args: argparse.Namespace) -> int:
    # Cheap checks first, heavy imports (the SDK, the method) only once they pass.
    from persona_judge.data.records import group_by_user
    from persona_judge.data.user_file import load_preferences_file
    from persona_judge.io import assign_user_folders, check_output_root, clean_stale_folders

    report = load_preferences_file(
        args.prefs_file, seed=args.seed, user=args.user, drop_duplicates=args.drop_duplicates,
        on_error="skip" if args.skip_bad_rows else "raise")
    for note in report.notes():
        print(note)
    users = list(group_by_user(report.preferences).values())
    if not args.smoke:
        from persona_judge.study.notebook import require_endpoint

        require_endpoint()
    out = check_output_root(args.out)
    for note in clean_stale_folders(out):
        print(f"note: {note}")
    from persona_judge import paths
    from persona_judge.llm.cache import check_cache_file

    cache = Path(args.cache).expanduser() if args.cache else None
    if cache is not None or not args.smoke:
        cache = check_cache_file(cache or paths.cache_path("real"))
    if args.persona_instruction is not None:
        check_persona_instruction(args.persona_instruction)
    settings = _llm_settings(args)

    entries = _read_output_map(out)
    taken = {e["folder"]: uid for uid, e in entries.items() if isinstance(e.get("folder"), str)}
    folders = assign_user_folders([u.user_id for u in users], taken)
    outcomes: dict[str, UserOutcome] = {}
    runnable = []
    for user in users:
        folder = out / folders[user.user_id]
        if folder.exists() and (not folder.is_dir() or not _looks_like_ours(folder)):
            outcomes[user.user_id] = UserOutcome(
                user.user_id, folders[user.user_id], "failed",
                f"{folder} exists and was not written by persona-judge; move it away or "
                "choose another --out")
        elif not user.train:
            outcomes[user.user_id] = UserOutcome(
                user.user_id, folders[user.user_id], "failed",
                f"no training preferences ({len(user.val)} val, {len(user.test)} test); the "
                "method needs at least one 'train' row (the paper uses 5-15)")
        elif len(user.train) + len(user.val) < 2:
            outcomes[user.user_id] = UserOutcome(
                user.user_id, folders[user.user_id], "failed",
                f"{len(user.train) + len(user.val)} preference(s) to fit on; the method needs "
                "at least 2 (one to learn from, one to validate on)")
        else:
            runnable.append(user)
    for outcome in outcomes.values():
        print(f"cannot fit user {outcome.user_id!r}: {outcome.reason}")

    stopped: BaseException | None = None
    try:
        if runnable:
            stopped = _fit_runnable(args, runnable, folders, out, cache, settings, outcomes)
    finally:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for user in users:
            outcome = outcomes.get(user.user_id) or UserOutcome(
                user.user_id, folders[user.user_id], "not run",
                "the run stopped before this user was fitted")
            entry = {"folder": outcome.folder, "status": outcome.status,
                     "reason": outcome.reason, "source": report.source, "updated": stamp}
            old = entries.get(user.user_id, {})
            if outcome.status != "fitted" and old.get("status") == "fitted":
                entry["reason"] += (f" (the folder still holds the fit of "
                                    f"{old.get('updated', 'an earlier run')})")
            entries[user.user_id] = entry
        if users:
            print(f"\nWrote the map of user ids to folders: {_write_output_map(out, entries)}")
    if stopped is not None:
        raise stopped
    failed = [o for o in (outcomes[u.user_id] for u in users) if o.status != "fitted"]
    if failed:
        lines = "; ".join(f"{o.user_id!r}: {o.reason}" for o in failed)
        raise FitIncompleteError(
            f"{len(failed)} of {len(users)} user(s) could not be fitted ({lines}). Nothing "
            f"was written for them; the {len(users) - len(failed)} others are in {out}.")
    return 0


def _fit_runnable(args: argparse.Namespace, users: list[Any], folders: dict[str, str],
                  out: Path, cache: Path | None, settings: dict[str, Any],
                  outcomes: dict[str, UserOutcome]) -> BaseException | None:
    """Fit ``users`` on one client; fill ``outcomes``; return a run-wide error, if any."""
    from persona_judge.io import replace_folder
    from persona_judge.llm import TrackedClient
    from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user
    from persona_judge.study.notebook import real_llm, smoke_llm

    config = SynthesizeMeConfig(n_candidates=args.n_candidates, m_candidates=args.m_candidates,
                                variant=args.variant,
                                persona_instruction=args.persona_instruction, seed=args.seed)
    run_wide = _run_wide_errors()

    def fit_one(user: Any) -> tuple[UserOutcome, Any]:
        tracked = TrackedClient(client)
        art = fit_user(user, tracked, config)
        folder = folders[user.user_id]
        if tracked.failed_calls:
            return UserOutcome(user.user_id, folder, "failed", (
                f"{tracked.failed_calls} LLM call(s) failed after all retries (last: "
                f"{tracked.last_error}); nothing was written for this user. Finished calls "
                "are cached: rerun the same command to retry only the failed ones")), None
        if art.learned_nothing is not None:
            return UserOutcome(user.user_id, folder, "failed", (
                f"{art.learned_nothing}; nothing was written for this user. The model's "
                "answers are cached: check that it follows the judge's answer format "
                "(--structured-output json_schema or json_object asks the server to "
                "enforce it) or use another --model")), None
        if args.smoke:
            art.label = SMOKE_LABEL
        staging = out / f".staging-{folder}-{os.getpid()}"
        try:
            write_outputs(art, staging)
            replace_folder(staging, out / folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already unless writing failed
        return UserOutcome(user.user_id, folder, "fitted"), art

    stopped: BaseException | None = None
    with ExitStack() as stack:
        if args.smoke:
            client = stack.enter_context(smoke_llm(args.model, cache_path=cache,
                                                   **{"progress": False, **settings}))
        else:
            client = stack.enter_context(closing(real_llm(
                args.model, cache_path=cache, **{"progress": False, **settings})))
        pool = stack.enter_context(ThreadPoolExecutor(
            max_workers=min(USER_WORKERS, len(users)), thread_name_prefix="fit-user"))
        futures: dict[Future[tuple[UserOutcome, Any]], Any] = {
            pool.submit(fit_one, u): u for u in users}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.cancelled():  # never started: recorded as "not run"
                    continue
                user = futures[future]
                folder = folders[user.user_id]
                try:
                    outcome, art = future.result()
                except run_wide as err:
                    stopped = stopped or err
                    for other in pending:
                        other.cancel()
                    continue
                except PersonaJudgeError as err:  # this user's problem (e.g. a refused call)
                    outcome, art = UserOutcome(user.user_id, folder, "failed", str(err)), None
                except BaseException:
                    for other in pending:  # a bug: stop at once, keep its traceback
                        other.cancel()
                    raise
                outcomes[user.user_id] = outcome
                if art is not None:
                    _print_fit(art, out / folder, n_test=len(user.test))
                else:
                    print(f"\n== {user.user_id}: NOT fitted: {outcome.reason}")
        print(client.summary())
    return stopped


def add_fit_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit", help="fit SynthesizeMe on your own preferences file",
        description="Fit SynthesizeMe (persona + demonstrations) on a preferences file and "
                    "write, per user, the persona, judge prompt and generation prompt.",
        epilog="Exit status: 0 all users fitted; 2 an expected problem (input, settings, "
               "endpoint, output folder) or some users not fitted, a fit that learned "
               "nothing included (see users.json); 1 a bug.")
    p.add_argument("prefs_file", help="JSONL, JSON array or CSV of preferences (prompt or "
                                      "context, chosen, rejected; optional user_id, split, "
                                      "pair_id)")
    p.add_argument("--out", default="persona_out", help="output folder (default: persona_out); "
                   "one sub-folder per user, mapped in users.json")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="judge model id (Together, or your server's model name)")
    p.add_argument("--smoke", action="store_true",
                   help="use a local scripted stand-in model (no endpoint, no key sent; output "
                        "is not real)")
    p.add_argument("--user", default=None, help="fit only this user_id from the file (other "
                                                "users' rows are not read further)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-candidates", type=_positive_int, default=10,
                   help="step-1 candidates (paper: 10)")
    p.add_argument("--m-candidates", type=_positive_int, default=10,
                   help="demo candidates (paper: 10)")
    p.add_argument("--variant", choices=("public", "ours"), default="public",
                   help="judge and Θ: public (the paper's public code: released persona "
                        "program, First/Second verdicts; the default) or ours (our Θ, JSON "
                        "verdicts)")
    p.add_argument("--persona-instruction", default=None,
                   help="persona-synthesis instruction Θ: 'public', a packaged template id "
                        "or a .txt file (default: the variant's)")
    p.add_argument("--cache", default=None, help="LLM cache file (default: data/cache/"
                                                 "llm-real.sqlite; with --smoke a temporary "
                                                 "file)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip rows that fail validation (listed with file, line, field and "
                        "reason) instead of stopping at the first")
    p.add_argument("--drop-duplicates", action="store_true",
                   help="drop rows that exactly repeat an earlier row (reported) instead of "
                        "stopping")
    llm = p.add_argument_group("LLM client (defaults: the client's, see README)")
    llm.add_argument("--timeout", type=_positive_float, default=None,
                     help="seconds to wait for one answer before waiting longer (default "
                          "120); a request is never sent again while the server may still "
                          "be working on it")
    llm.add_argument("--connect-timeout", type=_positive_float, default=None,
                     help="seconds to open a connection (default 5)")
    llm.add_argument("--max-retries", type=_non_negative_int, default=None,
                     help="retries per call on 429/5xx/dropped connections (default 6)")
    llm.add_argument("--max-timeout-retries", type=_non_negative_int, default=None,
                     help="after --timeout, wait this many more times for the same answer, "
                          "each wait twice the one before (default 2: 120 + 240 + 480 s)")
    llm.add_argument("--max-concurrency", type=_positive_int, default=None,
                     help="LLM calls in flight at once (default 8)")
    llm.add_argument("--structured-output", default=None,
                     choices=("auto", "json_schema", "json_object", "off"),
                     help="ask for JSON verdicts: auto (default) detects what the endpoint "
                          "accepts")
    p.set_defaults(handler=_fit)


# -- estimate ----------------------------------------------------------------------------
def _estimate(args: argparse.Namespace) -> int:
    from persona_judge import paths
    from persona_judge.study.commands import study_overrides
    from persona_judge.study.estimate import (
        EstimateOptions,
        estimate_study,
        format_table,
        grid_table,
        stage_table,
    )
    from persona_judge.study.runner import load_config

    overrides = study_overrides(args)
    config = load_config(args.config, overrides)
    _check_study_settings(config)
    options = EstimateOptions(completion_tokens=args.completion_tokens)
    _check_benchmark_on_disk(config, overrides, args.only or None)
    estimates = estimate_study(config, overrides, only=args.only or None, options=options)
    print(f"Estimate for a {config['mode']} run of {len(estimates)} chapter run(s) "
          f"(every grid cell of study.yaml; -p narrows it). Nothing is sent.")
    for e in estimates:
        users, pairs = e.spend.attrs.get("users"), e.spend.attrs.get("test_pairs")
        size = f": {users} users, {pairs} test pairs" if users is not None else ""
        print(f"\n== {e.label}{size}")
        if e.problem is not None:
            print(f"not estimated: {e.problem}")
            continue
        print(format_table(e.spend))
    if len(estimates) > 1:
        print("\n== per stage, summed over the runs above")
        print(format_table(stage_table(estimates)))
    print("\n== per run, and the whole study")
    print(format_table(grid_table(estimates)))
    tokens = ("completion tokens assume the full max_tokens of every request (an upper bound)"
              if args.completion_tokens is None
              else f"completion tokens assume {args.completion_tokens} per call")
    print(f"\nDry run: nothing was sent. Answers already in {paths.cache_path(config['mode'])} "
          f"count as cache hits (free); {tokens}; fits are shared by the methods that reuse "
          "them (one fit per user per setting). Dollars from prices.yaml (unverified list "
          "prices; a model it does not list costs $0.00 here).")
    return 0


def _check_benchmark_on_disk(config: dict[str, Any], overrides: dict[str, Any],
                             only: list[str] | None) -> None:
    """Every benchmark dataset the estimated chapters read is on disk, or one message
    naming all the missing ones (the construction chapter reads the raw sources instead)."""
    from persona_judge.study.estimate import ESTIMATORS
    from persona_judge.study.runner import chapters, check_data, expand, select

    runs = select([r for c in chapters(config) for r in expand(c, overrides)], only)
    check_data(config, [r for r in runs if r.name in ESTIMATORS
                        and r.name != "00_benchmark_construction"])


def _check_study_settings(config: dict[str, Any]) -> None:
    """The settings ``estimate`` uses, checked up front so a typo is a one-line message."""
    from persona_judge.data.benchmark import BENCHMARKS, CONSTRUCTED

    if config.get("dataset") not in (*BENCHMARKS, *CONSTRUCTED):
        raise SettingsError(f"setting dataset must be one of {', '.join(BENCHMARKS)} or "
                            f"{', '.join(CONSTRUCTED)}, got "
                            f"{config.get('dataset')!r}")
    for name in ("n_candidates", "m_candidates", "max_users"):
        value = config.get(name, 10)
        if name == "max_users" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SettingsError(f"setting {name} must be a whole number >= 1"
                                + (" or null" if name == "max_users" else "")
                                + f", got {value!r}")


def add_estimate_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="print calls, tokens and dollars for a study "
                                        "configuration (dry run, nothing is sent)")
    p.add_argument("config", nargs="?", default=None, help="study configuration (default: "
                                                           "study.yaml)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. -p max_users=131 (repeatable)")
    p.add_argument("--smoke", action="store_true",
                   help="estimate a smoke run (the same as -p mode=smoke)")
    p.add_argument("--completion-tokens", type=_positive_int, default=None,
                   help="assumed completion tokens per call (default: each request's "
                        "max_tokens, an upper bound)")
    p.add_argument("--only", action="append", metavar="NOTEBOOK",
                   help="estimate just this chapter, e.g. --only 05_main_results (repeatable)")
    p.set_defaults(handler=_estimate)


# -- wiring ------------------------------------------------------------------------------
def _study_commands(sub: argparse._SubParsersAction) -> None:
    from persona_judge.study.commands import add_study_commands

    add_study_commands(sub)


def _optimise_theta_command(sub: argparse._SubParsersAction) -> None:
    from persona_judge.optimisation.cli import add_optimise_theta_command

    add_optimise_theta_command(sub)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_fit_command, add_estimate_command, _optimise_theta_command, _study_commands]


def build_parser() -> argparse.ArgumentParser:
    from persona_judge import __version__

    parser = argparse.ArgumentParser(
        prog="persona-judge",
        description="SynthesizeMe: personas and demonstrations that personalize LLM judges.",
        epilog="Exit status: 0 done; 1 a bug (traceback shown); 2 an expected problem with "
               "input, settings, endpoint or output (one-paragraph message); 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"persona-judge {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback instead of a one-paragraph error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; expected problems exit 2, bugs exit 1 with their traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except PersonaJudgeError as err:
        if args.traceback:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished LLM calls are in the cache; rerun the same command to "
              "resume", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"\n{BUG_REPORT}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
