"""Step 1, bootstrap reasoning: verified reasoning traces and the best set of them.

The default judge (no knowledge of the user) reasons about each of the user's
training preferences, shown once in an order drawn from the seed. A trace is
**verified** when its prediction is the reply the user really chose
(self-verification); the others are kept in the artifact, marked unverified, but
never shown to a model. Traces are generated **once per training pair** and
reused by every candidate.

Candidates (``n_candidates``, paper: 10) are seeded subsets of the training
pairs; a candidate's prompt carries the verified traces of its pairs as
reasoning demonstrations (in training-file order, so equal sets give identical,
cache-hitting prompts) and is scored on the validation pairs by the rules of
:mod:`persona_judge.method.selection` (ties → earliest candidate).

Where the paper is open we chose, and made parameters:

* ``subset_size`` (default ``ceil(n_train / 2)``): the size of each random subset.
* ``include_full_set`` (default ``True``): candidate 0 is *all* training pairs,
  so that when candidates tie the full set of verified reasoning wins (most
  evidence for the persona); candidates 1.. are random subsets. With
  ``include_full_set=False`` all n candidates are random subsets.
* A candidate whose subset holds no verified trace is scored as the default
  judge (empty reasoning set); if it wins, step 2 falls back as documented in
  :mod:`persona_judge.method.persona`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from persona_judge.data.records import Preference
from persona_judge.method.judge import (
    Demo,
    Letter,
    Order,
    correct_letter,
    derive_seed,
    draw_order,
    judge_request,
)
from persona_judge.method.selection import CandidateScore, Spend, search_candidates
from persona_judge.method.templates import JUDGE_DEFAULT, JUDGE_PERSONALIZED


@dataclass(frozen=True)
class Trace:
    """The default judge's reasoning about one training pair, and whether it verified."""

    pair_id: str
    order: Order
    reasoning: str
    prediction: Letter | None
    verified: bool
    failure: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        return cls(str(data["pair_id"]), data["order"], str(data.get("reasoning") or ""),
                   data.get("prediction"), bool(data["verified"]), data.get("failure"))


@dataclass
class BootstrapResult:
    """Everything step 1 produced for one user."""

    traces: list[Trace]
    candidates: list[CandidateScore]
    winner: int
    spend_traces: Spend
    spend_search: Spend

    @property
    def verified_traces(self) -> list[Trace]:
        """The verified traces of the winning candidate, in training order."""
        by_pair = {t.pair_id: t for t in self.traces}
        return [by_pair[p] for p in self.candidates[self.winner].members
                if by_pair[p].verified] if self.candidates else []


def generate_traces(train: Sequence[Preference], client: Any, seed: int,
                    template: str = JUDGE_DEFAULT) -> tuple[list[Trace], Spend]:
    """One default-judge call per training pair (batched); keep the verdict and reasoning."""
    orders = [draw_order(p.pair_id, seed) for p in train]
    requests = [judge_request(p, o, step="bootstrap trace", default_template=template)
                for p, o in zip(train, orders, strict=True)]
    judgments = client.judge_many(requests, desc="bootstrap traces") if requests else []
    spend = Spend()
    spend.add_judgments(judgments)
    traces = [
        Trace(p.pair_id, o, j.reasoning or "", j.choice,
              verified=j.choice is not None and j.choice == correct_letter(o), failure=j.failure)
        for p, o, j in zip(train, orders, judgments, strict=True)
    ]
    return traces, spend


def draw_subsets(n_items: int, n_candidates: int, subset_size: int | None, seed: int,
                 include_full_set: bool = True) -> list[tuple[int, ...]]:
    """Seeded candidate subsets of ``range(n_items)``, each sorted (training order)."""
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


def validation_orders(val: Sequence[Preference], seed: int) -> dict[str, Order]:
    """The one order each validation pair is judged in during fitting (seeded per pair)."""
    return {p.pair_id: draw_order(p.pair_id, seed) for p in val}


def score_on_validation(val: Sequence[Preference], orders: Mapping[str, Order], client: Any,
                        spend: Spend, *, persona: str | None, demos: Sequence[Demo], step: str,
                        templates: Mapping[str, str]) -> dict[str, bool]:
    """Judge each validation pair once with this persona/demos; {pair id: correct}."""
    requests = [judge_request(p, orders[p.pair_id], persona=persona, demos=demos, step=step,
                              default_template=templates["judge_default"],
                              personalized_template=templates["judge_personalized"])
                for p in val]
    judgments = client.judge_many(requests, desc=step)
    spend.add_judgments(judgments)
    return {p.pair_id: j.choice is not None and j.choice == correct_letter(orders[p.pair_id])
            for p, j in zip(val, judgments, strict=True)}


def bootstrap_reasoning(train: Sequence[Preference], val: Sequence[Preference], client: Any, *,
                        seed: int, n_candidates: int = 10, subset_size: int | None = None,
                        include_full_set: bool = True,
                        templates: Mapping[str, str] | None = None) -> BootstrapResult:
    """Step 1 for one user: traces once per training pair, then the candidate search."""
    templates = {"judge_default": JUDGE_DEFAULT, "judge_personalized": JUDGE_PERSONALIZED,
                 **(templates or {})}
    traces, spend_traces = generate_traces(train, client, seed, templates["judge_default"])
    by_pair = {t.pair_id: t for t in traces}
    prefs = {p.pair_id: p for p in train}
    orders = validation_orders(val, seed)
    user = train[0].user_id if train else ""
    subsets = draw_subsets(len(train), n_candidates, subset_size,
                           derive_seed(seed, user, "bootstrap subsets"), include_full_set)
    candidates = [tuple(train[i].pair_id for i in s) for s in subsets]
    spend_search = Spend()

    def verified_demos(members: tuple[str, ...]) -> tuple[Demo, ...]:
        return tuple(Demo(prefs[p], by_pair[p].order, by_pair[p].reasoning)
                     for p in members if by_pair[p].verified)

    def score(members: tuple[str, ...]) -> dict[str, bool]:
        return score_on_validation(val, orders, client, spend_search, persona=None,
                                   demos=verified_demos(members), step="bootstrap candidate",
                                   templates=templates)

    winner, scores = search_candidates(
        candidates, score, len(val),
        key=lambda members: tuple(p for p in members if by_pair[p].verified))
    return BootstrapResult(traces, scores, winner, spend_traces, spend_search)
