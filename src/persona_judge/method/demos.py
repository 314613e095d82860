"""Step 3, demonstration selection: with the persona in the prompt, pick the best demo set.

``m_candidates`` (paper: 10) seeded demo sets are drawn from the user's
**training** pairs (never validation or test), each of ``demo_set_size`` pairs
(default ``ceil(n_train / 2)``; the paper leaves the size open). A demo shows
the pair in the order its step-1 trace was generated in, the user's real choice
and, when that trace verified, its reasoning; unverified pairs appear with the
choice only. (We reuse step-1 traces rather than re-bootstrapping reasoning with
the persona in the prompt, which would cost one more call per training pair.)
Each candidate is scored on validation with the persona plus the demos in the
judge's prompt, by the rules of :mod:`persona_judge.method.selection` (ties →
earliest candidate; duplicates and hopeless candidates are not judged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from persona_judge.data.records import Preference
from persona_judge.method.bootstrap import (
    Trace,
    draw_subsets,
    score_on_validation,
    validation_orders,
)
from persona_judge.method.judge import Demo, derive_seed, draw_order
from persona_judge.method.selection import CandidateScore, Spend, search_candidates


@dataclass
class DemoResult:
    """Step 3 for one user: every candidate's score, the winner and its demo set."""

    candidates: list[CandidateScore]
    winner: int
    demo_set: list[Demo]
    spend: Spend


def make_demos(pair_ids: Sequence[str], train: Sequence[Preference], traces: Sequence[Trace],
               seed: int) -> list[Demo]:
    """Demos for these training pairs, in training order, with verified reasoning where any."""
    by_pair = {t.pair_id: t for t in traces}
    wanted = set(pair_ids)
    demos = []
    for pref in train:
        if pref.pair_id not in wanted:
            continue
        trace = by_pair.get(pref.pair_id)
        order = trace.order if trace is not None else draw_order(pref.pair_id, seed)
        reasoning = trace.reasoning if trace is not None and trace.verified else None
        demos.append(Demo(pref, order, reasoning or None))
    return demos


def select_demo_set(train: Sequence[Preference], val: Sequence[Preference],
                    traces: Sequence[Trace], client: Any, *, persona: str | None, seed: int,
                    m_candidates: int = 10, demo_set_size: int | None = None,
                    templates: Mapping[str, str]) -> DemoResult:
    """Step 3 for one user: search ``m_candidates`` seeded demo sets (see module doc)."""
    user = train[0].user_id if train else ""
    subsets = draw_subsets(len(train), m_candidates, demo_set_size,
                           derive_seed(seed, user, "demo sets"), include_full_set=False)
    candidates = [tuple(train[i].pair_id for i in s) for s in subsets]

    orders = validation_orders(val, seed)
    spend = Spend()

    def score(members: tuple[str, ...]) -> dict[str, bool]:
        return score_on_validation(val, orders, client, spend, persona=persona,
                                   demos=make_demos(members, train, traces, seed),
                                   step="demo candidate", templates=templates)

    winner, scores = search_candidates(candidates, score, len(val))
    demo_set = make_demos(scores[winner].members, train, traces, seed) if scores else []
    return DemoResult(scores, winner, demo_set, spend)
