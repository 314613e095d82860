"""Token prices and the token estimator behind cost reports and dry runs.

Prices live in ``prices.yaml`` next to this module (dollars per million input
and output tokens, with the date they were read and whether they were checked
against the provider).  Real runs are priced from the ``usage`` the endpoint
returns; dry runs use :func:`estimate_prompt_tokens`, a deliberately simple
estimator: one token per four characters of message content plus four tokens
of chat-template overhead per message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

__all__ = ["Price", "PriceTable", "estimate_prompt_tokens", "load_prices"]

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


@dataclass(frozen=True)
class Price:
    """US dollars per one million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class PriceTable:
    read_on: str
    status: str
    models: Mapping[str, Price]

    def for_model(self, model: str) -> Price | None:
        if model in self.models:
            return self.models[model]
        lowered = {name.lower(): price for name, price in self.models.items()}
        return lowered.get(model.lower())

    def provenance(self) -> str:
        return f"prices read {self.read_on}, {self.status}"


def _parse(data: Mapping[str, Any], source: str) -> PriceTable:
    try:
        models = {
            str(name): Price(float(entry["input"]), float(entry["output"]))
            for name, entry in data["models"].items()
        }
        return PriceTable(str(data["read_on"]), str(data["status"]), models)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ValueError(
            f"{source} is malformed ({err!r}); it needs read_on, status and "
            "models: {<model>: {input: <$/1M>, output: <$/1M>}}"
        ) from err


@lru_cache(maxsize=1)
def load_prices() -> PriceTable:
    """The packaged price table (``persona_judge/llm/prices.yaml``)."""
    text = resources.files("persona_judge.llm").joinpath("prices.yaml").read_text("utf-8")
    return _parse(yaml.safe_load(text), "persona_judge/llm/prices.yaml")


def estimate_prompt_tokens(messages: Iterable[Mapping[str, str]]) -> int:
    """chars/4 of each message's content, rounded up, plus 4 tokens per message."""
    return sum(
        math.ceil(len(m["content"]) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for m in messages
    )


def estimate_text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)
