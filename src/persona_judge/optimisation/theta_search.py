"""Optimising the persona instruction Θ on training users: propose, score, keep every candidate.

The paper optimised Θ once with DSPy's MIPROv2: an LLM *proposes* candidate instructions
(grounded in the data, the program and earlier attempts, with a "tip" that varies the
style), and each candidate is *scored* by the task metric, here the validation accuracy of
the persona-guided judge. This module does the same two stages with the study's own
prompts and its one cached client:

1. **Traces once per training user.** Step 1 of the method (bootstrap reasoning) does not
   depend on Θ, so it runs once per user (:func:`~persona_judge.method.synthesizeme.bootstrap_step`,
   the same requests as a fit, so the cache shares them).
2. **Seeds.** The starting instructions (default: ours, ``persona_synthesis@v1``; the
   chapter adds the released one) are scored first.
3. **Rounds of proposals.** Each round asks the model (template ``theta_proposal@v1``) for
   ``max_candidates / rounds`` new instructions, each with another tip, shown every
   instruction tried so far with its score and the personas the best one wrote with their
   accuracy. A proposal replaces only the instruction (the ``system`` section); the
   framing that shows the user's choices (``user`` and ``example`` sections) is the seed's,
   so candidates differ in the instruction alone.
4. **Score.** For every candidate and training user: the persona is written with the
   candidate (:func:`~persona_judge.method.persona.synthesize_persona`, from the user's
   winning step-1 traces), and the persona-only judge of the configuration's ``variant``
   (public: First/Second verdicts, persona in the system message; ours: JSON verdicts, as
   a fit with the same configuration judges) judges each validation pair in both orders.
   The score is the share of correct judgments pooled over the training users (ties,
   unparseable answers and failed calls count as wrong; a user without a usable persona is
   judged by the default judge and listed).
5. **Pick.** The best score wins; ties go to the earliest candidate, so a proposal must
   beat the seeds strictly to replace them.

**This search or DSPy's MIPROv2: both exist** (``optimise-theta --optimiser search|miprov2``).
This search tunes the study's own templates as they are sent (an instruction in our
format, any framing), and scores every candidate on every training user, so all scores
are comparable (each on the same judgments); use it to improve a Θ of ours, or for either
variant. :mod:`persona_judge.optimisation.miprov2` runs the authors' optimiser itself
(DSPy's ``MIPROv2``, the ``[reference]`` extra) over a DSPy persona program of ours: it
tunes an instruction *and* worked demonstrations together, in DSPy's field format, with
Optuna's sampler choosing which combinations to score (on scoring users disjoint from
the users demonstrations come from), and the winning program becomes a public-variant Θ
file through the converter that reads the released program. Use it to redo what the
paper did, or to compare the two optimisers; the calls of both go through the one cache.

**Budget.** ``max_candidates`` proposals in ``rounds`` rounds; ``max_calls`` refuses to
start when the design's upper bound on method requests (:func:`call_bound`) exceeds it.
A dry-run client prices the whole search (each proposal is replaced by a distinct stand-in
text, so the scoring of every candidate is counted). Every call goes through the client,
so an interrupted search rerun repeats no finished call.

The result, :class:`ThetaSearch`, keeps every candidate (its text, origin, round, tip,
score per training user) and writes the winner as a Θ file (:func:`theta_file_text`, the
one writer) that ``--persona-instruction`` reads.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.evaluation.predict import fit_concurrently
from persona_judge.llm import ChatRequest, Judgment
from persona_judge.llm.client import DRY_RUN_TEXT
from persona_judge.method.bootstrap import BootstrapResult
from persona_judge.method.judge import ORDERS, Order, correct_letter, judge_request
from persona_judge.method.persona import synthesize_persona
from persona_judge.method.synthesizeme import SynthesizeMeConfig, bootstrap_step
from persona_judge.method.templates import PERSONA_SYNTHESIS, load_template
from persona_judge.method.theta import resolve_instruction

PROPOSAL = "theta_proposal@v1"
PROPOSAL_MAX_TOKENS = 600
PROPOSAL_TEMPERATURE = 0.7
MIN_INSTRUCTION_WORDS = 8
EVIDENCE_USERS = 3  # personas shown to the proposer (grounding)
#: Advice that varies the proposals of one round (MIPROv2's "tips"), in our own words.
TIPS = (
    "Keep it short and direct.",
    "Ask for concrete, checkable statements about which replies the person rewards.",
    "Ask the writer to weigh what the person's choices have in common across topics.",
    "Ask for the person's taste in form: length, structure, tone and directness.",
    "Ask for the person's values and the stance they want an assistant to take.",
    "Ask the writer to say what would make the person reject a reply.",
    "Be creative: try a framing that differs from every instruction above.",
    "Ask the writer to separate strong evidence from weak evidence.",
)
FILE_PREFIX = "persona_synthesis_optimised"


class ThetaBudgetError(SettingsError):
    """The search would exceed its call budget (``max_calls``)."""


class NoTrainingUsersError(PersonaJudgeError, ValueError):
    """No user can be used to score a Θ (each needs training and validation pairs)."""


@dataclass(frozen=True)
class ThetaBudget:
    """How much search: proposals, rounds, and a cap on method requests (None: no cap)."""

    max_candidates: int = 8
    rounds: int = 2
    max_calls: int | None = None

    def __post_init__(self) -> None:
        if self.max_candidates < 0:
            raise SettingsError(f"max_candidates must be at least 0, got {self.max_candidates}")
        if self.rounds < 1:
            raise SettingsError(f"rounds must be at least 1, got {self.rounds}")
        if self.max_calls is not None and self.max_calls < 1:
            raise SettingsError(f"max_calls must be at least 1 or null (no cap), got "
                                f"{self.max_calls}")

    def per_round(self) -> list[int]:
        """Proposals per round: ``max_candidates`` spread as evenly as possible."""
        base, extra = divmod(self.max_candidates, self.rounds)
        return [base + (r < extra) for r in range(self.rounds)]


class PooledAccuracy:
    """Judgments pooled over users, from ``per_user`` (user -> [correct, judged]): what both
    optimisers score a candidate by."""

    per_user: dict[str, list[int]]

    @property
    def n_correct(self) -> int:
        return sum(c for c, _ in self.per_user.values())

    @property
    def n_judged(self) -> int:
        return sum(n for _, n in self.per_user.values())

    @property
    def accuracy(self) -> float | None:
        """Share of correct judgments pooled over the users it was judged on."""
        return self.n_correct / self.n_judged if self.n_judged else None


@dataclass
class ThetaCandidate(PooledAccuracy):
    """One instruction the search scored (or could not use), and how it did per user."""

    index: int
    origin: str              # "seed: <spec>" or "proposal"
    round: int               # 0 for seeds
    tip: str
    instruction: str         # the system section (the instruction itself)
    template: str = ""       # template id ("" if the proposal was unusable)
    path: str = ""           # the Θ file scored
    status: str = "scored"
    per_user: dict[str, list[int]] = field(default_factory=dict)  # user -> [correct, judged]
    no_persona: list[str] = field(default_factory=list)           # users judged without one
    personas: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accuracy"] = self.accuracy
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThetaCandidate:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in keys})


@dataclass
class ThetaSearch:
    """Every candidate, the winner, who it was scored on, and the settings that ran."""

    candidates: list[ThetaCandidate]
    best: int
    train_users: list[str]
    model: str
    settings: dict[str, Any]
    spend: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def best_candidate(self) -> ThetaCandidate:
        return self.candidates[self.best]

    def table(self) -> pd.DataFrame:
        """One row per candidate: origin, round, tip, score, users, the instruction."""
        rows = [{"candidate": c.index, "origin": c.origin, "round": c.round, "tip": c.tip,
                 "status": c.status, "correct": c.n_correct, "judged": c.n_judged,
                 "accuracy": None if c.accuracy is None else 100 * c.accuracy,
                 "users without persona": len(c.no_persona), "best": c.index == self.best,
                 "template": c.template, "instruction": c.instruction}
                for c in self.candidates]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "persona_judge/theta-search@1", "best": self.best,
                "train_users": self.train_users, "model": self.model,
                "settings": self.settings, "spend": self.spend, "notes": self.notes,
                "candidates": [c.to_dict() for c in self.candidates]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThetaSearch:
        return cls([ThetaCandidate.from_dict(c) for c in data["candidates"]], int(data["best"]),
                   list(data["train_users"]), str(data["model"]), dict(data["settings"]),
                   dict(data.get("spend") or {}), list(data.get("notes") or []))

    def save(self, folder: str | Path, *, theta_name: str = "theta.txt") -> Path:
        """Write ``search.json`` (everything), ``candidates.csv`` and the winning Θ file;
        returns the Θ file's path."""
        from persona_judge.io import atomic_write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "search.json",
                          json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(folder / "candidates.csv", self.table().to_csv(index=False))
        best = self.best_candidate
        return write_theta(best.instruction, folder / theta_name,
                           framing=self.settings.get("framing", PERSONA_SYNTHESIS))


