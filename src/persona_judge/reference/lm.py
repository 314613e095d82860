"""A DSPy language model whose every call goes through the study's one cached client.

Why an adapter and not a local OpenAI-compatible endpoint in front of the client: DSPy
2.6 lets a program run on any subclass of its ``BaseLM`` (``__call__(prompt, messages,
**kwargs) -> list[str]``), so the authors' programs can send their requests straight to
:class:`persona_judge.llm.LLMClient` in-process: no second server, no port, no second
HTTP hop whose failures would need their own handling, and the client's cache, rate
limits, retries, circuit breaker, call counts and prices apply unchanged.

Each DSPy request becomes one :class:`~persona_judge.llm.ChatRequest`: the messages DSPy
formatted, template :data:`REFERENCE_TEMPLATE` (the package version: a new version of the
authors' code is a new cache namespace; another DSPy program, such as the MIPROv2 arm of
:mod:`persona_judge.optimisation.miprov2`, passes its own namespace), and DSPy's sampling
parameters (temperature, ``max_tokens``, ``top_p``, ``seed``; ``n`` draws ``n`` samples with
sample indexes 0..n-1).
So the cache key holds the messages and every sampling parameter, a rerun sends nothing,
and an interrupted fit resumes from its cached calls. DSPy's own cache is never used (this
class does not call LiteLLM). ``response_format``, which DSPy's JSON fallback adds when
its chat format could not be parsed, is not forwarded: the study's client sends only its
own judge schema, and DSPy's JSON prompt already asks for a JSON object.

A call the client gives up on raises :class:`ReferenceCallError` inside DSPy (which
retries or counts it, as it would a LiteLLM error). An *expected* stop of the client (a
dead endpoint, a replay miss) is kept in :attr:`StudyLM.stopped` so the caller can raise
it after DSPy's threads have swallowed it. Calls made while a :func:`meter` is open in
the same thread are tallied there (the test judgements' tokens and attempts).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from persona_judge.errors import PersonaJudgeError
from persona_judge.llm import ChatRequest
from persona_judge.reference.extra import SYNTHESIZEME_VERSION, import_dspy
from persona_judge.reference.smoke import dspy_format_answer

dspy = import_dspy()
# Loading the package's released program warns that it was saved under Python 3.12; it is
# a known fact of the package (its program loads and runs), not news for every user.
logging.getLogger("dspy.primitives.module").setLevel(logging.ERROR)

#: The cache namespace of the authors' requests: their package and its version.
REFERENCE_TEMPLATE = f"synthesizeme_official@{SYNTHESIZEME_VERSION}"
#: The authors' judge LM setting (their ``setup``): answers up to 8,192 tokens.
OFFICIAL_MAX_TOKENS = 8192
_SAMPLING = ("temperature", "max_tokens", "top_p", "seed")
_DROPPED = ("response_format",)

_local = threading.local()


class ReferenceCallError(RuntimeError):
    """The study's client gave up on one of the official code's calls."""


@dataclass
class Meter:
    """Calls, attempts and tokens of the official code's requests in one thread."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0
    errors: int = 0


@contextlib.contextmanager
def meter() -> Iterator[Meter]:
    """Tally this thread's :class:`StudyLM` calls while the block runs."""
    tally = Meter()
    outer = getattr(_local, "meter", None)
    _local.meter = tally
    try:
        yield tally
    finally:
        _local.meter = outer


class StudyLM(dspy.BaseLM):  # type: ignore[misc, name-defined]
    """DSPy's LM interface over the study's cached client (see the module doc)."""

    def __init__(self, client: Any, *, max_tokens: int = OFFICIAL_MAX_TOKENS,
                 temperature: float = 0.0, labels: dict[str, str] | None = None,
                 template: str = REFERENCE_TEMPLATE) -> None:
        super().__init__(model=str(client.model), model_type="chat", temperature=temperature,
                         max_tokens=max_tokens, cache=False)
        self.client = client
        self.labels = dict(labels or {"method": "official code"})
        self.template = template  # the cache namespace (default: the authors' package)
        self.stopped: PersonaJudgeError | None = None
        self._lock = threading.Lock()

    # DSPy deep-copies programs and sometimes their LM: share the client, copy the settings.
    def __deepcopy__(self, memo: dict[int, Any]) -> StudyLM:
        twin = StudyLM(self.client, labels=self.labels, template=self.template)
        twin.kwargs = dict(self.kwargs)
        return twin

    def copy(self, **kwargs: Any) -> StudyLM:
        twin = self.__deepcopy__({})
        for key, value in kwargs.items():
            twin.kwargs[key] = value
        return twin

    def request(self, prompt: str | None = None, messages: list[dict[str, Any]] | None = None,
                sample_index: int = 0, **kwargs: Any) -> ChatRequest:
        """The :class:`ChatRequest` this LM sends for one DSPy call (``kwargs`` as DSPy
        passes them, merged over the LM's own settings)."""
        settings = {**self.kwargs, **kwargs}
        unknown = sorted(set(settings) - set(_SAMPLING) - set(_DROPPED) - {"n"})
        if unknown:
            raise TypeError(f"StudyLM does not forward DSPy setting(s) {unknown}")
        if messages is None:
            messages = [{"role": "user", "content": str(prompt)}]
        return ChatRequest(
            messages=tuple({"role": m["role"], "content": m["content"]} for m in messages),
            template=self.template, temperature=float(settings["temperature"]),
            max_tokens=int(settings["max_tokens"]), top_p=settings.get("top_p"),
            seed=settings.get("seed"), sample_index=sample_index, labels=self.labels)

    def __call__(self, prompt: str | None = None, messages: list[dict[str, Any]] | None = None,
                 **kwargs: Any) -> list[str]:
        n = int({**self.kwargs, **kwargs}.get("n", 1) or 1)
        kwargs.pop("n", None)
        outputs = []
        for index in range(n):
            request = self.request(prompt, messages, sample_index=index, **kwargs)
            try:
                result = self.client.chat(request)
            except PersonaJudgeError as err:
                with self._lock:
                    self.stopped = self.stopped or err
                raise
            tally = getattr(_local, "meter", None)
            if tally is not None:
                tally.calls += 1
                tally.prompt_tokens += result.prompt_tokens
                tally.completion_tokens += result.completion_tokens
                tally.cached += bool(result.cached)
            if result.error is not None:
                if tally is not None:
                    tally.errors += 1
                raise ReferenceCallError(f"official code's call failed: {result.error}")
            text = result.text
            if getattr(self.client, "dry_run", False):
                # A dry run's pretend answer carries no verdict; answer in DSPy's format so
                # the program takes its ordinary path and the count is the real run's.
                text = dspy_format_answer({"messages": list(request.messages)}) or text
            outputs.append(text)
        return outputs
