"""The plain objects that cross the LLM client's boundary: requests and results.

A :class:`ChatRequest` says everything that determines an answer (messages,
prompt-template version, sampling parameters, sample index, and the wire-level
options the client adds: ``seed``, ``repetition_penalty`` and the structured-output
form) plus free-form ``labels`` (user id, pair id, pipeline step) that only serve
error messages and logs.  A :class:`ChatResult` is a free-text answer with its
token usage; a :class:`Judgment` is a parsed pairwise verdict that also says how it
was obtained (samples drawn, unparseable samples, the structured-output form, and
the kind of failure if any), so a caller can compute parse-failure rates per step.
All are serializable dataclasses so pipeline stages can save and reload them.

Structured output.  A judge request may ask the endpoint to constrain its answer
to :data:`JUDGMENT_SCHEMA` (``{"reasoning": str, "preferred": "A" | "B"}``) in one
of two wire forms (:data:`STRUCTURED_FORMS`): ``json_schema`` (the OpenAI
Structured Outputs form, ``{"type": "json_schema", "json_schema": {"name",
"schema", "strict"}}``: vLLM, llama.cpp, Together) or ``json_object`` (the older
JSON mode with the schema alongside, ``{"type": "json_object", "schema": ...}``:
Together's JSON mode, llama.cpp).  ``off`` sends no ``response_format``.  The form
is part of the request, so it is part of the cache key.

Two request options shape what the client does around the wire, not the wire
itself (so they are not part of the cache key): ``free_text`` keeps a judge
request unconstrained whatever the client's ``structured_output`` (a judge that
answers in its own text format, e.g. "Preference: First"), and ``parse_retry``
says how an unparseable answer is retried (:data:`PARSE_RETRIES`): ``"client"``
resamples at the client's ``resample_temperature`` (default 0.7);
``"same_temperature"`` retries at the request's own temperature (the paper's
public code: retries at temperature 0, then a tie, counted wrong).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "FAILURE_KINDS",
    "JUDGMENT_SCHEMA",
    "PARSE_RETRIES",
    "STRUCTURED_FORMS",
    "ChatRequest",
    "ChatResult",
    "Choice",
    "Judgment",
    "response_format",
]

Choice = Literal["A", "B"]

#: Wire forms of structured output; "off" sends no response_format at all.
STRUCTURED_FORMS: tuple[str, ...] = ("off", "json_schema", "json_object")

#: What a judge answer must look like (mirrors the judge templates' instructions).
JUDGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reasoning": {"type": "string"},
        "preferred": {"type": "string", "enum": ["A", "B"]},
    },
    "required": ["reasoning", "preferred"],
    "additionalProperties": False,
}

#: How an unparseable judge answer is retried (see the module docstring).
PARSE_RETRIES: tuple[str, ...] = ("client", "same_temperature")

#: Why a Judgment has no choice: a stated tie, no parseable answer in any sample,
#: or a call that failed after all retries.
FAILURE_KINDS: tuple[str, ...] = ("tie", "unparseable", "call_failed")


def response_format(form: str) -> dict[str, Any] | None:
    """The ``response_format`` body field for a structured-output form (None for "off")."""
    if form == "off":
        return None
    if form == "json_schema":
        return {"type": "json_schema",
                "json_schema": {"name": "judgment", "schema": JUDGMENT_SCHEMA, "strict": True}}
    if form == "json_object":
        return {"type": "json_object", "schema": JUDGMENT_SCHEMA}
    raise ValueError(f"structured-output form must be one of {STRUCTURED_FORMS}, got {form!r}")

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
    seed: int | None = None
    repetition_penalty: float | None = None
    structured: str = "off"
    free_text: bool = False
    parse_retry: str = "client"

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
        if self.repetition_penalty is not None:
            object.__setattr__(self, "repetition_penalty", float(self.repetition_penalty))
        if self.structured not in STRUCTURED_FORMS:
            raise ValueError(
                f"structured must be one of {STRUCTURED_FORMS}, got {self.structured!r}")
        if self.parse_retry not in PARSE_RETRIES:
            raise ValueError(
                f"parse_retry must be one of {PARSE_RETRIES}, got {self.parse_retry!r}")
        # A private plain-dict copy: picklable and safe from the caller's later edits.
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels).items()})

    def sampling_params(self) -> dict[str, Any]:
        """Every body field sent to the endpoint besides model and messages."""
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.seed is not None:
            params["seed"] = self.seed
        if self.repetition_penalty is not None:
            params["repetition_penalty"] = self.repetition_penalty
        form = response_format(self.structured)
        if form is not None:
            params["response_format"] = form
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
    """A free-text answer.  ``error`` is set (and ``text`` is "") when the call failed.

    ``finish_reason`` is the server's (``"stop"``, ``"length"`` when the answer hit
    ``max_tokens``), or None when unknown (a failed call, an old cache row).
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    error: str | None = None
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Judgment:
    """A pairwise verdict: "A" (the response shown first) or "B" (shown second).

    ``choice`` None means a tie, an unparseable answer, or a failed call; it
    counts as wrong, ``failure`` says why in words and ``failure_kind`` names the
    class (one of :data:`FAILURE_KINDS`).  ``attempts`` counts the samples drawn
    (1 + parse resamples) and ``parse_failures`` how many of them could not be
    parsed, so a step's parse-failure rate is ``sum(parse_failures) /
    sum(attempts)`` over its judgments; tokens are summed over the samples.
    ``structured_output`` is the form the answers were requested in (one of
    :data:`STRUCTURED_FORMS`).
    """

    choice: Choice | None
    reasoning: str
    failure: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    failure_kind: str | None = None
    parse_failures: int = 0
    structured_output: str = "off"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
