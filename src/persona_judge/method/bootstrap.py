"""Step 1, bootstrap reasoning: verified reasoning traces and the best set of them.

**Traces.** A judge that knows little about the user reasons about each of the
user's training pairs, shown once in its display order
(:func:`~persona_judge.method.judge.display_order`), and is asked to speculate
about the user's taste before choosing (template ``judge_speculative@v1``). A
trace is **verified** when its prediction is the reply the user really chose
(self-verification); the others are kept in the artifact, marked unverified,
but never shown to a model with their reasoning. Traces are generated **once
per training pair** and reused by every candidate (the public code re-traces
per candidate; one trace per pair is our cheaper, deterministic choice).

``trace_context`` says what the judge sees besides the pair:

* ``"labelled"`` (default; the paper's public code): up to ``context_size``
  (4) of the user's *other* labelled training choices, shown with the choice
  only. The draw is seeded per user: one shuffled list of the training pairs, and
  each trace takes the first ``context_size`` entries that are not itself.
* ``"none"`` (the paper's text: "without any prior user information").

**Candidates** (:func:`faithful_candidates`), in this order, which is also the
tie-break order (ties go to the earliest):

0. *labels only*: ``max_labeled`` (4) training pairs drawn at random, choice only;
1. *full set*: every verified trace;
2. … n+1. *random*: the verified traces shuffled (seeded per candidate), of which
   the first ``k`` are kept, ``k`` drawn uniformly from 1 … number verified.

Labelled examples fill each reasoning candidate up to ``max_labeled`` demos, as in
the public code (DSPy's few-shot bootstrapping): drawn at random, seeded, from the
training pairs that the candidate does not already show with reasoning. With no
verified trace the reasoning candidates hold only labelled examples.

The cheaper variant (``algorithm="lite"``, :func:`lite_candidates`) draws
``n`` seeded subsets of half the training pairs (candidate 0: all of them) and
shows the verified traces among them, with no labelled fill.

A candidate's prompt carries its demos in training order, so equal sets give
identical, cache-hitting prompts, and is scored on the validation pairs by the
rules of :mod:`persona_judge.method.selection`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from persona_judge.data.records import Preference
from persona_judge.method.judge import (
    OURS,
    Demo,
    JudgeStyle,
    Letter,
    Order,
    correct_letter,
    derive_seed,
    display_order,
    judge_request,
)
from persona_judge.method.selection import (
    Candidate,
    CandidateScore,
    Fallback,
    Spend,
    judgment_outcome,
    search_candidates,
)
from persona_judge.method.templates import (
    JUDGE_DEFAULT,
    JUDGE_PERSONALIZED,
    JUDGE_SPECULATIVE,
    load_template,
)

TRACE_CONTEXTS = ("labelled", "none")


@dataclass(frozen=True)
class Trace:
    """The judge's reasoning about one training pair, and whether it verified."""

    pair_id: str
    order: Order
    reasoning: str
    prediction: Letter | None
    verified: bool
    failure: str | None = None
    context: tuple[str, ...] = ()  # labelled training pairs shown beside it

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["context"] = list(self.context)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        return cls(str(data["pair_id"]), data["order"], str(data.get("reasoning") or ""),
                   data.get("prediction"), bool(data["verified"]), data.get("failure"),
                   tuple(data.get("context", ())))


@dataclass
class BootstrapResult:
    """Everything step 1 produced for one user."""

    traces: list[Trace]
    candidates: list[CandidateScore]
    winner: int
    spend_traces: Spend
    spend_search: Spend
    fallbacks: list[Fallback] = field(default_factory=list)

    @property
    def verified_traces(self) -> list[Trace]:
        """The verified traces of the winning candidate, in training order."""
        if not self.candidates:
            return []
        members = set(self.candidates[self.winner].members)
        return [t for t in self.traces if t.pair_id in members and t.verified]