# -- the Θ file ------------------------------------------------------------------------------
def theta_file_text(instruction: str, framing: str = PERSONA_SYNTHESIS) -> str:
    """A Θ file (what ``--persona-instruction`` reads): ``instruction`` as its ``system``
    section, every other section copied from the ``framing`` template. The one writer of
    optimised Θ files; a literal ``$`` in the instruction is escaped as ``$$``."""
    template = load_template(resolve_instruction(framing))
    parts = []
    for name, body in template.sections:
        text = instruction.strip().replace("$", "$$") if name == "system" else body
        parts.append(f"=== {name} ===\n{text}\n")
    if not template.has_section("system"):
        parts.insert(0, f"=== system ===\n{instruction.strip().replace('$', '$$')}\n")
    return "".join(parts)


def write_theta(instruction: str, path: str | Path, framing: str = PERSONA_SYNTHESIS) -> Path:
    """Write :func:`theta_file_text` to ``path`` atomically; returns the path."""
    from persona_judge.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, theta_file_text(instruction, framing))
    return path


def candidate_file(instruction: str, folder: str | Path, framing: str = PERSONA_SYNTHESIS
                   ) -> Path:
    """The candidate's Θ file in ``folder``, named by its content (template id
    ``persona_synthesis_optimised@<hash>``), written once."""
    text = theta_file_text(instruction, framing)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    path = Path(folder) / f"{FILE_PREFIX}@{digest}.txt"
    if not path.is_file():
        write_theta(instruction, path, framing)
    return path


