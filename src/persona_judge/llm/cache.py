"""The persistent answer cache: one SQLite file, one row per finished call.

Nothing is paid for twice: every answer is stored under a sha256 of everything
that determines it (see :func:`request_key`), and a hit makes no network call.
The key covers the backend kind and model, the messages, the sampling
parameters, the prompt-template version and the sample index.  It deliberately
leaves out the base URL (a local server that restarts on another port, or moves
to another machine, serves the same model) and never includes the API key,
headers or labels.

Concurrency: the file is in WAL mode with a busy timeout, so many threads and
processes can read and write at once; each finished call is committed on its
own (autocommit), so killing a run (even with SIGKILL) loses only the calls
that were still in flight.  The first answer stored under a key wins.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from persona_judge.llm.schema import ChatRequest

__all__ = ["CACHE_MODES", "CacheMode", "CachedAnswer", "ResponseCache", "request_key"]

CacheMode = Literal["readwrite", "replay", "off"]
CACHE_MODES: tuple[str, ...] = ("readwrite", "replay", "off")

# Bump when the key's composition changes, so old rows are never misread.
KEY_SCHEMA = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key               TEXT PRIMARY KEY,
    backend           TEXT NOT NULL,
    model             TEXT NOT NULL,
    template          TEXT NOT NULL,
    sample_index      INTEGER NOT NULL,
    request_json      TEXT NOT NULL,
    labels_json       TEXT NOT NULL,
    text              TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created_at        REAL NOT NULL
)
"""


def _key_payload(request: ChatRequest, *, backend: str, model: str) -> dict[str, object]:
    return {
        "key_schema": KEY_SCHEMA,
        "backend": backend,
        "model": model,
        "template": request.template,
        "messages": [dict(m) for m in request.messages],
        "params": request.sampling_params(),
        "sample_index": request.sample_index,
    }


def request_key(request: ChatRequest, *, backend: str, model: str) -> str:
    """sha256 (hex) of everything that determines the answer to ``request``."""
    payload = _key_payload(request, backend=backend, model=model)
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    """SQLite-backed answer store shared by threads (one locked connection) and processes."""

    def __init__(self, path: str | Path, mode: str = "readwrite", busy_timeout: float = 60.0):
        if mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        if mode == "off":
            return
        if mode == "replay" and not self.path.exists():
            raise FileNotFoundError(
                f"replay mode needs an existing cache, but {self.path} does not exist; "
                "record one first with cache_mode='readwrite' against a real endpoint"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL survives any process crash; only an OS crash or
        # power loss could drop the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(_SCHEMA)
        self._conn = conn

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def get(self, key: str) -> CachedAnswer | None:
        if self._conn is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?",
                (key,),
            ).fetchone()
        return CachedAnswer(*row) if row else None

    def put(
        self,
        key: str,
        request: ChatRequest,
        *,
        backend: str,
        model: str,
        text: str,
        prompt_tokens: int,
        completion_tokens: int,
    ) -> None:
        """Store one finished call, committed immediately.  No-op unless readwrite."""
        if self._conn is None or self.mode != "readwrite":
            return
        request_json = json.dumps(
            _key_payload(request, backend=backend, model=model), ensure_ascii=False
        )
        labels_json = json.dumps(dict(request.labels), ensure_ascii=False)
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO completions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key, backend, model, request.template, request.sample_index, request_json,
                    labels_json, text, prompt_tokens, completion_tokens, time.time(),
                ),
            )

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
