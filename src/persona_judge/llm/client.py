"""The study's one LLM client: cache, concurrency, rate limits, retries, judging, cost.

Every LLM call in the study goes through :class:`LLMClient`, built with
:func:`client_from_env`.  A call is answered, in order, from

1. the SQLite cache (:mod:`persona_judge.llm.cache`) -- a hit costs nothing;
2. in ``replay`` cache mode, nowhere: a miss raises :class:`ReplayMissError`
   naming the call and what the cache was recorded with;
3. in a dry run, a placeholder -- no network call; tokens and dollars are
   estimated (prompt: chars/4 + 4 per message; completion: ``max_tokens`` or
   ``dry_run_completion_tokens``), and ``judge`` returns a choice derived from
   the request hash so pipelines follow realistic paths.  Repeats within the
   run count as cache hits, as they would for real, so the call count equals a
   real run's whenever real answers parse first time and no call fails;
4. the endpoint, through the ``together`` SDK, at most ``max_concurrency``
   calls in flight and within the ``rpm``/``tpm`` limits.

Before the first call that would reach the endpoint, a **preflight** sends one
tiny request (a few tokens, never cached) with short timeouts: a closed port, a
server that answers every request with an error, or one that accepts
connections and never answers stops the run at once with
:class:`EndpointUnavailableError` (within :func:`preflight_worst_case` seconds,
25 s with the defaults), a bad key or model with :class:`EndpointConfigError`.
A warm rerun that never misses the cache sends nothing, not even a preflight.

**Structured output** (``structured_output``): ``auto`` (default) probes, in
that preflight, which ``response_format`` the endpoint accepts for judge
answers -- ``json_schema``, else ``json_object`` with the schema, else none --
and remembers the answer in the cache file per backend + public base URL +
model, so the probe runs once per endpoint; a form the server refused is never
sent again.  ``json_schema`` / ``json_object`` / ``off`` force a form (a refusal
then stops the run at the preflight).  The form is part of every judge
request's cache key.  Free text and :func:`parse_judgment` remain the fallback:
structured answers are parsed by the same parser.

**Failures.**  An attempt that fails with 408/409/429, 5xx, a dropped
connection or a malformed body is retried with exponential backoff
(``tenacity``), honouring ``retry-after-ms`` / ``Retry-After``.  A request that
got no answer within ``timeout`` is never sent again (the server may still be
working on it; a resend would put a second copy in its queue): the client waits
longer for that one copy (``max_timeout_retries`` waits, each ``timeout_growth``
times longer, :func:`answer_patience`), then fails the call with a message naming
``--timeout`` / ``llm_settings.timeout``.  The preflight waits out a rate limit
as asked, within ``preflight_max_wait``.  A call that
still fails becomes a ``ChatResult`` with ``error`` set (or a ``Judgment`` with
``failure_kind="call_failed"``): batches continue, and :class:`RunStats` counts
it -- until the **circuit breaker** (:mod:`persona_judge.llm.breaker`) trips
(``breaker_consecutive`` failed calls in a row, or more than
``breaker_failure_share`` of at least ``breaker_min_calls``), which stops the
run with one message naming the endpoint, model, last error and what to check.
A 4xx that no retry can fix stops the run at once: 401/403/404 with
:class:`EndpointConfigError`, others (400 context length exceeded, 413, 422)
with :class:`RequestRejectedError` carrying the server's reason and the call.

**Judging.**  Answers are parsed with :func:`parse_judgment`; an unparseable
answer is resampled with ``sample_index + 1, + 2, ...`` up to
``max_parse_retries`` times.  So that a resample can differ from the answer it
replaces, it is drawn at ``resample_temperature`` (default 0.7) and, with
``send_seed`` (default on; Together, vLLM, llama.cpp and Ollama accept it), with
its sample index as the ``seed``.  A judgment that never parses is recorded as
``choice=None`` with the reason; every ``Judgment`` says how many samples were
drawn, how many failed to parse and which structured form was used, so the
parse-failure rate of a step is computable from its judgments.  Runaway
generations are capped by each request's ``max_tokens`` (an answer that hit it
has ``finish_reason="length"``, named in the failure) and, where the server
supports it, ``repetition_penalty``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter
from tqdm import tqdm

from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.llm.breaker import CircuitBreaker
from persona_judge.llm.cache import CACHE_MODES, ResponseCache, request_key
from persona_judge.llm.endpoint import (
    BASE_URL_ENV,
    TOGETHER_KEY_ENV,
    CallFailed,
    Completion,
    Endpoint,
    EndpointConfigError,
    EndpointUnavailableError,
    NoEndpointError,
    RequestRejectedError,
    TransientError,
    Transport,
    public_url,
    resolve_endpoint,
)
from persona_judge.llm.limits import SlidingWindowLimiter
from persona_judge.llm.parsing import parse_judgment
from persona_judge.llm.prices import (
    Price,
    estimate_prompt_tokens,
    estimate_text_tokens,
    load_prices,
)
from persona_judge.llm.schema import STRUCTURED_FORMS, ChatRequest, ChatResult, Judgment
from persona_judge.llm.stats import RunStats

__all__ = [
    "STRUCTURED_OUTPUT_MODES",
    "ClientConfig",
    "LLMClient",
    "ReplayMissError",
    "TrackedClient",
    "answer_patience",
    "client_from_env",
    "preflight_worst_case",
    "timeout_advice",
]

log = logging.getLogger("persona_judge.llm")

T = TypeVar("T")
R = TypeVar("R")

DRY_RUN_TEXT = "[dry run: no LLM call was made]"


class ReplayMissError(PersonaJudgeError, LookupError):
    """Replay-only mode met a request that the cache has never seen."""


class _FormRefused(Exception):
    """The endpoint refused a structured-output form during the probe (internal)."""


#: ``structured_output`` settings: probe the endpoint, force a form, or never ask.
STRUCTURED_OUTPUT_MODES: tuple[str, ...] = ("auto", *STRUCTURED_FORMS)

# The preflight retries a refused connection or a 5xx once, after at most this pause;
# a timeout is not retried (a tiny request that times out is damning). A server that
# asks to wait (429, Retry-After) is waited for: see ClientConfig.preflight_max_wait.
PREFLIGHT_ATTEMPTS = 2
PREFLIGHT_MAX_PAUSE = 2.0
# Refusals of a structured-output form: a 4xx other than auth/404, or the 500/501
# that some servers (llama.cpp) answer to a response_format they cannot handle.
_FORM_REFUSAL_STATUSES = (500, 501)


@dataclass(frozen=True)
class ClientConfig:
    """How the client drives an endpoint.  All fields have working defaults.

    max_concurrency:   calls in flight at once (per client, across all threads)
    rpm / tpm:         client-side requests / tokens per ``rate_window`` seconds
                       (None = unlimited); tokens are estimated before the call as
                       prompt chars/4 + max_tokens
    timeout:           seconds to wait for one answer before it counts as slow
                       (then see ``max_timeout_retries``; generation can be slow)
    connect_timeout:   seconds to open a connection (a dead host fails fast)
    max_retries:       retries per call after the first attempt (429, 5xx, dropped
                       connections, malformed bodies; not timeouts, see below)
    max_timeout_retries / timeout_growth: a request that got no answer within
                       ``timeout`` is *not* sent again (the server may still be
                       working on it, and a second copy would only queue behind
                       it): the client keeps waiting for that one copy, up to
                       ``max_timeout_retries`` more times, each wait ``timeout_growth``
                       times the one before; then the call fails, naming the
                       setting to raise.  Defaults: 120 + 240 + 480 = 840 s in all
                       (:func:`answer_patience`)
    backoff_initial / backoff_max: exponential backoff between retries, seconds
                       (with jitter); a server's Retry-After wins when present,
                       capped at ``max_retry_after``
    max_parse_retries: resamples of an unparseable judge answer
    resample_temperature: temperature for those resamples (None = unchanged);
                       a judge at temperature 0 would repeat the same unparseable
                       answer, so the default is 0.7
    send_seed:         send ``seed = sample_index`` with every request, so that
                       resamples differ and reruns are reproducible where the
                       server honours seeds
    repetition_penalty: sent with every request when set (Together, vLLM); caps
                       runaway loops on one phrase.  None = not sent
    structured_output: ``auto`` | ``json_schema`` | ``json_object`` | ``off``:
                       how judge answers are requested (see the module docstring)
    preflight:         check the endpoint with one tiny request before the first
                       real call (and probe structured output).  Off: no check,
                       and ``auto`` means the stored capability, else free text
    preflight_timeout: read timeout of the preflight (also capped by ``timeout``)
    preflight_max_wait: seconds the preflight waits, in all, for a server that
                       rate-limits it (429, or any answer with ``Retry-After``),
                       honouring ``Retry-After``; a server asking for more stops the
                       run with a message naming this setting
    breaker_consecutive / breaker_failure_share / breaker_min_calls: when the
                       circuit breaker stops the run (see ``llm.breaker``)
    dry_run_completion_tokens: completion length assumed by a dry run
                       (None = the request's max_tokens, an upper bound)
    progress:          tqdm progress bars for batches
    """

    max_concurrency: int = 8
    rpm: int | None = None
    tpm: int | None = None
    rate_window: float = 60.0
    timeout: float = 120.0
    connect_timeout: float = 5.0
    max_retries: int = 6
    max_timeout_retries: int = 2
    timeout_growth: float = 2.0
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 120.0
    max_parse_retries: int = 2
    resample_temperature: float | None = 0.7
    send_seed: bool = True
    repetition_penalty: float | None = None
    structured_output: str = "auto"
    preflight: bool = True
    preflight_timeout: float = 20.0
    preflight_max_wait: float = 120.0
    breaker_consecutive: int = 3
    breaker_failure_share: float = 0.25
    breaker_min_calls: int = 12
    dry_run_completion_tokens: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_setting(f.name, getattr(self, f.name), f.type)
        positive = ("timeout", "connect_timeout", "preflight_timeout", "rate_window",
                    "max_concurrency", "breaker_consecutive", "breaker_min_calls")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"LLM setting {name} must be > 0, got {getattr(self, name)}")
        for name in ("max_retries", "max_parse_retries", "backoff_initial", "backoff_max",
                     "max_retry_after", "max_timeout_retries", "preflight_max_wait"):
            if getattr(self, name) < 0:
                raise SettingsError(f"LLM setting {name} must be >= 0, got {getattr(self, name)}")
        for name in ("rpm", "tpm", "dry_run_completion_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingsError(f"LLM setting {name} must be >= 1 or null, got {value}")
        if self.timeout_growth < 1:
            raise SettingsError("LLM setting timeout_growth must be >= 1 (each wait at least "
                                f"as long as the one before), got {self.timeout_growth}")
        if self.structured_output not in STRUCTURED_OUTPUT_MODES:
            raise SettingsError(
                f"LLM setting structured_output must be one of "
                f"{', '.join(STRUCTURED_OUTPUT_MODES)}, got {self.structured_output!r}")
        if not 0 < self.breaker_failure_share <= 1:
            raise SettingsError("LLM setting breaker_failure_share must be in (0, 1], got "
                                f"{self.breaker_failure_share}")
        if self.resample_temperature is not None and self.resample_temperature < 0:
            raise SettingsError("LLM setting resample_temperature must be >= 0 or null, got "
                                f"{self.resample_temperature}")


def _check_setting(name: str, value: object, annotation: object) -> None:
    """Type-check one ClientConfig field (values often come from YAML or a command line)."""
    text = str(annotation)
    allowed: list[type] = []
    if "bool" in text:
        allowed.append(bool)
    if "int" in text:
        allowed.append(int)
    if "float" in text:
        allowed += [int, float]
    if "str" in text:
        allowed.append(str)
    if value is None and "None" in text:
        return
    if isinstance(value, bool) and bool not in allowed:
        ok = False
    else:
        ok = isinstance(value, tuple(allowed))
    if not ok:
        raise SettingsError(f"LLM setting {name} must be {text.replace(' | ', ' or ')}, got "
                            f"{value!r} ({type(value).__name__})")


def preflight_worst_case(config: ClientConfig) -> float:
    """Seconds the preflight can take, at most, before it reports a dead endpoint.

    A refused or unreachable connection is tried :data:`PREFLIGHT_ATTEMPTS` times
    (each bounded by ``connect_timeout``) with a pause of at most
    :data:`PREFLIGHT_MAX_PAUSE`; a server that accepts and never answers costs one
    ``connect_timeout`` plus one read timeout (``min(timeout, preflight_timeout)``),
    as a timeout is not retried.  With the defaults: max(2*5 + 2, 5 + 20) = 25 s.
    """
    read = min(config.timeout, config.preflight_timeout)
    connect = min(config.connect_timeout, config.timeout)
    refused = PREFLIGHT_ATTEMPTS * connect + (PREFLIGHT_ATTEMPTS - 1) * PREFLIGHT_MAX_PAUSE
    return max(refused, connect + read)


def answer_patience(config: ClientConfig) -> float:
    """Seconds the client waits for one answer before the call fails as timed out.

    ``timeout`` first, then ``max_timeout_retries`` longer waits, each
    ``timeout_growth`` times the one before, all on the one request sent:
    ``timeout * (1 + g + g**2 + ...)``; with the defaults 120 + 240 + 480 = 840 s.
    """
    return config.timeout * sum(config.timeout_growth ** k
                                for k in range(config.max_timeout_retries + 1))


def timeout_advice(config: ClientConfig) -> str:
    """What to change when a server answers more slowly than the settings allow."""
    return ("raise the answer timeout (--timeout for `persona-judge fit`, "
            "llm_settings.timeout in study.yaml; now "
            f"{config.timeout:g} s), or lower the calls in flight (--max-concurrency, "
            f"llm_settings.max_concurrency; now {config.max_concurrency}) so fewer requests "
            "queue at the server")


class _RetryAfterOrBackoff(wait_base):
    """Wait what the server asked for (Retry-After), else exponential backoff with jitter."""

    def __init__(self, config: ClientConfig) -> None:
        self._backoff = wait_exponential_jitter(
            multiplier=config.backoff_initial,
            max=config.backoff_max,
            jitter=config.backoff_initial,
        )
        self._cap = config.max_retry_after

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        err = outcome.exception() if outcome is not None else None
        if isinstance(err, TransientError) and err.retry_after is not None:
            return min(err.retry_after, self._cap)
        return self._backoff(retry_state)


class LLMClient:
    """Cached, concurrent, rate-limited chat and judge calls against one model.

    Build it with :func:`client_from_env`.  Use as a context manager, or call
    :meth:`close`.  Safe to call from many threads.
    """

    def __init__(
        self,
        model: str,
        *,
        endpoint: Endpoint | None,
        cache_path: str | Path,
        cache_mode: str = "readwrite",
        dry_run: bool = False,
        config: ClientConfig | None = None,
        backend: str | None = None,
    ) -> None:
        if cache_mode not in CACHE_MODES:
            raise SettingsError(f"cache_mode must be one of {CACHE_MODES}, got {cache_mode!r}")
        self.model = model
        self.config = config or ClientConfig()
        self.endpoint = endpoint
        # Without an endpoint a dry run or replay assumes the study's default backend
        # (the backend is part of the cache key).
        self.backend: str = endpoint.backend if endpoint else (backend or "together")
        self._url = public_url(endpoint.base_url) if endpoint else None
        self.dry_run = dry_run
        self.cache_mode = cache_mode
        self.cache_path = Path(cache_path)
        self.cache = ResponseCache(self.cache_path, cache_mode)
        price_table = load_prices()
        self._price: Price | None = price_table.for_model(model)
        self._price_provenance = price_table.provenance()
        self.stats = RunStats(
            model=model, backend=self.backend, dry_run=dry_run, price_known=self._price is not None
        )
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        # single flight: one copy of a request in flight; its twins wait and read the cache
        self._flight_guard = threading.Lock()
        self._flights: dict[str, list[Any]] = {}
        window = self.config.rate_window
        self._rpm = (SlidingWindowLimiter(self.config.rpm, window, keep_history=True)
                     if self.config.rpm else None)
        self._tpm = (SlidingWindowLimiter(self.config.tpm, window, keep_history=True)
                     if self.config.tpm else None)
        self._breaker = CircuitBreaker(self.config.breaker_consecutive,
                                       self.config.breaker_failure_share,
                                       self.config.breaker_min_calls)
        # A dry run never writes the cache, but remembers its own pretend answers so
        # that a repeated request counts as the cache hit a real run would get.
        self._dry_answers: dict[str, ChatResult] = {}
        self._dry_lock = threading.Lock()
        # Preflight and capability probe: done once, under one (re-entrant) lock.
        self._ready_lock = threading.RLock()
        self._ready = False
        self._ready_error: PersonaJudgeError | None = None
        self._capability: str | None = None
        self.capability_detail = ""
        self._endpoint_noted = False
        self._transport: Transport | None = None
        self._closed = False
        if not dry_run and cache_mode != "replay":
            if endpoint is None:
                self.cache.close()
                raise NoEndpointError(
                    f"no LLM endpoint configured for model {model!r}: set {TOGETHER_KEY_ENV} "
                    f"(Together) or {BASE_URL_ENV} (OpenAI-compatible server), or run with "
                    "dry_run=True to count calls, or cache_mode='replay' to reuse a cache"
                )
            self._transport = Transport(
                endpoint,
                timeout=self.config.timeout,
                connect_timeout=self.config.connect_timeout,
                max_connections=max(self.config.max_concurrency, 4),
            )

    # -- housekeeping -----------------------------------------------------------
    def __repr__(self) -> str:
        where = self.endpoint.describe() if self.endpoint else "no endpoint"
        return (
            f"LLMClient(model={self.model!r}, backend={self.backend!r}, endpoint={where!r}, "
            f"cache={str(self.cache_path)!r}, cache_mode={self.cache_mode!r}, "
            f"dry_run={self.dry_run})"
        )

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the cache and the HTTP connections.  Idempotent."""
        self._closed = True
        self.cache.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _redact(self, text: str) -> str:
        return self._transport.redact(text) if self._transport else text

    @property
    def limiters(self) -> dict[str, SlidingWindowLimiter]:
        """The client-side rate limiters in use (``rpm``, ``tpm``), with their history."""
        return {name: lim for name, lim in (("rpm", self._rpm), ("tpm", self._tpm)) if lim}

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    def key_for(self, request: ChatRequest, *, judge: bool = False) -> str:
        """The cache key of ``request`` as this client sends it (``judge``: as a judge
        request, i.e. with the structured-output form)."""
        return self._key(self._wire(request, judge=judge))

    def _key(self, wire: ChatRequest) -> str:
        return request_key(wire, backend=self.backend, model=self.model)

    # -- what is sent -----------------------------------------------------------------
    def _wire(self, request: ChatRequest, *, judge: bool) -> ChatRequest:
        """``request`` with the options this client adds: seed, penalty, structured form."""
        changes: dict[str, Any] = {}
        if self.config.send_seed and request.seed is None:
            changes["seed"] = request.sample_index
        if self.config.repetition_penalty is not None and request.repetition_penalty is None:
            changes["repetition_penalty"] = self.config.repetition_penalty
        if judge and request.structured == "off" and not request.free_text:
            form = self.structured_output
            if form != "off":
                changes["structured"] = form
        return dataclasses.replace(request, **changes) if changes else request

    @property
    def structured_output(self) -> str:
        """The structured-output form judge requests use (probing the endpoint if needed)."""
        mode = self.config.structured_output
        if mode != "auto":
            return mode
        if self._capability is None:
            with self._ready_lock:
                if self._capability is None:
                    self._capability = self._stored_capability()
                if self._capability is None:
                    if self._transport is None or not self.config.preflight:
                        # Nothing can be asked (dry run, replay, preflight off): judge
                        # requests are keyed and sent as free text.
                        self.capability_detail = "not probed"
                        self._capability = "off"
                    else:
                        self._preflight()  # the probe is the preflight; sets _capability
        assert self._capability is not None
        return self._capability

    def _stored_capability(self) -> str | None:
        # Without an endpoint (replay, dry run) the most recent probe at any URL.
        stored = self.cache.capability(self.backend, self._url, self.model)
        if stored is not None:
            self.capability_detail = "stored in the cache"
        return stored

    # -- preflight ----------------------------------------------------------------------
    def _ensure_ready(self) -> None:
        """Run the preflight once, before the first call that reaches the endpoint."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            if not self.config.preflight:
                self._ready = True
                return
            self._preflight()

    def _preflight(self) -> None:
        """Check the endpoint (and, for ``auto``, find its structured-output form).

        Called under ``_ready_lock``.  A failure is remembered: every later call
        raises the same error at once, and the circuit breaker is open.
        """
        if self._ready_error is not None:
            raise self._ready_error.with_traceback(None)
        try:
            mode = self.config.structured_output
            if mode == "auto" and self._capability is None:
                self._capability = self._stored_capability()
            if mode != "auto":
                self._preflight_call(mode, refusal_ok=False)
            elif self._capability is None:
                self._capability = self._probe_structured_output()
            else:
                try:  # a stored form: check it is still accepted, else probe again
                    self._preflight_call(self._capability, refusal_ok=True)
                except _FormRefused:
                    self._capability = self._probe_structured_output()
        except (EndpointUnavailableError, EndpointConfigError, RequestRejectedError) as err:
            self._ready_error = err
            self._breaker.trip("the preflight failed", str(err))
            raise
        self._ready = True

    def _preflight_request(self, form: str) -> ChatRequest:
        if form == "off":
            messages = [{"role": "user", "content": "Connectivity check: reply with the "
                                                    "single word OK."}]
            max_tokens = 8
        else:
            messages = [
                {"role": "system", "content": "You compare two short replies."},
                {"role": "user", "content": 'Which reply is shorter? Reply A: "Yes." Reply B: '
                 '"Certainly, I would be glad to help." Answer with one JSON object: '
                 '{"reasoning": "<one sentence>", "preferred": "<A or B>"}'},
            ]
            max_tokens = 64
        request = ChatRequest(messages, "preflight@1", temperature=0.0, max_tokens=max_tokens,
                              structured=form, labels={"step": "preflight"})
        return self._wire(request, judge=False)

    def _unavailable(self, why: str, last_error: str) -> EndpointUnavailableError:
        where = self.endpoint.describe() if self.endpoint else "no endpoint"
        url = self._url or ""
        return EndpointUnavailableError(self._redact(
            f"the LLM endpoint {where} is not usable for model {self.model!r}: {why} "
            f"(last error: {last_error}). Check that the server is running and reachable "
            f"from this machine (e.g. curl {url}/v1/models), that the base URL "
            f"({BASE_URL_ENV}) and the model name are right, and your rate limits. Finished "
            f"calls are in the cache {self.cache_path}; rerunning the same command resumes."))

    def _preflight_call(self, form: str, *, refusal_ok: bool) -> Completion:
        """One preflight request; counted, never cached.

        A failure is tried again once (:data:`PREFLIGHT_ATTEMPTS`), after a short
        pause; a server that asks to wait (429, or ``Retry-After`` on any retryable
        answer) is waited for as it asks, like every other call, for up to
        ``preflight_max_wait`` seconds in all, and those waits do not count as
        failures.  ``refusal_ok``: a refusal of the form raises :class:`_FormRefused`
        (the probe moves on to the next form) instead of stopping the run.
        """
        assert self._transport is not None
        request = self._preflight_request(form)
        read = min(self.config.timeout, self.config.preflight_timeout)
        failures = 0
        while True:
            try:
                self.stats.add(preflight_calls=1, attempts=1)
                completion = self._transport.complete_once(self.model, request, read)
            except RequestRejectedError as err:
                reason = f"HTTP {err.status}: {err.reason}"
                if refusal_ok:
                    raise _FormRefused(reason) from None
                if form != "off":  # a setting this endpoint cannot serve: stop the run
                    raise EndpointConfigError(self._redact(
                        f"{self._url} refused structured_output={form} ({reason}); set "
                        "structured_output to auto (detects what the server accepts) or "
                        "off")) from None
                raise self._unavailable("it refused a minimal chat request", reason) from None
            except TransientError as err:
                if err.cause == "timeout":
                    setting = ("preflight_timeout" if read == self.config.preflight_timeout
                               else "the answer timeout (--timeout, llm_settings.timeout)")
                    raise self._unavailable(
                        f"it did not answer a {request.max_tokens}-token request within "
                        f"{read:g} s (if the server is still loading the model, wait and "
                        f"rerun, or raise {setting})", str(err)) from None
                if err.status == 429 or err.retry_after is not None:
                    self._preflight_wait(err)
                    continue
                # A 500 may be a refusal of the form (llama.cpp) or a blip: ask once more
                # before calling the form refused and never sending it again.
                failures += 1
                refused = refusal_ok and err.status in _FORM_REFUSAL_STATUSES
                if refused and failures == PREFLIGHT_ATTEMPTS:
                    raise _FormRefused(str(err)) from None
                if failures == PREFLIGHT_ATTEMPTS:
                    raise self._unavailable(f"the preflight failed {failures} times",
                                            str(err)) from None
                time.sleep(0.2 if refused else PREFLIGHT_MAX_PAUSE / 2)
                continue
            self._spend(*self._usage(request, completion))
            return completion

    def _preflight_wait(self, err: TransientError) -> None:
        """Wait as a rate-limiting server asks, within ``preflight_max_wait`` in all."""
        limit = self.config.preflight_max_wait
        pause = err.retry_after if err.retry_after is not None else PREFLIGHT_MAX_PAUSE
        waited = self.stats.preflight_waited
        if waited + pause > limit:
            asked = (f"it asked to wait {pause:g} s more (Retry-After)"
                     if err.retry_after is not None else "it kept rate-limiting")
            raise self._unavailable(
                f"it kept rate-limiting (HTTP {err.status}) the preflight: waited "
                f"{waited:g} s, and {asked}, more than preflight_max_wait={limit:g} s "
                "allows (raise it in llm_settings, or wait and rerun)", str(err)) from None
        self.stats.add(preflight_waited=pause)
        self.stats.add_retry(err.cause)
        log.warning("the LLM endpoint %s is rate-limiting (HTTP %s); the preflight waits "
                    "%.3g s as asked (%.3g s of preflight_max_wait=%g s used)", self._url,
                    err.status, pause, waited + pause, limit)
        time.sleep(pause)

    def _probe_structured_output(self) -> str:
        """Find the structured-output form the endpoint accepts; remember it in the cache."""
        refusals = []
        for form in ("json_schema", "json_object"):
            try:
                completion = self._preflight_call(form, refusal_ok=True)
            except _FormRefused as refused:
                refusals.append(f"{form} refused ({refused})")
                log.info("structured output %s refused by %s: %s", form, self._url, refused)
                continue
            honoured = parse_judgment(completion.text).choice is not None
            refusals.append(f"{form} accepted" + ("" if honoured else
                                                  " (but the answer did not parse)"))
            return self._remember_capability(form, refusals)
        self._preflight_call("off", refusal_ok=False)
        return self._remember_capability("off", refusals)

    def _remember_capability(self, form: str, detail: list[str]) -> str:
        self.capability_detail = "; ".join(detail)
        assert self._url is not None
        self.cache.store_capability(self.backend, self._url, self.model, form,
                                    self.capability_detail)
        return form

    def _breaker_error(self) -> EndpointUnavailableError:
        state = self._breaker.state()
        return self._unavailable(f"stopped after {state.tripped}", self._breaker.last_error)

    # -- one call -----------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        """One free-text answer (from the cache when possible)."""
        result = self._send(self._wire(request, judge=False))
        if result.error is not None:
            self.stats.add(fallbacks=1)
        return result

    def _send(self, wire: ChatRequest, *, judge: bool = False) -> ChatResult:
        return self._send_wire(wire, judge=judge)[0]

    def _send_wire(self, wire: ChatRequest, *, judge: bool = False
                   ) -> tuple[ChatResult, ChatRequest]:
        """The answer to ``wire`` and the request finally sent (its form may change once)."""
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; build a new client with client_from_env")
        key = self._key(wire)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.add(cache_hits=1)
            return ChatResult(hit.text, hit.prompt_tokens, hit.completion_tokens, cached=True,
                              finish_reason=hit.finish_reason), wire
        if self.cache_mode == "replay":
            raise ReplayMissError(self._replay_miss_message(wire, key))
        if self.dry_run:
            return self._dry_run_answer(wire, key, judge=judge), wire
        assert self._transport is not None
        self._ensure_ready()
        if (judge and self.config.structured_output == "auto" and self._capability
                and wire.structured != self._capability and not wire.free_text):
            # The preflight found that a stored form is no longer accepted: ask again
            # in the form it found (never in the refused one).
            return self._send_wire(dataclasses.replace(wire, structured=self._capability),
                                   judge=judge)
        with self._single_flight(key):
            hit = self.cache.get(key)  # a twin sent from another thread has answered it
            if hit is not None:
                self.stats.add(cache_hits=1)
                return ChatResult(hit.text, hit.prompt_tokens, hit.completion_tokens,
                                  cached=True, finish_reason=hit.finish_reason), wire
            return self._send_uncached(wire, key)

    @contextlib.contextmanager
    def _single_flight(self, key: str) -> Iterator[None]:
        """Hold the one lock of requests with cache key ``key``.

        Threads that ask the same request at once (the official code's parallel searches
        do) would otherwise each miss the cache and each pay for it, and whether a request
        counts as a call or a cache hit would depend on timing. The first copy is sent;
        the others wait for it and read its answer from the cache (a failed first copy
        leaves nothing cached, so the next one is sent)."""
        with self._flight_guard:
            entry = self._flights.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._flight_guard:
                entry[1] -= 1
                if entry[1] == 0:
                    self._flights.pop(key, None)

    def _send_uncached(self, wire: ChatRequest, key: str) -> tuple[ChatResult, ChatRequest]:
        """Send ``wire`` (not in the cache) to the endpoint and cache its answer."""
        if self._breaker.tripped:
            raise self._breaker_error()
        self.stats.add(calls=1)
        try:
            with self._slots:
                completion = self._call_with_retries(wire)
        except CallFailed as err:
            self.stats.add(failures=1)
            message = self._redact(f"{err.cause}: {err}")
            log.warning("LLM call failed (%s): %s", wire.describe(), message)
            if self._breaker.record_failure(message):
                raise self._breaker_error() from None
            return ChatResult("", 0, 0, cached=False, error=message), wire
        except RequestRejectedError as err:
            self.stats.add(failures=1)
            raise RequestRejectedError(err.status, err.reason, self._redact(
                f"{err} (model {self.model!r}, call {wire.describe()}). This request cannot "
                "succeed as sent: if the prompt is too long for the model, shorten that "
                "conversation or use a model with a longer context")) from None
        self._breaker.record_success()
        prompt_tokens, completion_tokens = self._usage(wire, completion)
        if not self._endpoint_noted and self._url is not None:
            self.cache.note_endpoint(self.backend, self._url, self.model)
            self._endpoint_noted = True
        self.cache.put(
            key, wire, backend=self.backend, model=self.model, text=completion.text,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            finish_reason=completion.finish_reason,
        )
        self._spend(prompt_tokens, completion_tokens)
        return ChatResult(completion.text, prompt_tokens, completion_tokens, cached=False,
                          finish_reason=completion.finish_reason), wire

    def _usage(self, request: ChatRequest, completion: Completion) -> tuple[int, int]:
        if completion.prompt_tokens is None or completion.completion_tokens is None:
            # Some servers omit usage; estimate so cost reports stay meaningful.
            self.stats.add(usage_missing=1)
            return estimate_prompt_tokens(request.messages), estimate_text_tokens(completion.text)
        return completion.prompt_tokens, completion.completion_tokens

    def _spend(self, prompt_tokens: int, completion_tokens: int) -> None:
        dollars = self._price.cost(prompt_tokens, completion_tokens) if self._price else 0.0
        self.stats.add(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, dollars=dollars
        )

    def _call_with_retries(self, request: ChatRequest) -> Completion:
        assert self._transport is not None
        transport = self._transport
        token_estimate = estimate_prompt_tokens(request.messages) + request.max_tokens

        def before_sleep(state: RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            cause = err.cause if isinstance(err, TransientError) else "unknown"
            self.stats.add_retry(cause)
            log.info(
                "retrying LLM call (%s) after %s, attempt %d, waiting %.2fs",
                request.describe(), self._redact(str(err)), state.attempt_number,
                state.upcoming_sleep,
            )

        # A timed-out request is never sent again: the server may still be working on
        # it, and a second copy would only queue behind the first. The one copy is
        # waited for, with growing patience (see ClientConfig); other failures, where
        # the server is done with the request, are retried.
        patience = answer_patience(self.config)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=_RetryAfterOrBackoff(self.config),
            retry=retry_if_exception(
                lambda e: isinstance(e, TransientError) and e.cause != "timeout"),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._breaker.tripped:  # another call found the endpoint dead
                        raise self._breaker_error()
                    if self._rpm is not None:
                        self._rpm.acquire(1)
                    if self._tpm is not None:
                        self._tpm.acquire(token_estimate)
                    self.stats.add(attempts=1)
                    started = time.monotonic()
                    completion = transport.complete_once(self.model, request, patience)
                    self.stats.note_latency(time.monotonic() - started, self.config.timeout)
                    return completion
        except TransientError as err:
            if err.cause == "timeout":
                raise CallFailed("timeout", self._timeout_message(err, patience)) from None
            attempts = self.config.max_retries + 1
            raise CallFailed(err.cause, f"{err} (gave up after {attempts} attempts)") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _timeout_message(self, err: TransientError, patience: float) -> str:
        c = self.config
        waits = (f"timeout={c.timeout:g} s, then {c.max_timeout_retries} longer wait(s) "
                 f"(max_timeout_retries={c.max_timeout_retries}, each timeout_growth="
                 f"{c.timeout_growth:g}x the one before)" if c.max_timeout_retries else
                 f"timeout={c.timeout:g} s, max_timeout_retries=0")
        return (f"{err}: no answer within {patience:g} s ({waits}) to the one copy sent; it "
                "was not sent again, as the server may still be working on it. The server "
                f"answers more slowly than the settings allow: {timeout_advice(c)}")

    def _dry_run_answer(self, request: ChatRequest, key: str, *, judge: bool) -> ChatResult:
        remember = self.cache_mode == "readwrite"
        with self._dry_lock:
            seen = self._dry_answers.get(key) if remember else None
            if seen is None:
                prompt_tokens = estimate_prompt_tokens(request.messages)
                completion_tokens = self.config.dry_run_completion_tokens or request.max_tokens
                if judge:
                    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
                    choice = "A" if digest % 2 == 0 else "B"
                    text = json.dumps({"reasoning": DRY_RUN_TEXT, "preferred": choice})
                else:
                    text = DRY_RUN_TEXT
                answer = ChatResult(text, prompt_tokens, completion_tokens, cached=False)
                if remember:
                    self._dry_answers[key] = answer
        if seen is not None:
            self.stats.add(cache_hits=1)
            return dataclasses.replace(seen, cached=True)
        self.stats.add(calls=1)
        self._spend(answer.prompt_tokens, answer.completion_tokens)
        return dataclasses.replace(answer)

    def _replay_miss_message(self, request: ChatRequest, key: str) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in request.labels.items()) or "no labels"
        recorded = self.cache.recorded_with()
        if recorded:
            held = "; ".join(
                f"backend {b}" + (f" at {', '.join(urls)}" if urls else "")
                + f", model {m!r} ({n} answers)" for b, m, n, urls in recorded[:5])
        else:
            held = "no answers at all"
        asked = f"backend {self.backend}" + (f" at {self._url}" if self._url else
                                            " (no endpoint configured)")
        return (
            f"replay-only cache {self.cache_path} has no answer for model={self.model!r} "
            f"(backend {self.backend}), template={request.template!r}, "
            f"sample_index={request.sample_index} [{labels}] (cache key {key[:16]}...). "
            f"This run asked as {asked}; the cache holds {held}. "
            f"To make this call for real, set {TOGETHER_KEY_ENV} or {BASE_URL_ENV} and run "
            "with cache_mode='readwrite'; or check that the backend, model, prompt template "
            "version and sampling parameters match the recorded run."
        )

    # -- judging --------------------------------------------------------------------
    def judge(self, request: ChatRequest) -> Judgment:
        """A pairwise verdict; resamples unparseable answers, never raises on model text."""
        prompt_tokens = completion_tokens = 0
        last_failure = ""
        last_text = ""
        parse_failures = 0
        tries = self.config.max_parse_retries + 1
        form = "off"
        for attempt in range(tries):
            sample = request
            if attempt > 0:
                # "same_temperature" (the public code's rule) retries at the request's own
                # temperature; otherwise the client's resample temperature.
                temperature = (None if request.parse_retry == "same_temperature"
                               else self.config.resample_temperature)
                sample = request.resample(request.sample_index + attempt, temperature)
                self.stats.add(resamples=1)
            result, wire = self._send_wire(self._wire(sample, judge=True), judge=True)
            form = wire.structured
            prompt_tokens += result.prompt_tokens
            completion_tokens += result.completion_tokens
            if result.error is not None:
                self.stats.add(fallbacks=1)
                return Judgment(
                    None, "", f"call failed: {result.error}", attempt + 1,
                    prompt_tokens, completion_tokens, failure_kind="call_failed",
                    parse_failures=parse_failures, structured_output=form,
                )
            parsed = parse_judgment(result.text)
            if parsed.parsed:
                return Judgment(
                    parsed.choice, parsed.reasoning, parsed.failure, attempt + 1,
                    prompt_tokens, completion_tokens,
                    failure_kind="tie" if parsed.is_tie else None,
                    parse_failures=parse_failures, structured_output=form,
                )
            self.stats.add(unparseable=1)
            parse_failures += 1
            last_failure, last_text = parsed.failure or "unparseable", result.text
            if result.finish_reason == "length":
                last_failure += f" (the answer was cut off at max_tokens={wire.max_tokens})"
            log.info("unparseable judge answer (%s): %s", sample.describe(), last_failure)
        self.stats.add(fallbacks=1)
        return Judgment(
            None, last_text.strip(),
            f"unparseable after {tries} samples (sample_index {request.sample_index}.."
            f"{request.sample_index + tries - 1}); last: {last_failure}"
            + ("; scored as a tie" if request.parse_retry == "same_temperature" else ""),
            tries, prompt_tokens, completion_tokens, failure_kind="unparseable",
            parse_failures=parse_failures, structured_output=form,
        )

    # -- batches --------------------------------------------------------------------
    def chat_many(
        self, requests: Sequence[ChatRequest], desc: str | None = None
    ) -> list[ChatResult]:
        """Answers to ``requests`` in order, up to ``max_concurrency`` at a time."""
        return self._map(self.chat, requests, desc or "LLM calls")

    def judge_many(
        self, requests: Sequence[ChatRequest], desc: str | None = None
    ) -> list[Judgment]:
        """Verdicts for ``requests`` in order, up to ``max_concurrency`` at a time."""
        return self._map(self.judge, requests, desc or "LLM judgments")

    def _map(
        self, fn: Callable[[ChatRequest], R], requests: Sequence[ChatRequest], desc: str
    ) -> list[R]:
        # Identical requests in one batch are asked once (both would miss the cache).
        unique: dict[str, ChatRequest] = {}
        keys = []
        for request in requests:
            # The request as given identifies it within a batch; no probe needed.
            key = request_key(request, backend=self.backend, model=self.model)
            keys.append(key)
            unique.setdefault(key, request)
        if not unique:
            return []
        answers: dict[str, R] = {}
        workers = min(self.config.max_concurrency, len(unique))
        bar = tqdm(total=len(requests), desc=desc, disable=not self.config.progress, leave=False)
        weights = {key: keys.count(key) for key in unique} if len(unique) < len(keys) else None
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm")
        try:
            futures: dict[Future[R], str] = {
                pool.submit(fn, request): key for key, request in unique.items()
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        raise error
                    key = futures[future]
                    answers[key] = future.result()
                    bar.update(weights[key] if weights else 1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        if weights:
            # Duplicates share an answer object; give each position its own copy.
            return [dataclasses.replace(answers[key]) for key in keys]  # type: ignore[type-var]
        return [answers[key] for key in keys]

    # -- reporting --------------------------------------------------------------------
    def summary(self) -> str:
        """One paragraph: calls, hits, failures, fallbacks, retries, tokens, dollars."""
        s = self.stats.to_dict()
        head = "LLM run"
        if self.dry_run:
            head = "DRY RUN (no calls made; tokens and dollars estimated)"
        retries = ""
        if s["retries"]:
            causes = ", ".join(f"{c}x{n}" for c, n in sorted(s["retries_by_cause"].items()))
            retries = f", {s['retries']} retries ({causes})"
        if self._price is not None:
            cost = f"${s['dollars']:.4f} ({self._price_provenance})"
        else:
            cost = f"$0.00 (price unknown for {self.model}; add it to llm/prices.yaml)"
        where = self.endpoint.describe() if self.endpoint else "no endpoint"
        preflight = f" (+{s['preflight_calls']} preflight)" if s["preflight_calls"] else ""
        if s["slow_answers"]:
            retries += (f", {s['slow_answers']} answers slower than timeout="
                        f"{self.config.timeout:g} s (the slowest {s['slowest_answer']:.0f} s; "
                        "waited for, never sent twice)")
        return (
            f"{head} -- {self.model} via {where}: {s['calls']} calls{preflight}, "
            f"{s['cache_hits']} cache "
            f"hits, {s['failures']} failures, {s['fallbacks']} fallbacks, "
            f"{s['unparseable']} unparseable answers ({s['resamples']} resamples){retries}; "
            f"tokens {s['prompt_tokens']:,} prompt + {s['completion_tokens']:,} completion; "
            f"cost {cost}."
        )


def client_from_env(
    model: str,
    *,
    cache_path: str | Path,
    cache_mode: str = "readwrite",
    dry_run: bool = False,
    base_url: str | None = None,
    backend: str | None = None,
    keyless: bool = False,
    **config_overrides: Any,
) -> LLMClient:
    """Build the client for the endpoint the environment selects.

    ``LLM_BASE_URL`` set -> OpenAI-compatible server there (key ``LLM_API_KEY``);
    else ``TOGETHER_API_KEY`` set -> Together AI; else no endpoint, which is
    fine for ``dry_run=True`` or ``cache_mode="replay"``.  ``base_url`` overrides
    the selected backend's URL (server root, ``/v1`` optional); ``backend``
    forces ``"together"`` or ``"openai-compatible"``; ``keyless`` sends no key at
    all, whatever the environment holds (an OpenAI-compatible server only: the
    local stand-in of smoke runs).  Other keyword arguments are
    :class:`ClientConfig` fields.
    """
    known = {f.name for f in dataclasses.fields(ClientConfig)}
    unknown = sorted(set(config_overrides) - known)
    if unknown:
        raise SettingsError(
            f"unknown LLM setting(s) {', '.join(unknown)}; the settings are "
            f"{', '.join(sorted(known))}"
        )
    try:
        endpoint = resolve_endpoint(base_url=base_url, backend=backend)
    except NoEndpointError:
        if not (dry_run or cache_mode == "replay"):
            raise
        endpoint = None  # a forced backend without a URL is fine when nothing is sent
    if keyless and endpoint is not None:
        if endpoint.backend != "openai-compatible":
            raise SettingsError("keyless=True needs the openai-compatible backend")
        endpoint = dataclasses.replace(endpoint, key_env=None)
    return LLMClient(
        model,
        endpoint=endpoint,
        cache_path=cache_path,
        cache_mode=cache_mode,
        dry_run=dry_run,
        config=ClientConfig(**config_overrides),
        backend=backend,
    )


class TrackedClient:
    """A view of an :class:`LLMClient` that counts the calls made through it that failed.

    Several users can be fitted at once on one client (one cache, one concurrency
    limit); each gets its own view, so the caller can tell whose fit lost calls to
    failures (and must not be presented as a result) without asking the shared
    client.  Everything else is the underlying client's.
    """

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self.failed_calls = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _note(self, errors: Sequence[str | None]) -> None:
        failed = [e for e in errors if e is not None]
        if failed:
            with self._lock:
                self.failed_calls += len(failed)
                self.last_error = failed[-1]

    @staticmethod
    def _judgment_error(judgment: Judgment) -> str | None:
        return judgment.failure if judgment.failure_kind == "call_failed" else None

    def chat(self, request: ChatRequest) -> ChatResult:
        result = self.client.chat(request)
        self._note([result.error])
        return result

    def judge(self, request: ChatRequest) -> Judgment:
        judgment = self.client.judge(request)
        self._note([self._judgment_error(judgment)])
        return judgment

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None
                  ) -> list[ChatResult]:
        results = self.client.chat_many(requests, desc)
        self._note([r.error for r in results])
        return results

    def judge_many(self, requests: Sequence[ChatRequest], desc: str | None = None
                   ) -> list[Judgment]:
        judgments = self.client.judge_many(requests, desc)
        self._note([self._judgment_error(j) for j in judgments])
        return judgments


__all__ += ["EndpointConfigError", "EndpointUnavailableError", "NoEndpointError",
            "RequestRejectedError"]
