"""The study's one LLM client: cache, concurrency, rate limits, retries, judging, cost.

Every LLM call in the study goes through :class:`LLMClient`, built with
:func:`client_from_env`.  A call is answered, in order, from

1. the SQLite cache (:mod:`persona_judge.llm.cache`) -- a hit costs nothing;
2. in ``replay`` cache mode, nowhere: a miss raises :class:`ReplayMissError`
   naming the call;
3. in a dry run, a placeholder -- no network call; tokens and dollars are
   estimated (prompt: chars/4 + 4 per message; completion: ``max_tokens`` or
   ``dry_run_completion_tokens``), and ``judge`` returns a choice derived from
   the request hash so pipelines follow realistic paths.  Repeats within the
   run count as cache hits, as they would for real, so the call count equals a
   real run's whenever real answers parse first time and no call fails;
4. the endpoint, through the ``together`` SDK, at most ``max_concurrency``
   calls in flight and within the ``rpm``/``tpm`` limits.  An attempt that
   fails with 429, 408/409, 5xx, a timeout, a dropped connection or a malformed
   body is retried with exponential backoff (``tenacity``), honouring
   ``Retry-After``.  A call that still fails becomes a ``ChatResult`` with
   ``error`` set (or a ``Judgment`` with no choice): batches continue, and the
   run's :class:`RunStats` counts it.  A rejected key or unknown model stops
   the run with :class:`EndpointConfigError`, since no retry can fix those.

Judge answers are parsed with :func:`parse_judgment`; an unparseable answer is
resampled with ``sample_index + 1, + 2, ...`` up to ``max_parse_retries``
times, then recorded as ``choice=None`` with the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter
from tqdm.auto import tqdm

from persona_judge.errors import PersonaJudgeError
from persona_judge.llm.cache import CACHE_MODES, ResponseCache, request_key
from persona_judge.llm.endpoint import (
    BASE_URL_ENV,
    TOGETHER_KEY_ENV,
    CallFailed,
    Completion,
    Endpoint,
    EndpointConfigError,
    NoEndpointError,
    TransientError,
    Transport,
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
from persona_judge.llm.schema import ChatRequest, ChatResult, Judgment
from persona_judge.llm.stats import RunStats

__all__ = ["ClientConfig", "LLMClient", "ReplayMissError", "client_from_env"]

log = logging.getLogger("persona_judge.llm")

T = TypeVar("T")
R = TypeVar("R")

DRY_RUN_TEXT = "[dry run: no LLM call was made]"


class ReplayMissError(PersonaJudgeError, LookupError):
    """Replay-only mode met a request that the cache has never seen."""


@dataclass(frozen=True)
class ClientConfig:
    """How the client drives an endpoint.  All fields have working defaults.

    max_concurrency:   calls in flight at once (per client, across all threads)
    rpm / tpm:         client-side requests / tokens per ``rate_window`` seconds
                       (None = unlimited); tokens are estimated before the call as
                       prompt chars/4 + max_tokens
    timeout:           seconds for one HTTP attempt
    max_retries:       retries per call after the first attempt
    backoff_initial / backoff_max: exponential backoff between retries, seconds
                       (with jitter); a server's Retry-After wins when present,
                       capped at ``max_retry_after``
    max_parse_retries: resamples of an unparseable judge answer
    resample_temperature: temperature for those resamples (None = unchanged);
                       a deterministic judge at temperature 0 would likely
                       repeat the same unparseable answer
    dry_run_completion_tokens: completion length assumed by a dry run
                       (None = the request's max_tokens, an upper bound)
    progress:          tqdm progress bars for batches
    """

    max_concurrency: int = 8
    rpm: int | None = None
    tpm: int | None = None
    rate_window: float = 60.0
    timeout: float = 120.0
    max_retries: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 120.0
    max_parse_retries: int = 2
    resample_temperature: float | None = None
    dry_run_completion_tokens: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.max_retries < 0 or self.max_parse_retries < 0:
            raise ValueError("max_retries and max_parse_retries must be >= 0")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {self.timeout}")


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
            raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {cache_mode!r}")
        self.model = model
        self.config = config or ClientConfig()
        self.endpoint = endpoint
        # Without an endpoint a dry run or replay assumes the study's default backend
        # (the backend is part of the cache key).
        self.backend: str = endpoint.backend if endpoint else (backend or "together")
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
        window = self.config.rate_window
        self._rpm = SlidingWindowLimiter(self.config.rpm, window) if self.config.rpm else None
        self._tpm = SlidingWindowLimiter(self.config.tpm, window) if self.config.tpm else None
        # A dry run never writes the cache, but remembers its own pretend answers so
        # that a repeated request counts as the cache hit a real run would get.
        self._dry_answers: dict[str, ChatResult] = {}
        self._dry_lock = threading.Lock()
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

    def key_for(self, request: ChatRequest) -> str:
        """The cache key of ``request`` for this client's backend and model."""
        return request_key(request, backend=self.backend, model=self.model)

    # -- one call -----------------------------------------------------------------
    def chat(self, request: ChatRequest) -> ChatResult:
        """One free-text answer (from the cache when possible)."""
        result = self._chat(request, judge=False)
        if result.error is not None:
            self.stats.add(fallbacks=1)
        return result

    def _chat(self, request: ChatRequest, *, judge: bool) -> ChatResult:
        if self._closed:
            raise RuntimeError(f"{self!r} is closed; build a new client with client_from_env")
        key = self.key_for(request)
        hit = self.cache.get(key)
        if hit is not None:
            self.stats.add(cache_hits=1)
            return ChatResult(hit.text, hit.prompt_tokens, hit.completion_tokens, cached=True)
        if self.cache_mode == "replay":
            raise ReplayMissError(self._replay_miss_message(request, key))
        if self.dry_run:
            return self._dry_run_answer(request, key, judge=judge)
        assert self._transport is not None
        self.stats.add(calls=1)
        try:
            with self._slots:
                completion = self._call_with_retries(request)
        except CallFailed as err:
            self.stats.add(failures=1)
            message = self._redact(f"{err.cause}: {err}")
            log.warning("LLM call failed (%s): %s", request.describe(), message)
            return ChatResult("", 0, 0, cached=False, error=message)
        prompt_tokens = completion.prompt_tokens
        completion_tokens = completion.completion_tokens
        if prompt_tokens is None or completion_tokens is None:
            # Some servers omit usage; estimate so cost reports stay meaningful.
            self.stats.add(usage_missing=1)
            prompt_tokens = estimate_prompt_tokens(request.messages)
            completion_tokens = estimate_text_tokens(completion.text)
        self.cache.put(
            key, request, backend=self.backend, model=self.model, text=completion.text,
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        )
        self._spend(prompt_tokens, completion_tokens)
        return ChatResult(completion.text, prompt_tokens, completion_tokens, cached=False)

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

        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=_RetryAfterOrBackoff(self.config),
            retry=retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._rpm is not None:
                        self._rpm.acquire(1)
                    if self._tpm is not None:
                        self._tpm.acquire(token_estimate)
                    self.stats.add(attempts=1)
                    return transport.complete_once(self.model, request)
        except TransientError as err:
            attempts = self.config.max_retries + 1
            raise CallFailed(err.cause, f"{err} (gave up after {attempts} attempts)") from None
        raise AssertionError("unreachable: tenacity either returns or raises")

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
        return (
            f"replay-only cache {self.cache_path} has no answer for model={self.model!r} "
            f"(backend {self.backend}), template={request.template!r}, "
            f"sample_index={request.sample_index} [{labels}] (cache key {key[:16]}...). "
            f"To make this call for real, set {TOGETHER_KEY_ENV} or {BASE_URL_ENV} and run "
            "with cache_mode='readwrite'; or check that the model, prompt template version "
            "and sampling parameters match the recorded run."
        )

    # -- judging --------------------------------------------------------------------
    def judge(self, request: ChatRequest) -> Judgment:
        """A pairwise verdict; resamples unparseable answers, never raises on model text."""
        prompt_tokens = completion_tokens = 0
        last_failure = ""
        last_text = ""
        tries = self.config.max_parse_retries + 1
        for attempt in range(tries):
            sample = request
            if attempt > 0:
                sample = request.resample(
                    request.sample_index + attempt, self.config.resample_temperature
                )
                self.stats.add(resamples=1)
            result = self._chat(sample, judge=True)
            prompt_tokens += result.prompt_tokens
            completion_tokens += result.completion_tokens
            if result.error is not None:
                self.stats.add(fallbacks=1)
                return Judgment(
                    None, "", f"call failed: {result.error}", attempt + 1,
                    prompt_tokens, completion_tokens,
                )
            parsed = parse_judgment(result.text)
            if parsed.parsed:
                return Judgment(
                    parsed.choice, parsed.reasoning, parsed.failure, attempt + 1,
                    prompt_tokens, completion_tokens,
                )
            self.stats.add(unparseable=1)
            last_failure, last_text = parsed.failure or "unparseable", result.text
            log.info("unparseable judge answer (%s): %s", sample.describe(), last_failure)
        self.stats.add(fallbacks=1)
        return Judgment(
            None, last_text.strip(),
            f"unparseable after {tries} samples (sample_index {request.sample_index}.."
            f"{request.sample_index + tries - 1}); last: {last_failure}",
            tries, prompt_tokens, completion_tokens,
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
            key = self.key_for(request)
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
        return (
            f"{head} -- {self.model} via {where}: {s['calls']} calls, {s['cache_hits']} cache "
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
    **config_overrides: Any,
) -> LLMClient:
    """Build the client for the endpoint the environment selects.

    ``LLM_BASE_URL`` set -> OpenAI-compatible server there (key ``LLM_API_KEY``);
    else ``TOGETHER_API_KEY`` set -> Together AI; else no endpoint, which is
    fine for ``dry_run=True`` or ``cache_mode="replay"``.  ``base_url`` overrides
    the selected backend's URL (server root, ``/v1`` optional); ``backend``
    forces ``"together"`` or ``"openai-compatible"``.  Other keyword arguments
    are :class:`ClientConfig` fields.
    """
    known = {f.name for f in dataclasses.fields(ClientConfig)}
    unknown = sorted(set(config_overrides) - known)
    if unknown:
        raise TypeError(
            f"client_from_env got unknown option(s) {unknown}; ClientConfig fields are "
            f"{sorted(known)}"
        )
    try:
        endpoint = resolve_endpoint(base_url=base_url, backend=backend)
    except NoEndpointError:
        if not (dry_run or cache_mode == "replay"):
            raise
        endpoint = None  # a forced backend without a URL is fine when nothing is sent
    return LLMClient(
        model,
        endpoint=endpoint,
        cache_path=cache_path,
        cache_mode=cache_mode,
        dry_run=dry_run,
        config=ClientConfig(**config_overrides),
        backend=backend,
    )


__all__ += ["EndpointConfigError", "NoEndpointError"]
