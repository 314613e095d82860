"""The LLM client: the one place in the study that talks to models.

Build a client with :func:`client_from_env` (Together via ``TOGETHER_API_KEY``,
or any OpenAI-compatible server via ``LLM_BASE_URL``; both through the
``together`` SDK), then call ``chat``/``chat_many`` for free text and
``judge``/``judge_many`` for pairwise verdicts.  Answers are cached in SQLite,
calls are concurrent, rate-limited and retried, the endpoint is checked by a
preflight before the first paid call, a circuit breaker stops a run whose
endpoint keeps failing, judge answers use structured output where the endpoint
accepts it, and ``client.summary()`` reports calls, cache hits, failures,
fallbacks, tokens and dollars.
:mod:`persona_judge.llm.standin` provides a local OpenAI-compatible server for
tests and smoke runs.
"""

from persona_judge.llm.cache import CACHE_MODES, CacheError, ResponseCache, request_key
from persona_judge.llm.client import (
    STRUCTURED_OUTPUT_MODES,
    ClientConfig,
    LLMClient,
    ReplayMissError,
    TrackedClient,
    answer_patience,
    client_from_env,
    preflight_worst_case,
    timeout_advice,
)
from persona_judge.llm.endpoint import (
    Endpoint,
    EndpointConfigError,
    EndpointUnavailableError,
    NoEndpointError,
    RequestRejectedError,
    describe_endpoint,
    endpoint_configured,
    normalise_base_url,
    resolve_endpoint,
)
from persona_judge.llm.parsing import ParsedJudgment, parse_judgment
from persona_judge.llm.prices import Price, estimate_prompt_tokens, load_prices
from persona_judge.llm.schema import (
    FAILURE_KINDS,
    JUDGMENT_SCHEMA,
    STRUCTURED_FORMS,
    ChatRequest,
    ChatResult,
    Judgment,
)
from persona_judge.llm.stats import RunStats

__all__ = [
    "CACHE_MODES",
    "FAILURE_KINDS",
    "JUDGMENT_SCHEMA",
    "STRUCTURED_FORMS",
    "STRUCTURED_OUTPUT_MODES",
    "CacheError",
    "ChatRequest",
    "ChatResult",
    "ClientConfig",
    "Endpoint",
    "EndpointConfigError",
    "EndpointUnavailableError",
    "Judgment",
    "LLMClient",
    "NoEndpointError",
    "ParsedJudgment",
    "Price",
    "ReplayMissError",
    "RequestRejectedError",
    "ResponseCache",
    "RunStats",
    "TrackedClient",
    "client_from_env",
    "describe_endpoint",
    "endpoint_configured",
    "estimate_prompt_tokens",
    "load_prices",
    "normalise_base_url",
    "parse_judgment",
    "answer_patience",
    "preflight_worst_case",
    "timeout_advice",
    "request_key",
    "resolve_endpoint",
]
