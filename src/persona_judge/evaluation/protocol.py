"""The one interface every preference-prediction method implements, so evaluation is written once.

A method is fitted per user on that user's train + validation preferences
(``fit`` returns a plain, serializable *state*: ``None`` for the default judge,
a ``SynthesizeMeArtifact`` for SynthesizeMe) and then turns any pair, shown in a
given order, into a judge request (``judge_request``). Evaluation sends those
requests through the study's cached client, in both orders, and scores them.
The baselines (:mod:`persona_judge.baselines`: Memory, Demographics, random
demos) implement the same two methods; an optional ``prompt_content(state)``
says what the prompt carries for a user (see ``predict.prompt_content``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from persona_judge.data.records import Preference, UserSplit
from persona_judge.llm import ChatRequest
from persona_judge.method.judge import Order


@runtime_checkable
class PreferenceMethod(Protocol):
    """A way to predict which of two replies a user prefers."""

    name: str

    def fit(self, user_split: UserSplit, client: Any) -> Any:
        """Learn what the method needs about this user (train + val only, never test)."""
        ...

    def judge_request(self, state: Any, preference: Preference, order: Order) -> ChatRequest:
        """The judge request for ``preference`` shown in ``order``, given the fitted state."""
        ...