@dataclass(frozen=True)
class FitContext:
    """What both searches of one user's fit share: splits, orders, seed and settings."""

    train: tuple[Preference, ...]
    val: tuple[Preference, ...]
    orders: Mapping[str, Order]
    seed: int
    templates: Mapping[str, str]
    trace_context: str = "labelled"
    context_size: int = 4
    max_labeled: int = 4
    stop_at_accuracy: float = 1.0
    batch_size: int | None = None
    style: JudgeStyle = OURS
    validation_orders: str = "one"

    @property
    def prefs(self) -> dict[str, Preference]:
        return {p.pair_id: p for p in (*self.train, *self.val)}

    def val_judgments(self) -> list[tuple[Preference, Order, str]]:
        """(validation pair, order shown, key) of every judgment a candidate is scored on:
        each pair in its display order, and with ``validation_orders="both"`` also in the
        other order (key ``"<pair id> (other order)"``), as the public code's experiment
        loader does."""
        out = []
        for p in self.val:
            order = self.orders[p.pair_id]
            out.append((p, order, p.pair_id))
            if self.validation_orders == "both":
                other: Order = "rejected_first" if order == "chosen_first" else "chosen_first"
                out.append((p, other, f"{p.pair_id} (other order)"))
        return out

    @property
    def n_val_judgments(self) -> int:
        return len(self.val) * (2 if self.validation_orders == "both" else 1)

    @property
    def stop_at(self) -> int:
        """Correct validation judgments that end a search (at least 1)."""
        return max(1, math.ceil(self.stop_at_accuracy * self.n_val_judgments - 1e-9))

    def context_for(self, pair_id: str) -> tuple[str, ...]:
        """The labelled training pairs shown beside the trace of ``pair_id`` (see module doc)."""
        if self.trace_context == "none" or self.context_size <= 0:
            return ()
        ids = [p.pair_id for p in self.train]
        random.Random(derive_seed(self.seed, "trace context")).shuffle(ids)
        chosen = set([i for i in ids if i != pair_id][: self.context_size])
        return tuple(p.pair_id for p in self.train if p.pair_id in chosen)

    def labelled_demos(self, pair_ids: Sequence[str]) -> tuple[Demo, ...]:
        prefs = self.prefs
        return tuple(Demo(prefs[p], self.orders[p]) for p in pair_ids)

    def demos(self, candidate: Candidate, traces: Mapping[str, Trace]) -> tuple[Demo, ...]:
        """The candidate's demos in training order: reasoning where it has a member trace."""
        members, labelled = set(candidate.members), set(candidate.labelled)
        out = []
        for pref in self.train:
            if pref.pair_id in members:
                out.append(Demo(pref, traces[pref.pair_id].order,
                                traces[pref.pair_id].reasoning or None))
            elif pref.pair_id in labelled:
                out.append(Demo(pref, self.orders[pref.pair_id]))
        return tuple(out)


def pair_orders(prefs: Sequence[Preference], seed: int, source: str) -> dict[str, Order]:
    """The display order of each pair while fitting (``flip`` column, else seeded hash)."""
    return {p.pair_id: display_order(p, seed, source) for p in prefs}


def generate_traces(ctx: FitContext, client: Any, *, persona: str | None = None,
                    template: str, personalized_template: str, step: str
                    ) -> tuple[list[Trace], Spend]:
    """One judge call per training pair (one batch); keep the verdict and reasoning."""
    requests, contexts = [], []
    for pref in ctx.train:
        context = ctx.context_for(pref.pair_id)
        contexts.append(context)
        requests.append(judge_request(
            pref, ctx.orders[pref.pair_id], persona=persona, demos=ctx.labelled_demos(context),
            step=step, default_template=template, personalized_template=personalized_template,
            style=ctx.style))
    judgments = client.judge_many(requests, desc=step) if requests else []
    spend = Spend()
    spend.add_judgments(judgments)
    traces = []
    for pref, context, j in zip(ctx.train, contexts, judgments, strict=True):
        order = ctx.orders[pref.pair_id]
        traces.append(Trace(pref.pair_id, order, j.reasoning or "", j.choice,
                            verified=j.choice is not None and j.choice == correct_letter(order),
                            failure=j.failure, context=context))
    return traces, spend


def _fill(ctx: FitContext, members: Sequence[str], salt: object) -> tuple[str, ...]:
    """Labelled examples completing ``members`` to ``max_labeled`` demos (seeded draw)."""
    room = ctx.max_labeled - len(members)
    pool = [p.pair_id for p in ctx.train if p.pair_id not in set(members)]
    if room <= 0 or not pool:
        return ()
    picked = set(random.Random(derive_seed(ctx.seed, "labelled fill", salt)).sample(
        pool, min(room, len(pool))))
    return tuple(p for p in pool if p in picked)