def instruction_of(spec: str, theta_program: str = "llama70b", model: str = "") -> str:
    """The instruction (``system`` section) of a Θ: a template id, a path or ``"public"``
    (the released program ``theta_program`` picks for ``model``)."""
    return load_template(resolve_instruction(spec, theta_program, model)).render("system")


# -- users -------------------------------------------------------------------------------------
def scorable(users: Sequence[UserSplit]) -> list[UserSplit]:
    """Users that can score a Θ: at least one training and one validation pair."""
    return [u for u in users if u.train and u.val]


def split_users(users: Sequence[UserSplit], n_train: int, n_eval: int | None, seed: int
                ) -> tuple[list[UserSplit], list[UserSplit]]:
    """Disjoint training users (to optimise Θ on) and evaluation users, drawn at random.

    Training users are drawn among those with validation pairs (they are scored on them);
    evaluation users from everyone else (``n_eval=None``: all of them). Both lists are in
    id order; the draw is seeded and depends only on the users' ids.
    """
    ordered = sorted(users, key=lambda u: u.user_id)
    candidates = [u.user_id for u in scorable(ordered)]
    if n_train < 1:
        raise SettingsError(f"setting train_users must be at least 1, got {n_train}")
    if len(candidates) < n_train:
        raise NoTrainingUsersError(
            f"{n_train} training users asked for, but only {len(candidates)} of {len(ordered)} "
            "users have both training and validation pairs; lower train_users")
    rng = random.Random(f"theta-split|{seed}")
    train_ids = set(rng.sample(candidates, n_train))
    rest = [u for u in ordered if u.user_id not in train_ids]
    if n_eval is not None:
        if n_eval < 1:
            raise SettingsError(f"setting eval_users must be at least 1 or null, got {n_eval}")
        keep = set(rng.sample([u.user_id for u in rest], min(n_eval, len(rest))))
        rest = [u for u in rest if u.user_id in keep]
    if not rest:
        raise NoTrainingUsersError(
            f"no user is left to evaluate on after drawing {n_train} training users from "
            f"{len(ordered)}; lower train_users")
    return [u for u in ordered if u.user_id in train_ids], rest


