"""Step 3, demonstration selection: with the persona in the prompt, pick the best demo set.

Faithful algorithm (default):

1. **Reasoning with the persona.** The personalized judge, with the persona (and
   the same labelled context as step 1, when ``trace_context="labelled"``),
   reasons again about every training pair: one call per training pair. A trace
   that picks the user's real choice is verified; only verified traces are shown
   with their reasoning. Without a usable persona this cannot be done, so the
   step-1 traces are reused (fallback ``step-3 traces reused``).
2. **Candidates**, in this order (ties go to the earliest): *persona only* (no
   demos), *labels only*, *full set* (every verified trace, topped up with
   labelled examples), then ``m`` *random* sets, all built as in step 1
   (:func:`persona_judge.method.bootstrap.faithful_candidates`). Because
   *persona only* comes first, a user's final prompt may legitimately carry no
   demos; the artifact records it.
3. Each candidate is scored on validation with persona + demos, by the rules of
   :mod:`persona_judge.method.selection`.

The cheaper variant (``algorithm="lite"``) reuses the step-1 traces (no extra
calls) and searches ``m`` seeded demo sets of half the training pairs (pairs
whose trace did not verify appear with the choice only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from persona_judge.method.bootstrap import (
    FitContext,
    Trace,
    faithful_candidates,
    generate_traces,
    judge_fallbacks,
    lite_candidates,
    score_candidates,
    search_fallbacks,
)
from persona_judge.method.judge import Demo
from persona_judge.method.selection import (
    Candidate,
    CandidateScore,
    Fallback,
    Spend,
    search_candidates,
)
from persona_judge.method.templates import JUDGE_PERSONALIZED, JUDGE_SPECULATIVE


@dataclass
class DemoResult:
    """Step 3 for one user: the traces it showed, every candidate's score, winner, demo set."""

    traces: list[Trace]
    candidates: list[CandidateScore]
    winner: int
    demo_set: list[Demo]
    spend_traces: Spend
    spend: Spend
    fallbacks: list[Fallback] = field(default_factory=list)


def select_demo_set(ctx: FitContext, step1_traces: Sequence[Trace], client: Any, *,
                    persona: str | None, algorithm: str = "faithful", m_candidates: int = 10,
                    demo_set_size: int | None = None, fallback_kind: str = "full set"
                    ) -> DemoResult:
    """Step 3 for one user (see module doc)."""
    templates = {"judge_trace": JUDGE_SPECULATIVE, "judge_personalized": JUDGE_PERSONALIZED,
                 **ctx.templates}
    fallbacks: list[Fallback] = []
    spend_traces = Spend()
    if algorithm == "faithful" and persona:
        traces, spend_traces = generate_traces(
            ctx, client, persona=persona, template=templates["judge_trace"],
            personalized_template=templates["judge_personalized"], step="demo trace")
        fallbacks += judge_fallbacks(traces, "demo traces")
    else:
        traces = list(step1_traces)
        if algorithm == "faithful":
            fallbacks.append(Fallback(
                "step-3 traces reused", "demo traces",
                "no usable persona to reason with, so the demos carry the step-1 traces"))
    by_pair = {t.pair_id: t for t in traces}
    if algorithm == "faithful":
        candidates = faithful_candidates(ctx, traces, m_candidates, search="demos",
                                         head=(Candidate("persona only"),))
    else:
        candidates = lite_candidates(ctx, traces, m_candidates, subset_size=demo_set_size,
                                     include_full_set=False, salt="demo sets",
                                     labelled_unverified=True)
    spend = Spend()
    no_choice: list[tuple[str, str]] = []

    def score_many(cands: Sequence[Candidate]) -> list[dict[str, bool]]:
        # Without a persona the "persona only" candidate is the step-1 judge on its own.
        return score_candidates(ctx, client, spend, by_pair, cands, persona=persona,
                                step="demo candidate", default_template=templates["judge_trace"],
                                personalized_template=templates["judge_personalized"],
                                no_choice=no_choice)

    fallback_index = next((i for i, c in enumerate(candidates) if c.kind == fallback_kind), 0)
    winner, scores = search_candidates(candidates, score_many, ctx.n_val_judgments,
                                       stop_at=ctx.stop_at,
                                       batch_size=ctx.batch_size, fallback_index=fallback_index)
    fallbacks += search_fallbacks(no_choice, "demo search")
    demo_set = list(ctx.demos(scores[winner].candidate, by_pair)) if scores else []
    return DemoResult(traces, scores, winner, demo_set, spend_traces, spend, fallbacks)
