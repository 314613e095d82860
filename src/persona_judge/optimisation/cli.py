"""``persona-judge optimise-theta FILE --out theta.txt``: a Θ searched on your own users.

Every user of the preferences file with training and validation rows is a training user
of the search (:func:`~persona_judge.optimisation.theta_search.optimise_theta`); test rows
are never read by it, so they stay free for judging the result. Each Θ is scored with the
judge of ``--variant`` (as ``fit --variant``; default public), so use the Θ written with
the same variant. Before any call the
command checks the file, the output path, the cache, the starting instruction and the
endpoint, and prints a dry-run estimate of the search (calls, tokens, dollars; cache hits
are free); ``--estimate-only`` stops there. It writes the winning Θ to ``--out`` (a file
that ``persona-judge fit --persona-instruction`` reads) and, beside it in
``<out stem>_search/``, every candidate with its score (``candidates.csv``,
``search.json``) and the candidates' Θ files. ``--optimiser miprov2`` runs DSPy's MIPROv2
instead (:mod:`~persona_judge.optimisation.miprov2`; the optional ``[reference]`` extra),
with the same checks, estimate, outputs (plus ``program.json``, the winning DSPy program)
and exit codes. Exit status as for ``fit``: 0 done, 2 an
expected problem, 1 a bug, 130 interrupted (finished calls are cached: rerun to resume).
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from persona_judge.cli import (
    DEFAULT_MODEL,
    _llm_settings,
    _non_negative_int,
    _positive_float,
    _positive_int,
    check_persona_instruction,
)
from persona_judge.errors import OutputError, SettingsError

START_FROM = "persona_synthesis@v1"
SMOKE_LABEL = ("SMOKE RUN: searched against a scripted stand-in model on this machine, not a "
               "real LLM. The Θ written only shows that the search runs.")


def _check_out_file(path: str) -> Path:
    out = Path(path).expanduser()
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give a file name such as theta.txt")
    if out.suffix != ".txt":
        raise OutputError(f"--out {out}: a Θ file must end in .txt (that is how "
                          "--persona-instruction tells a file from a template id)")
    from persona_judge.io import check_output_root

    check_output_root(out.parent, what="folder of --out")
    return out.resolve()


def _optimise_theta(args: argparse.Namespace) -> int:
    from persona_judge.data.records import group_by_user
    from persona_judge.data.user_file import load_preferences_file
    from persona_judge.optimisation.theta_search import (
        NoTrainingUsersError,
        ThetaBudget,
        call_bound,
        scorable,
    )

    report = load_preferences_file(
        args.prefs_file, seed=args.seed, drop_duplicates=args.drop_duplicates,
        on_error="skip" if args.skip_bad_rows else "raise")
    for note in report.notes():
        print(note)
    users = list(group_by_user(report.preferences).values())
    train = scorable(users)
    left_out = [u.user_id for u in users if u not in train]
    if not train:
        raise NoTrainingUsersError(
            f"{report.source}: none of its {len(users)} user(s) has both 'train' and 'val' "
            "rows, so no Θ can be scored; give users more preferences (the file's splits are "
            "assigned per user when it has no 'split' column)")
    if left_out:
        print(f"not used (no training or no validation rows): {', '.join(left_out)}")
    if not args.smoke:
        from persona_judge.study.notebook import require_endpoint

        require_endpoint()
    out = _check_out_file(args.out)
    from persona_judge import paths
    from persona_judge.llm.cache import check_cache_file
    from persona_judge.method.synthesizeme import SynthesizeMeConfig

    cache = Path(args.cache).expanduser() if args.cache else None
    if cache is not None or not args.smoke:
        cache = check_cache_file(cache or paths.cache_path("real"))
    if args.optimiser == "miprov2":
        return _optimise_miprov2(args, train, cache, out)
    try:
        check_persona_instruction(args.start_from)
    except SettingsError as err:
        text = str(err).removeprefix(f"--persona-instruction {args.start_from}: ")
        raise SettingsError(f"--start-from {args.start_from}: {text}") from None
    budget = ThetaBudget(args.max_candidates, args.rounds, args.max_calls)
    config = SynthesizeMeConfig(n_candidates=args.n_candidates, seed=args.seed,
                                variant=args.variant, persona_instruction=args.start_from,
                                components=("persona",))
    print(f"{len(train)} training user(s): {', '.join(u.user_id for u in train)}; "
          f"{budget.max_candidates} proposal(s) in {budget.rounds} round(s); at most "
          f"{call_bound(train, config, budget, 1):,} method requests")
    settings = {"progress": not args.smoke, **_llm_settings(args)}
    with ExitStack() as stack:
        client = _open_client(args, cache, settings, stack)
        _print_estimate(client, train, config, budget, out)
        if args.estimate_only:
            return 0
        search = _search(client, train, config, budget, out)
        if args.smoke:
            search.notes.append(SMOKE_LABEL)
        print(client.summary())
    from persona_judge.optimisation.theta_search import write_theta

    search.save(out.parent / f"{out.stem}_search")
    write_theta(search.best_candidate.instruction, out, framing=args.start_from)
    best = search.best_candidate
    table = search.table()
    shown = table[["candidate", "origin", "round", "status", "accuracy", "best"]]
    print(shown.to_string(index=False, na_rep="–", float_format=lambda v: f"{v:.1f}"))
    label = f"{SMOKE_LABEL}\n" if args.smoke else ""
    score = "–" if best.accuracy is None else f"{100 * best.accuracy:.1f}%"
    print(f"\n{label}Best: candidate {best.index} ({best.origin}), validation accuracy "
          f"{score} over {len(train)} training user(s).\nWrote {out} (use it with "
          f"persona-judge fit --persona-instruction {out}) and every candidate in "
          f"{out.parent / (out.stem + '_search')}.")
    return 0


def _optimise_miprov2(args: argparse.Namespace, train: list[Any], cache: Path | None,
                      out: Path) -> int:
    """The ``--optimiser miprov2`` arm: same checks, estimate and outputs as the search."""
    from persona_judge.reference.extra import require_reference_extra

    require_reference_extra("--optimiser miprov2")
    if args.start_from != START_FROM:
        raise SettingsError(f"--start-from {args.start_from}: --optimiser miprov2 starts from "
                            "its own DSPy program's instruction; leave --start-from out")
    from persona_judge.method.synthesizeme import SynthesizeMeConfig
    from persona_judge.optimisation.miprov2 import (
        MiproSettings,
        call_bound,
        describe_bound,
        optimise_theta_miprov2,
        split_roles,
    )

    settings = MiproSettings(
        num_candidates=args.max_candidates, num_trials=args.num_trials,
        max_bootstrapped_demos=args.max_bootstrapped_demos,
        max_labeled_demos=args.max_labeled_demos, minibatch=args.minibatch,
        seed=args.seed, max_calls=args.max_calls)
    config = SynthesizeMeConfig(n_candidates=args.n_candidates, seed=args.seed,
                                variant=args.variant, persona_instruction="persona_synthesis@v1",
                                components=("persona",))
    demo, scoring = split_roles(train, settings)
    print(describe_bound(len(demo), len(scoring), settings,
                         call_bound(demo, scoring, config, settings)))
    folder = out.parent / f"{out.stem}_search"
    llm_settings = {"progress": not args.smoke, **_llm_settings(args)}
    with ExitStack() as stack:
        client = _open_client(args, cache, llm_settings, stack)
        _print_dry_run(client, lambda twin, tmp: optimise_theta_miprov2(
            train, twin, config, settings=settings, folder=tmp))
        if args.estimate_only:
            return 0
        search = optimise_theta_miprov2(train, client, config, settings=settings,
                                        folder=folder)
        if args.smoke:
            search.notes.append(SMOKE_LABEL)
        print(client.summary())
    from persona_judge.optimisation.miprov2 import write_text

    search.save(folder)
    write_text(search.theta_text, out)
    table = search.table()
    shown = table[["candidate", "trial", "kind", "demos", "accuracy", "miprov2 score", "best"]]
    print(shown.to_string(index=False, na_rep="–", float_format=lambda v: f"{v:.1f}"))
    best = search.best_candidate
    label = f"{SMOKE_LABEL}\n" if args.smoke else ""
    print(f"\n{label}Best (MIPROv2's pick): candidate {best.index} (trial {best.trial}, "
          f"{best.n_demos} worked demonstration(s)), MIPROv2 score "
          f"{100 * best.miprov2_score:.1f} over {len(scoring)} scoring user(s).\nWrote {out} "
          f"(use it with persona-judge fit --variant {args.variant} --persona-instruction "
          f"{out}) and every candidate in {folder}.")
    return 0


def _print_dry_run(client: Any, run: Any) -> None:
    """Run ``run(twin, folder)`` on a dry-run twin of ``client`` and print what it counted."""
    import tempfile

    from persona_judge.analyses.common import dry_run_twin

    twin = dry_run_twin(client)
    try:
        with tempfile.TemporaryDirectory(prefix="persona-judge-theta-dry-") as tmp:
            run(twin, tmp)
        stats = twin.stats
        print(f"dry run (nothing sent): {stats.calls:,} call(s), {stats.cache_hits:,} cache "
              f"hit(s), ~{stats.prompt_tokens:,} prompt + {stats.completion_tokens:,} "
              f"completion tokens, ${stats.dollars:,.2f} at list prices")
    finally:
        twin.close()


def _open_client(args: argparse.Namespace, cache: Path | None, settings: dict[str, Any],
                 stack: ExitStack) -> Any:
    from persona_judge.study.notebook import real_llm, smoke_llm

    if args.smoke:
        from persona_judge.optimisation.smoke import theta_responder

        return stack.enter_context(smoke_llm(args.model, cache_path=cache,
                                             responder=theta_responder, **settings))
    return stack.enter_context(closing(real_llm(args.model, cache_path=cache, **settings)))


def _print_estimate(client: Any, train: list[Any], config: Any, budget: Any, out: Path) -> None:
    from persona_judge.optimisation.theta_search import optimise_theta

    _print_dry_run(client, lambda twin, tmp: optimise_theta(
        train, twin, config, budget=budget, folder=tmp, seeds=(config.persona_instruction,)))


def _search(client: Any, train: list[Any], config: Any, budget: Any, out: Path) -> Any:
    from persona_judge.optimisation.theta_search import optimise_theta

    return optimise_theta(train, client, config, budget=budget,
                          folder=out.parent / f"{out.stem}_search" / "candidates",
                          seeds=(config.persona_instruction,))


def add_optimise_theta_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "optimise-theta", help="search a persona instruction Θ on your own users",
        description="Search the persona-synthesis instruction Θ on the users of a preferences "
                    "file (validation accuracy of the persona-guided judge) and write the best "
                    "as a Θ file for `persona-judge fit --persona-instruction`.",
        epilog="Exit status: 0 done; 2 an expected problem (input, settings, endpoint, output, "
               "budget); 1 a bug; 130 interrupted (finished calls are cached).")
    p.add_argument("prefs_file", help="JSONL, JSON array or CSV of preferences with several "
                                      "users (user_id); users need train and val rows")
    p.add_argument("--out", default="theta.txt", help="the Θ file to write (default theta.txt); "
                   "every candidate goes to <stem>_search/ beside it")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="the model that writes personas and judges (and proposes)")
    p.add_argument("--smoke", action="store_true",
                   help="use a local scripted stand-in model (no endpoint; output is not real)")
    p.add_argument("--variant", choices=("public", "ours"), default="public",
                   help="the judge that scores each Θ, as fit --variant: public (First/Second "
                        "verdicts, persona in the system message; fit's default) or ours (JSON "
                        "verdicts); use the Θ with the same --variant")
    p.add_argument("--optimiser", choices=("search", "miprov2"), default="search",
                   help="search: the study's propose-and-score search over its own templates "
                        "(default); miprov2: DSPy's MIPROv2, the authors' optimiser, over a "
                        "DSPy persona program whose instruction and worked demonstrations "
                        "become a public-variant Θ file (needs pip install -e '.[reference]')")
    p.add_argument("--start-from", default=START_FROM,
                   help="the starting Θ (scored first; its framing is kept): a template id, a "
                        ".txt file, or 'public'")
    p.add_argument("--max-candidates", type=_non_negative_int, default=8,
                   help="instructions to propose (default 8); with miprov2 its num_candidates "
                        "(instruction candidates and demo sets, at least 3)")
    p.add_argument("--rounds", type=_positive_int, default=2,
                   help="proposal rounds; each sees the scores so far (default 2)")
    mipro = p.add_argument_group("--optimiser miprov2 (MIPROv2's settings)")
    mipro.add_argument("--num-trials", type=_positive_int, default=16,
                       help="MIPROv2 trials, the first scores the starting program (default 16)")
    mipro.add_argument("--max-bootstrapped-demos", type=_non_negative_int, default=6,
                       help="worked demonstrations per demo set (default 6, as the released "
                            "programs)")
    mipro.add_argument("--max-labeled-demos", type=_non_negative_int, default=0,
                       help="raw histories per demo set (default 0; they hold no persona and "
                            "are left out of the Θ file)")
    mipro.add_argument("--minibatch", action="store_true",
                       help="score trials on minibatches of scoring users (default: all)")
    p.add_argument("--max-calls", type=_positive_int, default=None,
                   help="refuse to start if the search may make more method requests")
    p.add_argument("--estimate-only", action="store_true",
                   help="print the dry-run estimate and stop (nothing sent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-candidates", type=_positive_int, default=10,
                   help="step-1 candidates per user (paper: 10)")
    p.add_argument("--cache", default=None, help="LLM cache file (default: data/cache/"
                                                 "llm-real.sqlite; with --smoke a temporary "
                                                 "file)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="skip rows that fail validation instead of stopping at the first")
    p.add_argument("--drop-duplicates", action="store_true",
                   help="drop rows that exactly repeat an earlier row instead of stopping")
    llm = p.add_argument_group("LLM client (defaults: the client's, see README)")
    llm.add_argument("--timeout", type=_positive_float, default=None)
    llm.add_argument("--connect-timeout", type=_positive_float, default=None)
    llm.add_argument("--max-retries", type=_non_negative_int, default=None)
    llm.add_argument("--max-timeout-retries", type=_non_negative_int, default=None)
    llm.add_argument("--max-concurrency", type=_positive_int, default=None)
    llm.add_argument("--structured-output", default=None,
                     choices=("auto", "json_schema", "json_object", "off"))
    p.set_defaults(handler=_optimise_theta)