# -- proposals ---------------------------------------------------------------------------------
def _closing_request(framing: str) -> str:
    template = load_template(resolve_instruction(framing))
    return template.render("user", examples="[the person's choices are shown here]").strip()


def proposal_request(framing: str, tried: Sequence[ThetaCandidate], tip: str, *,
                     round_index: int, slot: int) -> ChatRequest:
    """The request for one new instruction, grounded in every scored candidate so far and in
    the personas of the best one (with each persona's validation accuracy)."""
    scored = sorted((c for c in tried if c.accuracy is not None),
                    key=lambda c: (c.accuracy, -c.index))
    history = "\n\n".join(f"[{100 * c.accuracy:.1f}% correct]\n{c.instruction}"  # type: ignore[operator]
                          for c in scored) or "(none yet)"
    evidence = "(none yet)"
    if scored:
        best = scored[-1]
        shown = [(u, p) for u, p in best.personas.items() if p][:EVIDENCE_USERS]
        evidence = "\n\n".join(
            f"[{100 * best.per_user[u][0] / max(1, best.per_user[u][1]):.0f}% correct] {p}"
            for u, p in shown) or "(none)"
    template = load_template(PROPOSAL)
    messages = (
        {"role": "system", "content": template.render("system")},
        {"role": "user", "content": template.render(
            "user", request=_closing_request(framing), history=history, evidence=evidence,
            tip=tip)},
    )
    return ChatRequest(messages=messages, template=template.id,
                       temperature=PROPOSAL_TEMPERATURE, max_tokens=PROPOSAL_MAX_TOKENS,
                       sample_index=slot, labels={"user": "", "pair": "",
                                                  "step": f"theta proposal r{round_index}"})


_FENCE = re.compile(r"^```[a-z]*\n?|\n?```$")
_LABEL = re.compile(r"^\s*(?:\*\*)?\s*(?:new\s+)?instruction\s*(?:\*\*)?\s*:\s*", re.IGNORECASE)


def clean_instruction(text: str | None) -> str | None:
    """The proposed instruction without fences, a leading 'Instruction:' or quotes; None if
    it is too short to be one."""
    if not text:
        return None
    cleaned = _FENCE.sub("", text.strip()).strip()
    cleaned = _LABEL.sub("", cleaned, count=1).strip().strip('"').strip()
    return cleaned if len(cleaned.split()) >= MIN_INSTRUCTION_WORDS else None


# -- scoring -----------------------------------------------------------------------------------
def validation_requests(persona: str | None, user: UserSplit, config: SynthesizeMeConfig, *,
                        style: Any = None, step: str = "theta candidate"
                        ) -> list[tuple[ChatRequest, Order]]:
    """The judgments that score a persona: each of ``user``'s validation pairs in both
    orders, asked of the persona-only judge of ``config``'s variant (``persona=None``: its
    default judge), with the order each was shown in."""
    style = style or config.judge_style()
    return [(judge_request(pref, order, persona=persona, step=step,
                           default_template=config.judge_default,
                           personalized_template=config.judge_personalized, style=style),
             order)
            for pref in user.val for order in ORDERS]


