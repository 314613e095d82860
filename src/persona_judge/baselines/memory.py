"""The Memory baseline: the judge reads the user's earlier choices as they are, nothing inferred.

The paper compares SynthesizeMe with a "Memory" judge but does not print its prompt, so
this wording is ours (template ``judge_memory@v1``). For each of the user's **train and
validation** preferences, in the benchmark's order, the prompt shows the conversation,
**the reply they chose** and **the reply they turned down**, labelled as such, then the
pair to judge. There is no reasoning (no bootstrap traces), no persona, no search and no
LLM call to fit: the method is what SynthesizeMe would be if it only remembered.

Why chosen / turned-down labels rather than SynthesizeMe's A/B demonstrations: a memory
is a record of what happened, not a worked example, and naming the chosen reply avoids
teaching the judge a position habit from how old pairs happened to be displayed. The
pair under test is still shown as Reply A / Reply B, in both orders, like every method.

The user's **test** pairs are never part of the memory: the state holds only train and
validation pairs, and :meth:`MemoryMethod.judge_request` refuses to judge a pair that is
in the memory (that would be a leak, a bug in the caller). A user with no train or
validation pair gets the default judge's prompt, flagged in the judgment records.
:func:`memory_request` builds the request from any list of remembered pairs (a study of
accuracy against the number of preferences hands it the first k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from persona_judge.data.records import Preference, UserSplit
from persona_judge.llm import ChatRequest
from persona_judge.method.judge import (
    JUDGE_MAX_TOKENS,
    Order,
    judge_request,
    pair_slots,
    render_conversation,
)
from persona_judge.method.templates import JUDGE_DEFAULT, load_template

JUDGE_MEMORY = "judge_memory@v1"
NAME = "Memory"


class MemoryLeakError(AssertionError):
    """A pair to judge is part of the memory shown to the judge (a caller's bug)."""


@dataclass(frozen=True)
class MemoryState:
    """What the Memory judge knows about one user: their train + validation choices."""

    user_id: str
    history: tuple[Preference, ...]

    @property
    def pair_ids(self) -> frozenset[str]:
        return frozenset(p.pair_id for p in self.history)

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "history": [p.to_dict() for p in self.history]}


def render_history(history: tuple[Preference, ...], template_id: str = JUDGE_MEMORY) -> str:
    """The earlier choices, one entry each: conversation, chosen reply, turned-down reply."""
    template = load_template(template_id)
    return "\n".join(
        template.render("entry", index=str(i), conversation=render_conversation(p.context),
                        chosen=p.chosen.content, rejected=p.rejected.content)
        for i, p in enumerate(history, start=1))


def memory_request(preference: Preference, order: Order, seen: Sequence[Preference], *,
                   template: str = JUDGE_MEMORY, default_template: str = JUDGE_DEFAULT,
                   step: str = "test") -> ChatRequest:
    """The Memory judge's request for ``preference`` shown in ``order``, remembering ``seen``
    (the user's train + validation pairs, or any subset a study hands it, e.g. the first k);
    with nothing seen, the default judge's request."""
    if not seen:
        return judge_request(preference, order, step=step, default_template=default_template)
    prompt = load_template(template)
    a, b = pair_slots(preference, order)
    values = {"history": render_history(tuple(seen), template),
              "conversation": render_conversation(preference.context),
              "response_a": a, "response_b": b}
    messages = ({"role": "system", "content": prompt.render("system")},
                {"role": "user", "content": prompt.render("user", **values)})
    return ChatRequest(messages=messages, template=prompt.id, temperature=0.0,
                       max_tokens=JUDGE_MAX_TOKENS,
                       labels={"user": preference.user_id, "pair": preference.pair_id,
                               "step": f"{step} ({order})"})


class MemoryMethod:
    """The Memory baseline behind the ``PreferenceMethod`` interface (see the module doc)."""

    name = NAME

    def __init__(self, template: str = JUDGE_MEMORY, default_template: str = JUDGE_DEFAULT,
                 name: str | None = None) -> None:
        self.template = template
        self.default_template = default_template
        if name:
            self.name = name

    def fit(self, user_split: UserSplit, client: Any = None) -> MemoryState:
        """Remember the train and validation choices (never test); no LLM call."""
        return MemoryState(user_split.user_id, (*user_split.train, *user_split.val))

    def judge_request(self, state: MemoryState, preference: Preference, order: Order
                      ) -> ChatRequest:
        if preference.pair_id in state.pair_ids:
            raise MemoryLeakError(
                f"pair {preference.pair_id!r} of user {state.user_id!r} is in the Memory "
                "judge's own history; judge only pairs the method was not fitted on")
        return memory_request(preference, order, state.history, template=self.template,
                              default_template=self.default_template)

    def prompt_content(self, state: MemoryState) -> tuple[str, str]:
        if not state.history:
            return "nothing", "no earlier choices for this user; judged by the default judge"
        return f"{len(state.history)} earlier choices", ""
