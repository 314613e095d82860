"""A local OpenAI-compatible chat server that stands in for a real LLM endpoint.

The development and CI machines have no LLM endpoint, so every code path of the
study's client is exercised against this server instead: the real ``together``
SDK speaks HTTP to it exactly as it would to Together or vLLM.  It listens on
127.0.0.1 on a random port, runs in a background thread, and is a context
manager::

    with StandInServer(responder=my_scripted_judge, latency=0.05) as server:
        client = client_from_env(model, cache_path=..., base_url=server.url)

It implements ``POST /v1/chat/completions`` and ``GET /v1/models`` with the
JSON shapes of the OpenAI API (including ``usage``).  Answers come from a
pluggable ``responder(request_json) -> str``; the default one is a scripted
stand-in, *not a model*: anything computed from it is a smoke-run artefact.

Faults can be queued (:meth:`StandInServer.inject`) to exercise the client's
retry and fallback paths: HTTP 429 with ``Retry-After``, HTTP 500, a delay
longer than the client's timeout, a malformed body, a dropped connection, or an
unparseable judge answer; ``always=`` applies one fault to every request (a
server that answers 400 or 500 to everything); ``latency`` may be a function of
the request body (a server slow on long prompts only).  Counters record the
requests seen, the most requests in flight at once, the most copies of one
request (identical bodies) being worked on at once, every request body, and
(separately) the ``Authorization`` header each request carried (None when the
client sent none).

Like a real server it honours the request body:

* ``max_tokens``: an answer longer than that (tokens estimated as chars / 4) is
  cut there and reported with ``finish_reason: "length"``;
* ``response_format``: a form listed in ``accept_formats`` (default both
  ``json_schema`` and ``json_object``) is *enforced* as constrained decoding
  would: an answer that is not a JSON object satisfying the schema's required
  properties and enums is rewritten into one (the verdict the free text states,
  else a choice from a hash; the text as ``reasoning``).  Any other form is
  refused with ``refuse_status`` (400, or 500 as llama.cpp answers an unsupported
  ``json_schema``), so the client's capability probe can be tested.

:class:`SilentServer` accepts connections and never answers (a hung server).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from persona_judge.reference.smoke import dspy_format_answer

__all__ = ["Fault", "RecordedRequest", "SilentServer", "StandInServer", "scripted_responder"]

FaultKind = Literal["429", "500", "status", "timeout", "malformed", "drop", "unparseable"]
_FAULT_KINDS = ("429", "500", "status", "timeout", "malformed", "drop", "unparseable")

Responder = Callable[[dict[str, Any]], str]

UNPARSEABLE_ANSWER = "I find both responses have merits and cannot say more."


@dataclass(frozen=True)
class Fault:
    """One injected fault, consumed by the first matching chat request.

    kind:
        ``"429"`` rate limited (with ``Retry-After: retry_after`` seconds),
        ``"500"`` internal error, ``"status"`` an error with HTTP ``status``
        (e.g. 400, 503), ``"timeout"`` sleep ``seconds`` before
        answering (set it above the client's timeout), ``"malformed"`` a 200
        response whose body is not valid JSON, ``"drop"`` close the connection
        without any response, ``"unparseable"`` a well-formed completion whose
        text is not a judge answer.
    match:
        if set, the fault only applies to a request whose message contents
        contain this substring (lets a test fail one specific call in a batch).
    headers:
        extra response headers, e.g. ``(("retry-after-ms", "250"),)``.
    """

    kind: FaultKind
    retry_after: float | None = None
    seconds: float = 1.0
    match: str | None = None
    status: int = 500
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {_FAULT_KINDS}")


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the server saw it (the body; headers other than auth are not kept)."""

    path: str
    body: dict[str, Any]
    received_at: float


def scripted_responder(request: dict[str, Any]) -> str:
    """Default stand-in answer: a judge verdict derived from a hash of the messages.

    Deterministic, so reruns agree; roughly half "A" and half "B".  Requests
    that do not look like a pairwise judgment get a short canned reply.
    """
    official = dspy_format_answer(request)  # DSPy's chat format (the reference arm)
    if official is not None:
        return official
    messages = request.get("messages", [])
    text = "\n".join(str(m.get("content", "")) for m in messages)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    if "Response B" in text or "preferred" in text.lower():
        choice = "A" if digest[0] % 2 == 0 else "B"
        return json.dumps(
            {"reasoning": "Scripted stand-in verdict (not a model).", "preferred": choice}
        )
    return f"Scripted stand-in reply #{digest.hex()[:8]} (not a model)."


def _copy_key(body: dict[str, Any]) -> str:
    """Identical request bodies are copies of one request (a resend after a timeout)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _schema_of(response_format: dict[str, Any]) -> dict[str, Any] | None:
    if response_format.get("type") == "json_schema":
        inner = response_format.get("json_schema") or {}
        return inner.get("schema") if isinstance(inner, dict) else None
    schema = response_format.get("schema")
    return schema if isinstance(schema, dict) else None


def _satisfies(obj: Any, schema: dict[str, Any] | None) -> bool:
    """The subset of JSON Schema a judge schema uses: object, required, string, enum."""
    if not isinstance(obj, dict):
        return False
    if schema is None:
        return True
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in obj:
            return False
    for name, spec in properties.items():
        if name not in obj:
            continue
        if spec.get("type") == "string" and not isinstance(obj[name], str):
            return False
        if "enum" in spec and obj[name] not in spec["enum"]:
            return False
    return True


def conform_to_schema(text: str, schema: dict[str, Any] | None) -> str:
    """``text`` if it is a JSON object satisfying ``schema``, else a JSON object that does.

    Emulates constrained decoding: a property with an ``enum`` gets the verdict the
    free text states when it is allowed, else a value chosen by a hash of the text;
    a string property gets the text itself (for a judge: the reasoning).
    """
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if _satisfies(obj, schema):
        return text
    from persona_judge.llm.parsing import parse_judgment

    parsed = parse_judgment(text)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    if schema is None:
        return json.dumps({"answer": text})
    out: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for name in schema.get("required") or list(properties):
        spec = properties.get(name) or {}
        if "enum" in spec:
            allowed = list(spec["enum"])
            out[name] = parsed.choice if parsed.choice in allowed else \
                allowed[digest[0] % len(allowed)]
        else:
            out[name] = parsed.reasoning or text
    return json.dumps(out)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus delayed
    # ACKs add ~40 ms to every keep-alive response on localhost.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep test and notebook output clean

    # -- helpers -----------------------------------------------------------
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(payload).encode("utf-8"), headers)

    def _send_bytes(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, kind: str, headers: dict[str, str] | None = None):
        self._send_json(
            status, {"error": {"message": message, "type": kind, "code": status}}, headers
        )

    # -- routes ------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        files = self.server.owner.files
        if self.path in files:
            self._send_bytes(200, files[self.path])
        elif self.path.rstrip("/") == "/v1/models":
            models = self.server.owner.model_ids or ("stand-in",)
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "stand-in"}
                        for m in models
                    ],
                },
            )
        else:
            self._error(404, f"no route GET {self.path}", "not_found")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route POST {self.path}", "not_found")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._error(400, "request body is not JSON", "invalid_request_error")
            return
        owner = self.server.owner
        authorization = self.headers.get("Authorization")
        fault = owner._record(self.path, body, authorization, raw)
        if fault is None and owner.always is not None:
            fault = owner.always
        copy = _copy_key(body)
        try:
            if owner.require_key is not None and authorization != f"Bearer {owner.require_key}":
                self._error(401, "invalid API key", "authentication_error")
                return
            self._answer(body, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout) before we answered
        finally:
            owner._leave(copy)

    def _answer(self, body: dict[str, Any], fault: Fault | None) -> None:
        owner = self.server.owner
        latency = owner.latency(body) if callable(owner.latency) else owner.latency
        if latency > 0:
            time.sleep(latency)
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "429":
            headers = dict(fault.headers)
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            self._error(429, "rate limit exceeded (injected)", "rate_limit_exceeded", headers)
            return
        if fault is not None and fault.kind in ("500", "status"):
            status = 500 if fault.kind == "500" else fault.status
            self._error(status, f"HTTP {status} (injected)", "server_error", dict(fault.headers))
            return
        if fault is not None and fault.kind == "malformed":
            self._send_bytes(200, b'{"id": "chatcmpl-broken", "choices": [')
            owner._complete()
            return
        messages = body.get("messages")
        model = body.get("model")
        if not isinstance(messages, list) or not model:
            self._error(400, "'model' and 'messages' are required", "invalid_request_error")
            return
        if owner.model_ids is not None and model not in owner.model_ids:
            self._error(404, f"model {model!r} is not served here", "model_not_found")
            return
        response_format = body.get("response_format")
        schema = None
        if isinstance(response_format, dict) and response_format.get("type") != "text":
            kind = response_format.get("type")
            if kind not in owner.accept_formats:
                self._error(owner.refuse_status,
                            f"response_format type {kind!r} is not supported by this server",
                            "invalid_request_error")
                return
            schema = _schema_of(response_format)
        if fault is not None and fault.kind == "unparseable":
            text = UNPARSEABLE_ANSWER
        else:
            text = owner.responder(body)
        if isinstance(response_format, dict) and response_format.get("type") != "text":
            text = conform_to_schema(text, schema)
        finish_reason = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and _estimate_tokens(text) > max_tokens:
            text, finish_reason = text[: max_tokens * 4], "length"
        prompt_tokens = sum(_estimate_tokens(str(m.get("content", ""))) for m in messages)
        completion_tokens = _estimate_tokens(text)
        with owner._lock:
            owner._next_id += 1
            completion_id = f"chatcmpl-standin-{owner._next_id}"
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )
        owner._complete()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog of 5 drops SYNs when dozens of clients connect
    # at once, adding a 1 s TCP retransmit to some calls.
    request_queue_size = 256
    owner: StandInServer


class StandInServer:
    """OpenAI-compatible chat server on 127.0.0.1 for tests, benchmarks and smoke runs.

    responder:   ``request_json -> answer text`` (default :func:`scripted_responder`)
    latency:     seconds added to every chat request (simulates generation time), or a
                 function of the request body giving them
    model_ids:   if given, other models get 404 like a real server
    require_key: if given, requests without ``Authorization: Bearer <key>`` get 401
    accept_formats: ``response_format`` types honoured; others get ``refuse_status``
    always:      a fault applied to every request that no queued fault matched

    ``url`` is the form the ``together`` SDK (and so :func:`client_from_env`)
    wants: scheme, host and port, *without* ``/v1``.  ``openai_base_url`` adds
    ``/v1`` for OpenAI-style clients.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float | Callable[[dict[str, Any]], float] = 0.0,
        model_ids: Iterable[str] | None = None,
        require_key: str | None = None,
        accept_formats: Iterable[str] = ("json_schema", "json_object"),
        refuse_status: int = 400,
        always: Fault | str | None = None,
        files: Mapping[str, bytes] | None = None,
    ) -> None:
        self.responder: Responder = responder or scripted_responder
        self.files: dict[str, bytes] = dict(files or {})  # extra GET routes: path -> body
        self.require_key = require_key
        self.accept_formats = tuple(accept_formats)
        self.refuse_status = refuse_status
        self.always: Fault | None = Fault(always) if isinstance(always, str) else always  # type: ignore[arg-type]
        self.latency = latency
        self.model_ids: tuple[str, ...] | None = tuple(model_ids) if model_ids else None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 0
        self._in_flight = 0
        self.max_in_flight = 0
        self._copies: dict[str, int] = {}
        self.max_copies_in_flight = 0
        self.requests: list[RecordedRequest] = []
        self.authorizations: list[str | None] = []
        self.completed = 0
        self.received_bytes: list[bytes] = []
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> StandInServer:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
            name="standin-llm-server",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> StandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("StandInServer is not running; use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for the together SDK: ``http://127.0.0.1:<port>`` (no ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL in the OpenAI-client convention: ``http://127.0.0.1:<port>/v1``."""
        return self.url + "/v1"

    # -- faults and counters ---------------------------------------------------
    def inject(self, *faults: Fault | str) -> None:
        """Queue faults; each is used once, by the next request it matches."""
        with self._lock:
            for f in faults:
                self._faults.append(Fault(f) if isinstance(f, str) else f)  # type: ignore[arg-type]

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    @property
    def requests_seen(self) -> int:
        with self._lock:
            return len(self.requests)

    def summary(self) -> dict[str, int]:
        """Counters as a plain dict (handy in a smoke run's banner)."""
        with self._lock:
            return {
                "requests_seen": len(self.requests),
                "completed": self.completed,
                "max_in_flight": self.max_in_flight,
                "max_copies_in_flight": self.max_copies_in_flight,
            }

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.authorizations.clear()
            self.received_bytes.clear()
            self.max_in_flight = self._in_flight
            self.max_copies_in_flight = max(self._copies.values(), default=0)
            self.completed = 0

    def _record(
        self, path: str, body: dict[str, Any], authorization: str | None, raw: bytes
    ) -> Fault | None:
        with self._lock:
            self.requests.append(RecordedRequest(path, body, time.monotonic()))
            self.authorizations.append(authorization)
            self.received_bytes.append(raw)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            copy = _copy_key(body)
            self._copies[copy] = self._copies.get(copy, 0) + 1
            self.max_copies_in_flight = max(self.max_copies_in_flight, self._copies[copy])
            messages = body.get("messages")
            text = "\n".join(
                str(m.get("content", "")) for m in messages if isinstance(m, dict)
            ) if isinstance(messages, list) else ""
            for i, fault in enumerate(self._faults):
                if fault.match is None or fault.match in text:
                    return self._faults.pop(i)
            return None

    def _leave(self, copy: str) -> None:
        with self._lock:
            self._in_flight -= 1
            self._copies[copy] -= 1
            if not self._copies[copy]:
                del self._copies[copy]

    def _complete(self) -> None:
        with self._lock:
            self.completed += 1


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers.

    Stands in for a hung endpoint (a wedged inference server, a proxy whose
    backend is gone): connecting succeeds at once, the answer never comes.  A
    context manager; ``url`` is the base URL to give the client.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.connections = 0

    def __enter__(self) -> SilentServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.settimeout(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent-server")
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            self._held.append(conn)  # read nothing, answer nothing

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in self._held:
            conn.close()
        if self._sock is not None:
            self._sock.close()

    @property
    def url(self) -> str:
        assert self._sock is not None, "use SilentServer as a context manager"
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"