def is_correct(verdict: Judgment, order: Order) -> int:
    """1 if the judge picked the user's choice in this order; ties, unparseable answers and
    failed calls (no choice) are 0."""
    return int(verdict.choice == correct_letter(order))


def _score(candidates: Sequence[ThetaCandidate], users: Sequence[UserSplit],
           steps: Mapping[str, BootstrapResult], client: Any, config: SynthesizeMeConfig,
           max_workers: int) -> None:
    """Fill ``per_user`` / ``personas`` / ``no_persona`` of ``candidates`` (see module doc)."""
    if not candidates:
        return
    jobs = {}
    for cand in candidates:
        for user in users:
            step = steps[user.user_id]
            winner = step.candidates[step.winner] if step.candidates else None
            jobs[(cand.index, user.user_id)] = (
                lambda u=user, s=step, w=winner, c=cand: synthesize_persona(
                    list(u.train), s.traces, w, client, c.path,
                    max_tokens=config.persona_max_tokens))
    personas = fit_concurrently(jobs, failed=lambda key: f"Writing the persona of user "
                                f"{key[1]!r} with Θ candidate {key[0]}",
                                max_workers=max_workers, thread_name="theta-persona")
    requests, where = [], []
    style = config.judge_style()  # the variant's judge: the one a fit with this config uses
    for cand in candidates:
        for user in users:
            persona = personas[(cand.index, user.user_id)].persona
            if persona and getattr(client, "dry_run", False) and DRY_RUN_TEXT in persona:
                # Dry-run personas are one stand-in text; keep each candidate's judgments
                # distinct so they are priced (a real run's personas differ).
                persona = f"{persona} (candidate {cand.index})"
            cand.personas[user.user_id] = persona
            if persona is None:
                cand.no_persona.append(user.user_id)
            for request, order in validation_requests(persona, user, config, style=style):
                requests.append(request)
                where.append((cand, user.user_id, order))
    verdicts = client.judge_many(requests, desc="Θ candidates on validation")
    for cand in candidates:
        cand.per_user = {u.user_id: [0, 0] for u in users}
    for (cand, user_id, order), verdict in zip(where, verdicts, strict=True):
        cand.per_user[user_id][1] += 1
        cand.per_user[user_id][0] += is_correct(verdict, order)


def pick_best(candidates: Sequence[ThetaCandidate]) -> int:
    """The highest-scoring candidate; ties go to the earliest (the seeds come first)."""
    best, best_acc = 0, -1.0
    for cand in candidates:
        if cand.accuracy is not None and cand.accuracy > best_acc:
            best, best_acc = cand.index, cand.accuracy
    return best


def call_bound(users: Sequence[UserSplit], config: SynthesizeMeConfig, budget: ThetaBudget,
               n_seeds: int) -> int:
    """The most method requests a search can make: step 1 per user (faithful: ``n_train +
    n_val × (n + 2)``; lite: ``n_train + n_val × n``), then per candidate and user 2 persona
    requests (one retry) and ``2 × n_val`` judgments, plus one request per proposal. Parse
    resamples and HTTP retries come on top."""
    n = config.n_candidates
    step1 = sum(len(u.train) + len(u.val) * (n + 2 if config.algorithm == "faithful" else n)
                for u in users)
    per_candidate = sum(2 + 2 * len(u.val) for u in users)
    return step1 + (n_seeds + budget.max_candidates) * per_candidate + budget.max_candidates


