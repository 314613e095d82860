"""Where the LLM lives, and one HTTP attempt against it through the ``together`` SDK.

Both backends are driven by the ``together`` SDK (together==3.1.1):

* ``together`` -- Together AI.  Key from ``TOGETHER_API_KEY``.  Base URL
  ``https://api.together.ai`` unless ``TOGETHER_BASE_URL`` or an explicit
  ``base_url`` says otherwise.
* ``openai-compatible`` -- any server speaking the OpenAI chat API (vLLM,
  SGLang, Ollama, llama.cpp server), chosen by setting ``LLM_BASE_URL``.  Key
  from ``LLM_API_KEY`` if set, else a placeholder (most local servers ignore it).

Base-URL form.  In together 3.1.1 the client's default ``base_url`` is
``https://api.together.ai`` (no ``/v1``) and every resource path carries the
version itself (``/v1/chat/completions``, see
``together/resources/chat/completions.py``); the SDK joins the two by plain
concatenation (``SyncAPIClient._prepare_url``).  So a custom base URL must be
the server root *without* ``/v1``: ``http://localhost:8000`` for vLLM,
``http://localhost:11434`` for Ollama.  The OpenAI-client habit of writing
``http://localhost:8000/v1`` would produce ``/v1/v1/chat/completions``; this
module therefore strips one trailing ``/v1`` (so both spellings work) and
:func:`normalise_base_url` documents it.

Selection from the environment (first match wins): ``LLM_BASE_URL`` set ->
openai-compatible at that URL; else ``TOGETHER_API_KEY`` set -> Together; else
no endpoint (dry runs and cache replays still work).

Secrets: the key is read from the environment when the SDK client is built
and handed straight to it; no object of ours stores it, and every error text
that leaves this module passes through :meth:`Transport.redact`.  An
OpenAI-compatible server without ``LLM_API_KEY`` gets no ``Authorization``
header at all (smoke runs against the local stand-in send no key).

How one attempt can fail (:meth:`Transport.complete_once`):

* :class:`TransientError` -- worth retrying: HTTP 408, 409, 429 and 5xx, a
  timeout, a refused or dropped connection, a body that is not a completion.
  Its ``cause`` is ``"timeout"`` only when the request was sent and no answer
  came (the client never sends such a request again; see ``llm.client``); a
  connection that could not be opened in time is ``"connection"``.
  ``retry_after`` carries the server's ``retry-after-ms`` (milliseconds) or
  ``Retry-After`` (seconds, or an HTTP date) when it sent one.
* :class:`EndpointConfigError` -- 401/403 (the key) and 404 (model or URL): no
  retry can fix these, the run stops.
* :class:`RequestRejectedError` -- any other 4xx (400 context length exceeded,
  413, 422 ...): this request can never succeed as it is; the run stops with the
  server's reason.

Timeouts: ``connect_timeout`` bounds opening a connection (a dead host fails
fast); ``timeout`` bounds waiting for the answer (generation can be slow).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
import together

from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.llm.schema import ChatRequest

__all__ = [
    "BACKENDS",
    "CallFailed",
    "Completion",
    "Endpoint",
    "EndpointConfigError",
    "EndpointUnavailableError",
    "NoEndpointError",
    "RequestRejectedError",
    "TransientError",
    "Transport",
    "describe_endpoint",
    "endpoint_configured",
    "normalise_base_url",
    "public_url",
    "resolve_endpoint",
]

Backend = Literal["together", "openai-compatible"]
BACKENDS: tuple[str, ...] = ("together", "openai-compatible")

TOGETHER_KEY_ENV = "TOGETHER_API_KEY"
TOGETHER_URL_ENV = "TOGETHER_BASE_URL"  # also honoured by the SDK itself
TOGETHER_DEFAULT_URL = "https://api.together.ai"
BASE_URL_ENV = "LLM_BASE_URL"
COMPAT_KEY_ENV = "LLM_API_KEY"
PLACEHOLDER_KEY = "no-key-set"

_HOW_TO_CONFIGURE = (
    f"set {TOGETHER_KEY_ENV} to use Together AI, or {BASE_URL_ENV} (e.g. "
    "http://localhost:8000) to use an OpenAI-compatible server such as vLLM"
)


class NoEndpointError(PersonaJudgeError, RuntimeError):
    """A real call was needed but no endpoint is configured."""


class EndpointConfigError(PersonaJudgeError, RuntimeError):
    """The endpoint refused us for a reason no retry can fix (bad key, unknown model)."""


class EndpointUnavailableError(PersonaJudgeError, RuntimeError):
    """The endpoint cannot be used right now: the preflight failed, or the circuit
    breaker stopped the run after repeated failures. The message names the
    endpoint, the model, the last error and what to check."""


class RequestRejectedError(PersonaJudgeError, RuntimeError):
    """The server refused a request with a 4xx that no retry can fix (e.g. 400 context
    length exceeded); ``status`` and ``reason`` are the server's."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class TransientError(Exception):
    """One attempt failed in a way worth retrying (429, 5xx, timeout, dropped connection)."""

    def __init__(self, cause: str, message: str, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.retry_after = retry_after
        self.status = status


class CallFailed(Exception):
    """The call failed for good (retries exhausted, or a non-retryable 4xx)."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def normalise_base_url(url: str) -> str:
    """``scheme://host[:port][/prefix]`` without a trailing ``/`` or ``/v1``.

    The together SDK appends ``/v1/chat/completions`` itself, so
    ``http://localhost:8000/v1`` and ``http://localhost:8000`` both become
    ``http://localhost:8000``.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(
            f"base URL ({BASE_URL_ENV} or base_url) must look like http://host:port (no /v1 "
            f"needed), got {public_url(text) if parts.netloc else text!r}"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def public_url(url: str) -> str:
    """The URL without userinfo or query string, safe to print and to store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Endpoint:
    """A backend and its base URL.  Holds the *name* of the key variable, never the key."""

    backend: Backend
    base_url: str
    key_env: str | None

    def describe(self) -> str:
        url = public_url(self.base_url)
        if self.backend == "together":
            return f"Together ({url}, key from {TOGETHER_KEY_ENV})"
        if self.key_env is None:
            return f"OpenAI-compatible server at {url} (no key sent)"
        if os.environ.get(self.key_env):
            return f"OpenAI-compatible server at {url} (key from {self.key_env})"
        return f"OpenAI-compatible server at {url} (no key: {self.key_env} unset)"

    def api_key(self) -> str:
        """The key to send (read now from ``key_env``); the placeholder means: send none."""
        if self.backend == "together":
            key = os.environ.get(TOGETHER_KEY_ENV)
            if not key:
                raise NoEndpointError(f"{TOGETHER_KEY_ENV} is not set; {_HOW_TO_CONFIGURE}")
            return key
        if self.key_env is None:
            return PLACEHOLDER_KEY
        return os.environ.get(self.key_env) or PLACEHOLDER_KEY


def resolve_endpoint(
    base_url: str | None = None,
    backend: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint | None:
    """The endpoint the environment (and explicit overrides) select, or None.

    ``backend`` forces a backend; ``base_url`` overrides the selected backend's
    URL (and, with nothing else configured, means an OpenAI-compatible server).
    """
    env = os.environ if env is None else env
    if backend is not None and backend not in BACKENDS:
        raise SettingsError(f"backend must be one of {BACKENDS}, got {backend!r}")
    compat_url = env.get(BASE_URL_ENV, "").strip()
    has_together_key = bool(env.get(TOGETHER_KEY_ENV))
    if backend is None:
        if compat_url:
            backend = "openai-compatible"
        elif has_together_key:
            backend = "together"
        elif base_url:
            backend = "openai-compatible"
        else:
            return None
    if backend == "together":
        url = base_url or env.get(TOGETHER_URL_ENV) or TOGETHER_DEFAULT_URL
        return Endpoint("together", normalise_base_url(url), TOGETHER_KEY_ENV)
    url = base_url or compat_url
    if not url:
        raise NoEndpointError(
            f"the openai-compatible backend needs a base URL: set {BASE_URL_ENV} "
            "or pass base_url= (e.g. http://localhost:8000)"
        )
    return Endpoint("openai-compatible", normalise_base_url(url), COMPAT_KEY_ENV)


def endpoint_configured() -> bool:
    """True when the environment selects an endpoint (LLM_BASE_URL or TOGETHER_API_KEY)."""
    return resolve_endpoint() is not None


def describe_endpoint() -> str:
    """Human-readable endpoint choice, e.g. ``Together (https://api.together.ai, key
    from TOGETHER_API_KEY)``.  Never includes a key."""
    endpoint = resolve_endpoint()
    if endpoint is None:
        return f"no LLM endpoint configured ({_HOW_TO_CONFIGURE})"
    return endpoint.describe()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None = None


#: HTTP statuses worth retrying: timeouts, conflicts, rate limits, server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """True for 408, 409, 429 and every 5xx; False for every other status."""
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def retry_after_seconds(headers: Mapping[str, str], now: dt.datetime | None = None
                        ) -> float | None:
    """The wait a server asked for, in seconds, or None.

    ``retry-after-ms`` (milliseconds, sent by OpenAI-style servers) wins over
    ``Retry-After``, which is seconds or an HTTP date (RFC 9110); a date in the
    past means 0, an unreadable value is ignored (the client backs off instead).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _server_message(err: together.APIStatusError) -> str:
    body = err.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and "message" in inner:
            return str(inner["message"])
        return json.dumps(body)[:300]
    return str(body)[:300] if body else ""


class Transport:
    """One ``together.Together`` SDK client; :meth:`complete_once` is a single attempt.

    The SDK's own retries are switched off (``max_retries=0``) so the client can
    count every attempt by cause and honour ``Retry-After`` with configurable
    backoff (see :mod:`persona_judge.llm.client`).
    """

    def __init__(self, endpoint: Endpoint, *, timeout: float, max_connections: int,
                 connect_timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        key = endpoint.api_key()
        self._secret = key
        self.connect_timeout = min(connect_timeout, timeout)
        limits = httpx.Timeout(timeout, connect=self.connect_timeout)
        # A keyless server gets no Authorization header at all (the SDK insists on
        # a key string, so the placeholder is set and its header removed).
        headers = {"Authorization": together.Omit()} if key == PLACEHOLDER_KEY else None
        self._sdk = together.Together(
            api_key=key,
            base_url=endpoint.base_url,
            max_retries=0,
            timeout=limits,
            default_headers=headers,
            http_client=together.DefaultHttpxClient(
                limits=httpx.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                ),
                timeout=limits,
            ),
        )

    def __repr__(self) -> str:
        return f"Transport({self.endpoint.describe()})"

    def redact(self, text: str) -> str:
        """Remove the API key from any text that might leave the client."""
        if self._secret and self._secret != PLACEHOLDER_KEY:
            text = text.replace(self._secret, "[redacted]")
        return text

    def complete_once(self, model: str, request: ChatRequest,
                      read_timeout: float | None = None) -> Completion:
        """One HTTP attempt.  Raises TransientError, EndpointConfigError or
        RequestRejectedError.  ``read_timeout`` overrides the answer timeout (the
        preflight uses a short one)."""
        where = public_url(self.endpoint.base_url)
        options = {}
        if read_timeout is not None:
            options["timeout"] = httpx.Timeout(read_timeout, connect=self.connect_timeout)
        try:
            response = self._sdk.chat.completions.create(
                model=model,
                messages=[dict(m) for m in request.messages],  # type: ignore[misc]
                **request.sampling_params(),
                **options,
            )
        except together.APITimeoutError as err:
            if isinstance(err.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
                # never sent: safe to send again, like a refused connection
                raise TransientError(
                    "connection", f"connecting to {where} timed out") from err
            raise TransientError("timeout", f"request to {where} timed out") from err
        except together.APIConnectionError as err:
            detail = f" ({type(err.__cause__).__name__})" if err.__cause__ else ""
            raise TransientError(
                "connection", f"connection to {where} failed or was dropped{detail}"
            ) from err
        except together.APIStatusError as err:
            self._raise_for_status(err, model, where)
        except (ValueError, TypeError) as err:  # body was not JSON / not a completion
            raise TransientError(
                "malformed", f"{where} sent a malformed response ({type(err).__name__}: {err})"
            ) from err
        try:
            choice = response.choices[0]
            text = choice.message.content if choice.message is not None else choice.text
        except (AttributeError, IndexError, TypeError) as err:
            raise TransientError(
                "malformed", f"{where} sent a completion without choices[0].message.content"
            ) from err
        if not isinstance(text, str):
            raise TransientError("malformed", f"{where} sent a completion with no text")
        usage = getattr(response, "usage", None)
        prompt_tokens = getattr(usage, "prompt_tokens", None)
        completion_tokens = getattr(usage, "completion_tokens", None)
        finish = getattr(choice, "finish_reason", None)
        return Completion(
            text,
            int(prompt_tokens) if isinstance(prompt_tokens, int) else None,
            int(completion_tokens) if isinstance(completion_tokens, int) else None,
            str(finish) if finish is not None else None,
        )

    def _raise_for_status(self, err: together.APIStatusError, model: str, where: str) -> None:
        status = err.status_code
        message = self.redact(_server_message(err))
        if status in (401, 403):
            raise EndpointConfigError(
                f"{where} rejected the API key from {self.endpoint.key_env} (HTTP {status}: "
                f"{message}); check that variable"
            ) from None
        if status == 404:
            raise EndpointConfigError(
                f"{where} answered 404 for model {model!r} ({message}); check the model name, "
                "and that the base URL is the server root without /v1"
            ) from None
        if is_retryable_status(status):
            raise TransientError(
                str(status),
                f"HTTP {status} from {where}: {message}",
                retry_after_seconds(err.response.headers),
                status,
            ) from None
        raise RequestRejectedError(
            status, message, f"{where} refused the request with HTTP {status}: {message}"
        ) from None

    def close(self) -> None:
        self._sdk.close()
