"""The Memory baseline: the judge sees the user's own earlier preferences, nothing distilled.

The paper lists Memory among its in-context baselines without giving its prompt. Ours is the
simplest reading: the personalized judge prompt (``judge_personalized@v1``) carries every
preference the method may learn from (the user's train + validation pairs, or the subset a
study hands it) as labelled demonstrations — the conversation, the two replies and the
user's choice, no reasoning — and no persona. Each earlier pair is shown in its fitting
display order (the dataset's ``flip`` column, else a seeded hash), as SynthesizeMe shows
its demos. Nothing is fitted, so Memory makes no calls before its test judgments.

:func:`memory_request` is the one function that defines the baseline; :class:`MemoryJudge`
wraps it behind the ``PreferenceMethod`` interface. (When a shared Memory baseline lands in
``persona_judge.baselines``, point :class:`MemoryJudge` at it.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from persona_judge.data.records import Preference, UserSplit
from persona_judge.llm import ChatRequest
from persona_judge.method.judge import Demo, Order, derive_seed, display_order, judge_request

NAME = "Memory"


def memory_request(preference: Preference, order: Order, seen: Sequence[Preference], *,
                   seed: int = 0, step: str = "test") -> ChatRequest:
    """The Memory judge's request: ``seen`` shown as the user's labelled earlier choices."""
    user_seed = derive_seed(seed, preference.user_id)  # the same orders SynthesizeMe fits with
    demos = [Demo(p, display_order(p, user_seed)) for p in seen]
    return judge_request(preference, order, demos=demos, step=step)


class MemoryJudge:
    """Memory as a ``PreferenceMethod``: the state is the tuple of preferences shown."""

    name = NAME

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, user_split: UserSplit, client: Any) -> tuple[Preference, ...]:
        """Nothing to fit: remember the train + validation preferences (no LLM calls)."""
        return (*user_split.train, *user_split.val)

    def judge_request(self, state: tuple[Preference, ...], preference: Preference,
                      order: Order) -> ChatRequest:
        return memory_request(preference, order, state, seed=self.seed)

    def prompt_content(self, state: tuple[Preference, ...]) -> tuple[str, str]:
        if state:
            return "demos", ""
        return "nothing", "no earlier preferences for this user; judged by the default judge"