def optimise_theta(users: Sequence[UserSplit], client: Any,
                   config: SynthesizeMeConfig | None = None, *,
                   budget: ThetaBudget | None = None, folder: str | Path,
                   seeds: Sequence[str] = (PERSONA_SYNTHESIS,), framing: str | None = None,
                   max_workers: int = 4) -> ThetaSearch:
    """Search Θ on ``users`` (training users: never the ones it is evaluated on).

    ``seeds`` are the starting instructions (template ids, paths, ``"public"``), scored
    first; ``framing`` (default the first seed) gives the sections around a proposal's
    instruction. Candidate Θ files are written into ``folder`` (named by content).
    """
    config = config or SynthesizeMeConfig()
    budget = budget or ThetaBudget()
    model = str(getattr(client, "model", ""))
    # "public" is fetched once here, so the framing is a file and no fit fetches it again
    framing = resolve_instruction(framing or seeds[0], config.theta_program, model)
    train = scorable(users)
    if not train:
        raise NoTrainingUsersError(
            f"none of the {len(users)} user(s) has both training and validation pairs, so no "
            "Θ can be scored; give each user 'train' and 'val' rows")
    bound = call_bound(train, config, budget, len(seeds))
    if budget.max_calls is not None and bound > budget.max_calls:
        raise ThetaBudgetError(
            f"this search may make up to {bound:,} method requests ({len(train)} training "
            f"users, {len(seeds)} seed(s) + {budget.max_candidates} proposals), above "
            f"max_calls={budget.max_calls:,}; lower max_candidates or the number of training "
            "users, or raise max_calls")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    before = client.stats.to_dict()
    steps = fit_concurrently(
        {u.user_id: (lambda u=u: bootstrap_step(u, client, config)) for u in train},
        failed=lambda uid: f"Bootstrap reasoning failed for training user {uid!r}",
        max_workers=max_workers, thread_name="theta-step1")
    candidates: list[ThetaCandidate] = []
    for spec in seeds:
        path = resolve_instruction(spec, config.theta_program, model)
        instruction = instruction_of(path)
        candidates.append(ThetaCandidate(len(candidates), f"seed: {spec}", 0, "", instruction,
                                         load_template(path).id, path))
    _score(candidates, train, steps, client, config, max_workers)
    notes = []
    slot = 0
    for round_index, count in enumerate(budget.per_round(), start=1):
        proposals = []
        requests = []
        for _ in range(count):
            tip = TIPS[slot % len(TIPS)]
            requests.append((tip, proposal_request(framing, candidates, tip,
                                                   round_index=round_index, slot=slot)))
            slot += 1
        replies = client.chat_many([r for _, r in requests], desc=f"Θ proposals, round "
                                                                  f"{round_index}")
        for (tip, request), reply in zip(requests, replies, strict=True):
            text = reply.text if not reply.error else None
            if getattr(client, "dry_run", False) and not getattr(reply, "cached", False):
                # A dry run gets no text (unless the cache holds the proposal): a distinct
                # stand-in per proposal prices its scoring.
                text = (f"{reply.text} Stand-in for proposal {request.sample_index} of the dry "
                        "run; nothing was sent.")
            instruction = clean_instruction(text)
            cand = ThetaCandidate(len(candidates), "proposal", round_index, tip,
                                  instruction or (text or "").strip())
            if instruction is None:
                cand.status = (f"unusable proposal: call failed ({reply.error})" if reply.error
                               else "unusable proposal: fewer than "
                                    f"{MIN_INSTRUCTION_WORDS} words")
            elif any(c.instruction == instruction for c in candidates):
                cand.status = "same as an earlier candidate"
            else:
                path = candidate_file(instruction, folder, framing)
                cand.path, cand.template = str(path), load_template(str(path)).id
                proposals.append(cand)
            candidates.append(cand)
        _score(proposals, train, steps, client, config, max_workers)
    after = client.stats.to_dict()
    spend = {k: after.get(k, 0) - before.get(k, 0)
             for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens")}
    if budget.max_candidates and all(c.accuracy is None for c in candidates[len(seeds):]):
        notes.append("no proposal was usable; the best seed is kept")
    settings = {"budget": asdict(budget), "seeds": list(seeds), "framing": framing,
                "method": config.settings(), "proposal_template": PROPOSAL,
                "call_bound": bound}
    return ThetaSearch(candidates, pick_best(candidates), [u.user_id for u in train],
                       model, settings, spend, notes)


def with_instruction(config: SynthesizeMeConfig, theta: str) -> SynthesizeMeConfig:
    """``config`` with another persona instruction (a template id, a path or ``"public"``)."""
    return replace(config, persona_instruction=theta)
