"""Optimising Θ with DSPy's MIPROv2, the authors' optimiser, through the study's one cached client.

The paper optimised its persona-synthesis prompt once with MIPROv2 and released the result
as a saved DSPy program (instruction + worked demonstrations). This module reruns that
optimisation on training users of our own, with DSPy's own ``MIPROv2`` (dspy 2.6.12, the
optional ``[reference]`` extra) over a persona program of our writing
(:mod:`persona_judge.optimisation.persona_program`), and turns the winning program into a
Θ file with the same converter that reads the released program
(:func:`persona_judge.method.theta.program_template_text`).

* **Examples.** Step 1 of the method (bootstrap reasoning) runs once per training user, as
  in :mod:`~persona_judge.optimisation.theta_search` (same requests, so the cache shares
  them). A user's ``past_judgements`` are what a public-variant fit would show the persona
  writer: the winning step-1 candidate's verified traces and labelled choices
  (:func:`~persona_judge.method.persona.persona_examples`), rendered by the Θ framing
  (:func:`~persona_judge.method.persona.render_history`). One ``dspy.Example`` per user;
  its validation pairs stay in our hands (the example carries the user id only).
* **Two disjoint roles** (a seeded split, MIPROv2's own default proportions): *demo users*
  (MIPROv2's trainset: worked demonstrations are bootstrapped from them, and the
  proposer reads them) and *scoring users* (its valset: every candidate program is scored
  on them). A user's own history never serves as a demonstration while that user scores.
* **Metric** (what the paper optimises): the persona the program wrote for a user is handed
  to the persona-only judge of the configuration's ``variant``, which judges each of the
  user's validation pairs in both orders
  (:func:`~persona_judge.optimisation.theta_search.validation_requests`); the metric is the
  share judged correctly (ties, unparseable answers, failed calls count as wrong; a persona
  too short to use leaves the default judge). MIPROv2 averages it over users, so its score
  weighs each user equally; the table also gives the accuracy pooled over judgments, as
  the Θ search reports it.
* **LM calls.** Prompt model (proposals) and task model (the program) are both
  :class:`~persona_judge.reference.lm.StudyLM` over the one client, cache namespace
  :data:`TEMPLATE`; DSPy's cache is off. The DSPy LM is set with ``dspy.context`` (a
  per-thread override that DSPy's worker threads inherit), never ``dspy.configure``, so
  the reference arm's configuring thread is not disturbed. DSPy swallows errors inside
  its evaluations; a stop of the client (dead endpoint, replay miss) is kept and raised
  when MIPROv2 returns.
* **Every candidate is kept**: each trial MIPROv2 logged (its instruction and demo-set
  indexes, the program's instruction and demonstrations, MIPROv2's score, and per scoring
  user the judgments counted by our metric), the winner's saved program JSON, and every
  scored program's JSON. **Budget**: :func:`call_bound` bounds the method requests before
  anything starts (``max_calls`` refuses above it); a dry-run client prices a run.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import random
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.evaluation.predict import fit_concurrently
from persona_judge.method.bootstrap import BootstrapResult
from persona_judge.method.persona import clean_persona, persona_examples, render_history
from persona_judge.method.synthesizeme import SynthesizeMeConfig, bootstrap_step
from persona_judge.method.templates import parse_template
from persona_judge.method.theta import program_template_text
from persona_judge.optimisation.theta_search import (
    NoTrainingUsersError,
    PooledAccuracy,
    ThetaBudget,
    ThetaBudgetError,
    is_correct,
    scorable,
    validation_requests,
)
from persona_judge.optimisation.theta_search import call_bound as search_call_bound
from persona_judge.reference.extra import DSPY_VERSION, require_reference_extra

log = logging.getLogger(__name__)
#: Cache namespace of this arm's DSPy requests (program and proposer).
TEMPLATE = f"theta_miprov2@dspy-{DSPY_VERSION}"
SETTING = "optimiser=miprov2"
_PROPOSER_CALLS = 11 + 1  # dataset summary (at most 11 calls) + one program description


@dataclass(frozen=True)
class MiproSettings:
    """MIPROv2's knobs (named as MIPROv2 names them), with this study's defaults.

    ``num_candidates`` instruction candidates (candidate 0 is our starting instruction) and
    as many demo sets; ``num_trials`` trials (the first scores the starting program);
    ``max_bootstrapped_demos`` worked demonstrations per set (the released programs carry
    6); ``max_labeled_demos`` raw examples per set (0: a history without a persona teaches
    the writer nothing, and the Θ file keeps only complete demonstrations); ``minibatch``
    scores trials on ``minibatch_size`` scoring users with a full evaluation every
    ``minibatch_full_eval_steps``; ``valset_share`` the share of training users that score
    (MIPROv2's own split: 0.8); ``seed`` seeds the split, MIPROv2 and Optuna's sampler;
    ``max_calls`` refuses a run whose :func:`call_bound` exceeds it.
    """

    num_candidates: int = 8
    num_trials: int = 16
    max_bootstrapped_demos: int = 6
    max_labeled_demos: int = 0
    minibatch: bool = False
    minibatch_size: int = 25
    minibatch_full_eval_steps: int = 10
    valset_share: float = 0.8
    init_temperature: float = 0.5
    num_threads: int = 4
    seed: int = 0
    max_calls: int | None = None

    def __post_init__(self) -> None:
        checks = (("num_candidates", self.num_candidates >= 3, "at least 3 (MIPROv2's first "
                   "two demo sets hold no bootstrapped demonstrations)"),
                  ("num_trials", self.num_trials >= 1, "at least 1"),
                  ("max_bootstrapped_demos", self.max_bootstrapped_demos >= 0, "at least 0"),
                  ("max_labeled_demos", self.max_labeled_demos >= 0, "at least 0"),
                  ("minibatch_size", self.minibatch_size >= 1, "at least 1"),
                  ("minibatch_full_eval_steps", self.minibatch_full_eval_steps >= 1,
                   "at least 1"),
                  ("valset_share", 0 < self.valset_share < 1, "between 0 and 1"),
                  ("num_threads", self.num_threads >= 1, "at least 1"),
                  ("max_calls", self.max_calls is None or self.max_calls >= 1,
                   "at least 1 or null (no cap)"))
        for name, ok, want in checks:
            if not ok:
                raise SettingsError(f"MIPROv2 setting {name} must be {want}, got "
                                    f"{getattr(self, name)!r}")


@dataclass
class MiproCandidate(PooledAccuracy):
    """One program MIPROv2 scored (a trial, or the full evaluation of a trial's winner)."""

    index: int
    trial: int                 # MIPROv2's trial number (-1: the starting program)
    kind: str                  # "full evaluation" or "minibatch"
    instruction_index: int | None
    demo_set_index: int | None
    instruction: str
    n_demos: int
    program: str               # fingerprint: the file programs/<fingerprint>.json
    miprov2_score: float       # MIPROv2's score in [0, 1] (mean over users, 4 decimals)
    per_user: dict[str, list[int]] = field(default_factory=dict)  # user -> [correct, judged]
    personas: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MiproCandidate:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class MiproSearch:
    """Every candidate MIPROv2 scored, its winner (program and Θ file text), and settings."""

    candidates: list[MiproCandidate]
    best: int
    demo_users: list[str]
    scoring_users: list[str]
    model: str
    program: dict[str, Any]            # the winner's saved DSPy state
    theta_text: str                    # the winner as a Θ file
    settings: dict[str, Any]
    programs: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> state
    spend: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def best_candidate(self) -> MiproCandidate:
        return self.candidates[self.best]

    @property
    def train_users(self) -> list[str]:
        return sorted(self.demo_users + self.scoring_users)

    def table(self) -> pd.DataFrame:
        """One row per scored program: trial, indexes, both scores, the instruction."""
        return pd.DataFrame([{
            "candidate": c.index, "trial": c.trial, "kind": c.kind,
            "instruction index": c.instruction_index, "demo set": c.demo_set_index,
            "demos": c.n_demos, "correct": c.n_correct, "judged": c.n_judged,
            "accuracy": None if c.accuracy is None else 100 * c.accuracy,
            "miprov2 score": 100 * c.miprov2_score, "best": c.index == self.best,
            "program": c.program, "instruction": c.instruction} for c in self.candidates])

    def to_dict(self) -> dict[str, Any]:
        return {"format": "persona_judge/theta-miprov2@1", "best": self.best,
                "demo_users": self.demo_users, "scoring_users": self.scoring_users,
                "model": self.model, "settings": self.settings, "spend": self.spend,
                "notes": self.notes, "candidates": [c.to_dict() for c in self.candidates]}

    def save(self, folder: str | Path, *, theta_name: str = "theta.txt") -> Path:
        """Write ``search.json``, ``candidates.csv``, ``program.json`` (the winner's DSPy
        state), ``programs/<fingerprint>.json`` (every scored program) and the Θ file;
        returns the Θ file's path."""
        from persona_judge.io import atomic_write_text

        folder = Path(folder)
        (folder / "programs").mkdir(parents=True, exist_ok=True)
        dump = lambda data: json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # noqa: E731
        atomic_write_text(folder / "search.json", dump(self.to_dict()))
        atomic_write_text(folder / "candidates.csv", self.table().to_csv(index=False))
        atomic_write_text(folder / "program.json", dump(self.program))
        for name, state in self.programs.items():
            atomic_write_text(folder / "programs" / f"{name}.json", dump(state))
        return write_text(self.theta_text, folder / theta_name)


def write_text(text: str, path: str | Path) -> Path:
    from persona_judge.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, text)


# -- users and examples ------------------------------------------------------------------------
def split_roles(users: Sequence[UserSplit], settings: MiproSettings
                ) -> tuple[list[UserSplit], list[UserSplit]]:
    """Demo users (MIPROv2's trainset) and scoring users (its valset): disjoint, seeded,
    at least one of each; each list in id order."""
    ordered = sorted(users, key=lambda u: u.user_id)
    if len(ordered) < 2:
        raise NoTrainingUsersError(
            f"MIPROv2 needs at least 2 training users with train and validation pairs (one "
            f"to draw demonstrations from, one to score on), got {len(ordered)}")
    n_scoring = min(len(ordered) - 1, max(1, int(len(ordered) * settings.valset_share)))
    rng = random.Random(f"miprov2-roles|{settings.seed}")
    scoring = set(rng.sample([u.user_id for u in ordered], n_scoring))
    return ([u for u in ordered if u.user_id not in scoring],
            [u for u in ordered if u.user_id in scoring])


def seed_program_state() -> dict[str, Any]:
    """Our starting program's saved state (instruction, no demonstrations)."""
    from persona_judge.optimisation.persona_program import PersonaProgram, saved_state

    return saved_state(PersonaProgram())


def framing_file(folder: Path) -> Path:
    """Our starting program as a Θ file: the framing that renders every user's history."""
    path = folder / "persona_synthesis_miprov2_seed.txt"
    write_text(program_template_text(seed_program_state(), "the MIPROv2 starting program"),
               path)
    return path


def past_judgements(user: UserSplit, step: BootstrapResult, framing: str | Path) -> str:
    """What the persona writer is shown of ``user`` (see the module doc)."""
    winner = step.candidates[step.winner] if step.candidates else None
    examples, _ = persona_examples(list(user.train), step.traces, winner)
    return render_history(examples, str(framing))


# -- the metric ---------------------------------------------------------------------------
class PersonaMetric:
    """MIPROv2's metric: validation accuracy of the judge guided by the persona written.

    Records, per (program fingerprint, user), the persona and [correct, judged], so every
    candidate's per-user judgments can be read back without a second call."""

    def __init__(self, users: Mapping[str, UserSplit], client: Any,
                 config: SynthesizeMeConfig) -> None:
        self.users = dict(users)
        self.client = client
        self.config = config
        self.style = config.judge_style()
        self.records: dict[tuple[str, str], tuple[str | None, list[int]]] = {}
        self.stopped: PersonaJudgeError | None = None
        self._lock = threading.Lock()

    def __call__(self, example: Any, prediction: Any, trace: Any = None) -> float:
        user = self.users[str(example.user_id)]
        program = str(getattr(prediction, "candidate", ""))
        persona = clean_persona(str(getattr(prediction, "synthesized_persona", "") or ""))
        if persona is not None and getattr(self.client, "dry_run", False):
            # Dry-run personas barely differ between candidates; keep each program's
            # judgments distinct so that all of them are priced (a real run's differ).
            persona = f"{persona} (program {program})"
        jobs = validation_requests(persona, user, self.config, style=self.style,
                                   step="theta miprov2 candidate")
        try:
            verdicts = self.client.judge_many([r for r, _ in jobs], desc="MIPROv2 metric")
        except PersonaJudgeError as err:
            with self._lock:
                self.stopped = self.stopped or err
            raise
        counts = [sum(is_correct(v, o) for v, (_, o) in zip(verdicts, jobs, strict=True)),
                  len(jobs)]
        with self._lock:
            self.records[(program, user.user_id)] = (persona, counts)
        return counts[0] / counts[1] if counts[1] else 0.0


# -- budget ---------------------------------------------------------------------------------
def call_bound(demo: Sequence[UserSplit], scoring: Sequence[UserSplit],
               config: SynthesizeMeConfig, settings: MiproSettings) -> int:
    """The most method requests a MIPROv2 run can make. Step 1 for every training user;
    every DSPy call at most twice (DSPy retries a reply it cannot parse in JSON); the
    proposer's dataset summary and program description (12 calls), and per instruction
    candidate a module description and a proposal; bootstrapping ``num_candidates - 1``
    demo sets from the demo users; and ``num_trials`` evaluations on the scoring users
    (plus MIPROv2's extra full evaluations with ``minibatch``). A program run costs one
    persona call, its metric ``2 × n_val`` judgments. Parse resamples and HTTP retries
    come on top."""
    step1 = search_call_bound([*demo, *scoring], config, ThetaBudget(0, 1), 0)

    def run(user: UserSplit) -> int:
        return 2 + 2 * len(user.val)

    proposer = 2 * (_PROPOSER_CALLS + 2 * settings.num_candidates)
    bootstrap = (settings.num_candidates - 1) * sum(run(u) for u in demo)
    full = sum(run(u) for u in scoring)
    if settings.minibatch and settings.minibatch_size < len(scoring):
        per_user = max(run(u) for u in scoring)
        full_evals = 1 + settings.num_trials // settings.minibatch_full_eval_steps + 1
        evaluation = (settings.num_trials * settings.minibatch_size * per_user
                      + full_evals * full)
    else:
        evaluation = settings.num_trials * full
    return step1 + proposer + bootstrap + evaluation


# -- the run --------------------------------------------------------------------------------
def optimise_theta_miprov2(users: Sequence[UserSplit], client: Any,
                           config: SynthesizeMeConfig | None = None, *,
                           settings: MiproSettings | None = None, folder: str | Path,
                           max_workers: int = 4) -> MiproSearch:
    """Run MIPROv2 over our persona program on ``users`` (training users: never the ones its
    Θ is evaluated on) and return every candidate and the winning Θ (see the module doc).
    ``folder`` receives the framing Θ file; :meth:`MiproSearch.save` writes the rest."""
    require_reference_extra(SETTING)
    config = config or SynthesizeMeConfig()
    settings = settings or MiproSettings()
    train = scorable(users)
    if not train:
        raise NoTrainingUsersError(
            f"none of the {len(users)} user(s) has both training and validation pairs, so no "
            "Θ can be scored; give each user 'train' and 'val' rows")
    demo, scoring = split_roles(train, settings)
    if settings.minibatch and settings.minibatch_size > len(scoring):
        raise SettingsError(f"MIPROv2 setting minibatch_size={settings.minibatch_size} is above "
                            f"the {len(scoring)} scoring user(s); lower it or set "
                            "minibatch: false")
    bound = call_bound(demo, scoring, config, settings)
    if settings.max_calls is not None and bound > settings.max_calls:
        raise ThetaBudgetError(
            f"this MIPROv2 run may make up to {bound:,} method requests ({len(train)} training "
            f"users, {settings.num_candidates} candidates, {settings.num_trials} trials), above "
            f"max_calls={settings.max_calls:,}; lower num_candidates, num_trials or the number "
            "of training users, or raise max_calls")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    framing = framing_file(folder)
    # Step 1 does not read Θ; naming the framing keeps a "public" default from fetching.
    config = replace(config, persona_instruction=str(framing))
    before = client.stats.to_dict()
    steps = fit_concurrently(
        {u.user_id: (lambda u=u: bootstrap_step(u, client, config)) for u in train},
        failed=lambda uid: f"Bootstrap reasoning failed for training user {uid!r}",
        max_workers=max_workers, thread_name="miprov2-step1")
    metric = PersonaMetric({u.user_id: u for u in train}, client, config)
    compiled, lms = _compile(demo, scoring, steps, framing, client, config, settings, metric)
    stopped = metric.stopped or next((lm.stopped for lm in lms if lm.stopped), None)
    if stopped is not None:
        raise stopped
    after = client.stats.to_dict()
    spend = {k: after.get(k, 0) - before.get(k, 0)
             for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens")}
    return _result(compiled, metric, demo, scoring, str(getattr(client, "model", "")),
                   settings, config, framing, bound, spend)


def _compile(demo: Sequence[UserSplit], scoring: Sequence[UserSplit],
             steps: Mapping[str, BootstrapResult], framing: Path, client: Any,
             config: SynthesizeMeConfig, settings: MiproSettings, metric: PersonaMetric
             ) -> tuple[Any, list[Any]]:
    from persona_judge.optimisation.persona_program import PersonaProgram
    from persona_judge.reference.lm import StudyLM, dspy

    def examples(group: Sequence[UserSplit]) -> list[Any]:
        return [dspy.Example(past_judgements=past_judgements(u, steps[u.user_id], framing),
                             user_id=u.user_id).with_inputs("past_judgements") for u in group]

    labels = {"user": "", "pair": "", "step": "theta miprov2"}
    task_lm = StudyLM(client, max_tokens=config.persona_max_tokens, labels=labels,
                      template=TEMPLATE)
    prompt_lm = StudyLM(client, max_tokens=config.persona_max_tokens, labels=labels,
                        template=TEMPLATE)
    optimiser = dspy.MIPROv2(
        metric=metric, prompt_model=prompt_lm, task_model=task_lm, auto=None,
        num_candidates=settings.num_candidates,
        max_bootstrapped_demos=settings.max_bootstrapped_demos,
        max_labeled_demos=settings.max_labeled_demos, num_threads=settings.num_threads,
        # failed program calls count as wrong (score 0) rather than stop the run; a stop of
        # the client itself is raised by the caller
        max_errors=10 ** 6, seed=settings.seed, init_temperature=settings.init_temperature,
        verbose=False, track_stats=True)
    # DSPy prints progress bars and "Bootstrapping set i/n"; kept for the debug log
    printed = io.StringIO()
    with (dspy.context(lm=task_lm), contextlib.redirect_stdout(printed),
          contextlib.redirect_stderr(printed), _quiet("dspy")):
        compiled = optimiser.compile(
            PersonaProgram(), trainset=examples(demo), valset=examples(scoring),
            num_trials=settings.num_trials, seed=settings.seed, minibatch=settings.minibatch,
            minibatch_size=settings.minibatch_size,
            minibatch_full_eval_steps=settings.minibatch_full_eval_steps,
            requires_permission_to_run=False)
    log.debug("MIPROv2 printed: %s", printed.getvalue())
    return compiled, [task_lm, prompt_lm]


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """DSPy logs every trial at INFO; the candidates table says it all, so show warnings only."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _result(compiled: Any, metric: PersonaMetric, demo: Sequence[UserSplit],
            scoring: Sequence[UserSplit], model: str, settings: MiproSettings,
            config: SynthesizeMeConfig, framing: Path, bound: int, spend: dict[str, int]
            ) -> MiproSearch:
    from persona_judge.optimisation.persona_program import (
        DEMO_FIELDS,
        demos_of,
        fingerprint,
        instruction_of,
        saved_state,
    )

    candidates: list[MiproCandidate] = []
    programs: dict[str, dict[str, Any]] = {}
    for trial, entry in sorted(getattr(compiled, "trial_logs", {}).items()):
        for kind, program_key, score_key in (("minibatch", "mb_program", "mb_score"),
                                             ("full evaluation", "full_eval_program",
                                              "full_eval_score")):
            program = entry.get(program_key)
            if program is None:
                continue
            name = fingerprint(program)
            programs.setdefault(name, saved_state(program))
            indexed = kind == "minibatch" or not settings.minibatch or trial < 0
            cand = MiproCandidate(
                len(candidates), int(trial), kind,
                entry.get("0_predictor_instruction", 0 if trial < 0 else None)
                if indexed else None,
                entry.get("0_predictor_demos", 0 if trial < 0 else None) if indexed else None,
                instruction_of(program), len(demos_of(program)), name,
                round(float(entry[score_key]) / 100, 4))
            for user in scoring:
                record = metric.records.get((name, user.user_id))
                if record is not None:
                    cand.personas[user.user_id] = record[0]
                    cand.per_user[user.user_id] = list(record[1])
            candidates.append(cand)
    if not candidates:
        raise PersonaJudgeError("MIPROv2 returned no trial log; is dspy==" + DSPY_VERSION +
                                " installed (track_stats)?")
    winner = fingerprint(compiled)
    full = [c for c in candidates if c.kind == "full evaluation"]
    best = max((c for c in full if c.program == winner), key=lambda c: c.miprov2_score,
               default=max(full, key=lambda c: c.miprov2_score))
    state = saved_state(compiled)
    notes = []
    kept = _complete_demos(state, DEMO_FIELDS)
    if kept:
        notes.append(f"{kept} demonstration(s) of the winner lack a persona (labelled "
                     "examples) and are left out of the Θ file")
    theta_text = program_template_text(state, "the MIPROv2-optimised program")
    _check_theta(theta_text, len(demos_of(compiled)) - kept)
    run_settings = {"miprov2": asdict(settings), "method": config.settings(),
                    "framing": str(framing), "template": TEMPLATE, "call_bound": bound,
                    "dspy": DSPY_VERSION}
    return MiproSearch(candidates, best.index, [u.user_id for u in demo],
                       [u.user_id for u in scoring], model, state, theta_text, run_settings,
                       programs, spend, notes)


def _complete_demos(state: dict[str, Any], fields: Sequence[str]) -> int:
    """Drop demonstrations without every converter field from ``state`` (in place); returns
    how many were dropped."""
    entry = state.get("synthesize.predict", {})
    demos = entry.get("demos", [])
    complete = [d for d in demos if all(isinstance(d.get(f), str) for f in fields)]
    entry["demos"] = complete
    return len(demos) - len(complete)


def _check_theta(text: str, n_demos: int) -> None:
    from persona_judge.method.persona import theta_problems

    problems = theta_problems(text)
    parsed = parse_template(text, "check@1", "the MIPROv2-optimised program")
    if not problems and len(parsed.sections) != 3 + 2 * n_demos:
        problems = ["a demonstration contains a line that reads as a '=== section ===' marker"]
    if problems:
        raise PersonaJudgeError("the MIPROv2-optimised program does not make a usable Θ file: "
                                + "; ".join(problems))


def describe_bound(demo: int, scoring: int, settings: MiproSettings, bound: int) -> str:
    """One line for the CLI: the roles, the run's size and its call bound."""
    return (f"MIPROv2: {demo} demo user(s), {scoring} scoring user(s); "
            f"{settings.num_candidates} instruction candidates, {settings.num_trials} trials, "
            f"up to {settings.max_bootstrapped_demos} worked demonstrations; at most "
            f"{bound:,} method requests")


__all__ = ["MiproCandidate", "MiproSearch", "MiproSettings", "PersonaMetric", "TEMPLATE",
           "call_bound", "describe_bound", "optimise_theta_miprov2", "split_roles"]
