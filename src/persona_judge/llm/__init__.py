"""The LLM client: the one place in the study that talks to models.

Build a client with :func:`client_from_env` (Together via ``TOGETHER_API_KEY``,
or any OpenAI-compatible server via ``LLM_BASE_URL``; both through the
``together`` SDK), then call ``chat``/``chat_many`` for free text and
``judge``/``judge_many`` for pairwise verdicts.  Answers are cached in SQLite,
calls are concurrent, rate-limited and retried, and ``client.summary()``
reports calls, cache hits, failures, fallbacks, tokens and dollars.
:mod:`persona_judge.llm.standin` provides a local OpenAI-compatible server for
tests and smoke runs.
"""

from persona_judge.llm.cache import CACHE_MODES, ResponseCache, request_key
from persona_judge.llm.client import (
    ClientConfig,
    LLMClient,
    ReplayMissError,
    client_from_env,
)
from persona_judge.llm.endpoint import (
    Endpoint,
    EndpointConfigError,
    NoEndpointError,
    describe_endpoint,
    endpoint_configured,
    normalise_base_url,
    resolve_endpoint,
)
from persona_judge.llm.parsing import ParsedJudgment, parse_judgment
from persona_judge.llm.prices import Price, estimate_prompt_tokens, load_prices
from persona_judge.llm.schema import ChatRequest, ChatResult, Judgment
from persona_judge.llm.stats import RunStats

__all__ = [
    "CACHE_MODES",
    "ChatRequest",
    "ChatResult",
    "ClientConfig",
    "Endpoint",
    "EndpointConfigError",
    "Judgment",
    "LLMClient",
    "NoEndpointError",
    "ParsedJudgment",
    "Price",
    "ReplayMissError",
    "ResponseCache",
    "RunStats",
    "client_from_env",
    "describe_endpoint",
    "endpoint_configured",
    "estimate_prompt_tokens",
    "load_prices",
    "normalise_base_url",
    "parse_judgment",
    "request_key",
    "resolve_endpoint",
]