def _in_train_order(ctx: FitContext, ids: Sequence[str]) -> tuple[str, ...]:
    wanted = set(ids)
    return tuple(p.pair_id for p in ctx.train if p.pair_id in wanted)


def faithful_candidates(ctx: FitContext, traces: Sequence[Trace], n_random: int, *,
                        search: str, head: Sequence[Candidate] = ()) -> list[Candidate]:
    """``head`` (e.g. persona only), labels only, full set, then ``n_random`` random sets."""
    verified = [t.pair_id for t in traces if t.verified]
    labels_only = _in_train_order(ctx, random.Random(derive_seed(ctx.seed, "labels only")).sample(
        [p.pair_id for p in ctx.train], min(ctx.max_labeled, len(ctx.train))))
    out = list(head)
    out.append(Candidate("labels only", (), labels_only))
    out.append(Candidate("full set", tuple(verified), _fill(ctx, verified, (search, "full"))))
    for i in range(n_random):
        rng = random.Random(derive_seed(ctx.seed, search, "random", i))
        shuffled = list(verified)
        rng.shuffle(shuffled)
        size = rng.randint(1, len(verified)) if verified else 0
        members = _in_train_order(ctx, shuffled[:size])
        out.append(Candidate("random", members, _fill(ctx, members, (search, i))))
    return out


def draw_subsets(n_items: int, n_candidates: int, subset_size: int | None, seed: int,
                 include_full_set: bool = True) -> list[tuple[int, ...]]:
    """Seeded candidate subsets of ``range(n_items)``, each sorted (the lite variant)."""
    if n_items == 0 or n_candidates <= 0:
        return []
    size = math.ceil(n_items / 2) if subset_size is None else min(max(1, subset_size), n_items)
    rng = np.random.default_rng(seed)
    subsets: list[tuple[int, ...]] = []
    if include_full_set:
        subsets.append(tuple(range(n_items)))
    while len(subsets) < n_candidates:
        subsets.append(tuple(sorted(int(i) for i in rng.choice(n_items, size, replace=False))))
    return subsets


def lite_candidates(ctx: FitContext, traces: Sequence[Trace], n_candidates: int, *,
                    subset_size: int | None, include_full_set: bool, salt: str,
                    labelled_unverified: bool) -> list[Candidate]:
    """Our cheaper variant: seeded subsets of training pairs (see module doc)."""
    verified = {t.pair_id for t in traces if t.verified}
    user = ctx.train[0].user_id if ctx.train else ""
    out = []
    for subset in draw_subsets(len(ctx.train), n_candidates, subset_size,
                               derive_seed(ctx.seed, user, salt), include_full_set):
        ids = [ctx.train[i].pair_id for i in subset]
        kind = "full set" if len(ids) == len(ctx.train) and include_full_set else "random"
        members = tuple(p for p in ids if p in verified)
        labelled = tuple(p for p in ids if p not in verified) if labelled_unverified else ()
        out.append(Candidate(kind, members, labelled))
    return out


def score_candidates(ctx: FitContext, client: Any, spend: Spend, traces: Mapping[str, Trace],
                     candidates: Sequence[Candidate], *, persona: str | None, step: str,
                     default_template: str, personalized_template: str,
                     no_choice: list[tuple[str, str]] | None = None) -> list[dict[str, bool]]:
    """Judge every validation pair under every candidate, all in one client batch.

    Judgments that end with no choice count as wrong; ``(pair id, outcome)`` of each is
    appended to ``no_choice`` so the fit can record them as fallbacks.
    """
    val = ctx.val_judgments()
    requests = [judge_request(p, order, persona=persona, demos=ctx.demos(cand, traces),
                              step=step, default_template=default_template,
                              personalized_template=personalized_template, style=ctx.style)
                for cand in candidates for p, order, _ in val]
    judgments = client.judge_many(requests, desc=step) if requests else []
    spend.add_judgments(judgments)
    n = len(val)
    out = []
    for c in range(len(candidates)):
        chunk = judgments[c * n:(c + 1) * n]
        out.append({key: j.choice == correct_letter(order)
                    for (_, order, key), j in zip(val, chunk, strict=True)})
        if no_choice is not None:
            no_choice.extend((p.pair_id, judgment_outcome(j))
                             for (p, _, _), j in zip(val, chunk, strict=True)
                             if j.choice is None)
    return out


