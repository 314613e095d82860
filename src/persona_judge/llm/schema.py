"""The plain objects that cross the LLM client's boundary: requests and results.

A :class:`ChatRequest` says everything that determines an answer (messages,
prompt-template version, sampling parameters, sample index) plus free-form
``labels`` (user id, pair id, pipeline step) that only serve error messages and
logs.  A :class:`ChatResult` is a free-text answer with its token usage; a
:class:`Judgment` is a parsed pairwise verdict.  All are serializable
dataclasses so pipeline stages can save and reload them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = ["ChatRequest", "ChatResult", "Choice", "Judgment"]

Choice = Literal["A", "B"]

_ROLES = ("system", "user", "assistant")


def _normalise_messages(messages: Iterable[Mapping[str, Any]]) -> tuple[dict[str, str], ...]:
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(
                f"message {i} must be a mapping with 'role' and 'content', got {message!r}"
            )
        role, content = message.get("role"), message.get("content")
        if role not in _ROLES:
            raise ValueError(f"message {i} has role {role!r}; expected one of {_ROLES}")
        if not isinstance(content, str):
            raise TypeError(
                f"message {i} ({role}) content must be a string, got {type(content).__name__}"
            )
        out.append({"role": role, "content": content})
    if not out:
        raise ValueError("a ChatRequest needs at least one message")
    return tuple(out)


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completion request, as the cache and the endpoint see it.

    ``template`` is ``"name@version"`` of the prompt template that produced the
    messages; it is part of the cache key, so bumping a template's version
    invalidates exactly its answers.  ``sample_index`` is part of the key too:
    bump it to draw a deliberate new sample of the same prompt.  ``labels`` are
    *not* part of the key; they name the call in errors and logs.
    """

    messages: tuple[dict[str, str], ...]
    template: str
    temperature: float = 0.0
    max_tokens: int = 1024
    sample_index: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    top_p: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _normalise_messages(self.messages))
        if not isinstance(self.template, str) or "@" not in self.template:
            raise ValueError(
                f"template must be 'name@version' (e.g. 'judge_pairwise@1'), got {self.template!r}"
            )
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.sample_index < 0:
            raise ValueError(f"sample_index must be >= 0, got {self.sample_index}")
        # 0 and 0.0 must give the same cache key.
        object.__setattr__(self, "temperature", float(self.temperature))
        if self.top_p is not None:
            object.__setattr__(self, "top_p", float(self.top_p))
        # A private plain-dict copy: picklable and safe from the caller's later edits.
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels).items()})

    def sampling_params(self) -> dict[str, float | int]:
        """The parameters sent to the endpoint besides model and messages."""
        params: dict[str, float | int] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.top_p is not None:
            params["top_p"] = self.top_p
        return params

    def resample(self, sample_index: int, temperature: float | None = None) -> ChatRequest:
        """The same request with another sample index (and optionally temperature)."""
        if temperature is None:
            return replace(self, sample_index=sample_index)
        return replace(self, sample_index=sample_index, temperature=temperature)

    def describe(self) -> str:
        """Short human-readable name of the call, for errors and logs."""
        labels = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        base = f"template={self.template}, sample_index={self.sample_index}"
        return f"{base}, {labels}" if labels else base


@dataclass
class ChatResult:
    """A free-text answer.  ``error`` is set (and ``text`` is "") when the call failed."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judgment:
    """A pairwise verdict: "A" (the response shown first) or "B" (shown second).

    ``choice`` None means a tie, an unparseable answer, or a failed call; it
    counts as wrong, and ``failure`` says which.  ``attempts`` counts the samples
    drawn (1 + parse resamples); tokens are summed over them.
    """

    choice: Choice | None
    reasoning: str
    failure: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