def search_fallbacks(no_choice: Sequence[tuple[str, str]], step: str) -> list[Fallback]:
    """One fallback per kind of no-choice outcome among a search's validation judgments."""
    kinds: dict[str, list[str]] = {}
    for pair_id, kind in no_choice:
        kinds.setdefault(kind, []).append(pair_id)
    return [Fallback(f"judge {kind}", step,
                     f"{len(pairs)} validation judgment(s) ended with no choice and counted as "
                     f"wrong (pairs: {', '.join(sorted(set(pairs)))})")
            for kind, pairs in sorted(kinds.items())]


def judge_fallbacks(traces: Sequence[Trace], step: str) -> list[Fallback]:
    """One fallback per trace whose judge request ended with no choice."""
    out = []
    for t in traces:
        if t.prediction is None:
            kind = judgment_outcome(_AsJudgment(t.prediction, t.failure))
            out.append(Fallback(f"judge {kind}", step,
                                f"pair {t.pair_id}: {t.failure or 'no choice'}; trace unverified"))
    return out


@dataclass(frozen=True)
class _AsJudgment:
    choice: str | None
    failure: str | None


def with_demos_template(template: str, personalized: str) -> str:
    """``template`` if it can show demonstrations, else the personalized judge's template."""
    return template if load_template(template).has_section("demo") else personalized


def bootstrap_reasoning(ctx: FitContext, client: Any, *, algorithm: str = "faithful",
                        n_candidates: int = 10, subset_size: int | None = None,
                        include_full_set: bool = True, fallback_kind: str = "full set",
                        head: Sequence[Candidate] = (), step: str = "bootstrap"
                        ) -> BootstrapResult:
    """Step 1 for one user: traces once per training pair, then the candidate search.

    ``head`` puts candidates before the others (the demos-only search's "no demos"; the
    random sets are drawn as step 1 draws them, so equal candidates give equal requests).
    ``step`` names the requests and fallbacks (``"bootstrap"``, ``"demos-only"``).
    """
    templates = {"judge_trace": JUDGE_SPECULATIVE, "judge_default": JUDGE_DEFAULT,
                 "judge_personalized": JUDGE_PERSONALIZED, **ctx.templates}
    # The step-1 judge with demos: the trace template itself when it has a demo section
    # (judge_speculative@v1), else the personalized template (lite: judge_default@v1).
    with_demos = with_demos_template(templates["judge_trace"], templates["judge_personalized"])
    traces, spend_traces = generate_traces(
        ctx, client, template=templates["judge_trace"], personalized_template=with_demos,
        step="bootstrap trace")  # the same label in the demos-only search: same requests
    by_pair = {t.pair_id: t for t in traces}
    if algorithm == "faithful":
        candidates = faithful_candidates(ctx, traces, n_candidates, search="bootstrap",
                                         head=head)
    else:
        candidates = [*head, *lite_candidates(ctx, traces, n_candidates,
                                              subset_size=subset_size,
                                              include_full_set=include_full_set,
                                              salt="bootstrap subsets",
                                              labelled_unverified=False)]
    spend_search = Spend()
    no_choice: list[tuple[str, str]] = []

    def score_many(cands: Sequence[Candidate]) -> list[dict[str, bool]]:
        return score_candidates(ctx, client, spend_search, by_pair, cands, persona=None,
                                step=f"{step} candidate",
                                default_template=templates["judge_trace"],
                                personalized_template=with_demos, no_choice=no_choice)

    fallback_index = next((i for i, c in enumerate(candidates) if c.kind == fallback_kind), 0)
    winner, scores = search_candidates(candidates, score_many, ctx.n_val_judgments,
                                       stop_at=ctx.stop_at, batch_size=ctx.batch_size,
                                       fallback_index=fallback_index)
    fallbacks = search_fallbacks(no_choice, f"{step} search")
    if not head:  # the demos-only search reuses step 1's traces: their fallbacks are there
        fallbacks = judge_fallbacks(traces, "bootstrap traces") + fallbacks
    return BootstrapResult(traces, scores, winner, spend_traces, spend_search, fallbacks)
