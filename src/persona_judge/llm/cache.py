"""The persistent answer cache: one SQLite file, one row per finished call.

Nothing is paid for twice: every answer is stored under a sha256 of everything
that determines it (see :func:`request_key`), and a hit makes no network call.
The key covers the backend kind and model, the messages, the prompt-template
version, the sample index and every body field that is sent (temperature,
max_tokens, top_p, seed, repetition_penalty, the structured-output
``response_format`` with its schema). It deliberately leaves out the base URL (a
local server that restarts on another port, or moves to another machine, serves
the same model) and never includes the API key, headers or labels.

Two small side tables make the file self-describing:

* ``endpoints``: which backend, public base URL and model answers were recorded
  with, so a replay miss can say what the cache holds;
* ``capabilities``: the structured-output form each backend + public base URL +
  model accepted when the client probed it, so the probe runs once per endpoint
  and a warm rerun computes the same keys without touching the network.

Concurrency: the file is in WAL mode with a busy timeout, so many threads and
processes can read and write at once; each finished call is committed on its
own (autocommit), so killing a run (even with SIGKILL) loses only the calls
that were still in flight.  The first answer stored under a key wins.

Problems with the file itself (a folder in its place, not an SQLite file, a
damaged file, a full disk, a lock held too long) raise :class:`CacheError`, one
line naming the file and what to do, never an ``sqlite3`` traceback.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from persona_judge.errors import PersonaJudgeError
from persona_judge.llm.schema import ChatRequest

__all__ = [
    "CACHE_MODES",
    "CacheError",
    "CacheMode",
    "CachedAnswer",
    "ResponseCache",
    "check_cache_file",
    "request_key",
]

CacheMode = Literal["readwrite", "replay", "off"]
CACHE_MODES: tuple[str, ...] = ("readwrite", "replay", "off")

# Bump when the key's composition changes, so old rows are never misread.
# 2: seed, repetition_penalty and response_format joined the sent parameters.
KEY_SCHEMA = 2

_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = (
    """
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
        created_at        REAL NOT NULL,
        finish_reason     TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS endpoints (
        backend    TEXT NOT NULL,
        base_url   TEXT NOT NULL,
        model      TEXT NOT NULL,
        first_used REAL NOT NULL,
        last_used  REAL NOT NULL,
        PRIMARY KEY (backend, base_url, model)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS capabilities (
        backend           TEXT NOT NULL,
        base_url          TEXT NOT NULL,
        model             TEXT NOT NULL,
        structured_output TEXT NOT NULL,
        detail            TEXT NOT NULL,
        probed_at         REAL NOT NULL,
        PRIMARY KEY (backend, base_url, model)
    )
    """,
)

T = TypeVar("T")


class CacheError(PersonaJudgeError, OSError):
    """The LLM cache file cannot be used; the message names it and says what to do."""


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


def check_cache_file(path: str | Path) -> Path:
    """Cheap checks before any work: ``path`` can be (or already is) an SQLite cache.

    Raises :class:`CacheError` when the path is a folder, its parent is a file, or
    an existing non-empty file is not an SQLite database.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise CacheError(f"the LLM cache path {path} is a folder; give a file path such as "
                         f"{path / 'llm-cache.sqlite'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CacheError(f"the LLM cache {path} cannot be created: {parent} is a "
                                 "file, not a folder; choose another cache path")
            break
    if path.is_file() and path.stat().st_size > 0:
        try:
            with path.open("rb") as handle:
                head = handle.read(len(_SQLITE_MAGIC))
        except OSError as err:
            raise CacheError(f"cannot read the LLM cache {path}: {err.strerror}") from err
        if head != _SQLITE_MAGIC:
            raise CacheError(_not_a_cache(path, "the file is not an SQLite database"))
    return path


def _not_a_cache(path: Path, why: str) -> str:
    return (f"the LLM cache {path} is unreadable ({why}). If it is a damaged cache, move it "
            f"aside (mv '{path}' '{path}.broken') and rerun: the calls it held will be made "
            "again; or give another cache path (--cache)")


def _explain(path: Path, err: sqlite3.Error) -> str:
    text = str(err)
    lowered = text.lower()
    if "disk is full" in lowered or "disk full" in lowered:
        return (f"the disk holding the LLM cache {path} is full ({text}); free some space and "
                "rerun: answers saved so far are kept")
    if "locked" in lowered or "busy" in lowered:
        return (f"the LLM cache {path} stayed locked by another process ({text}); wait for "
                "the other run to finish, or give this run its own cache path")
    if "readonly" in lowered or "read-only" in lowered:
        return (f"the LLM cache {path} is read-only ({text}); make it writable, or use "
                "cache_mode='replay' to only read it")
    if "unable to open" in lowered:
        return (f"cannot open the LLM cache {path} ({text}); check that its folder exists "
                "and is writable, or give another cache path (--cache)")
    if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
        return _not_a_cache(path, text)
    return f"the LLM cache {path} failed: {text}"


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None = None


class ResponseCache:
    """SQLite-backed answer store shared by threads (one locked connection) and processes."""

    def __init__(self, path: str | Path, mode: str = "readwrite", busy_timeout: float = 60.0):
        if mode not in CACHE_MODES:
            raise ValueError(f"cache_mode must be one of {CACHE_MODES}, got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._has_finish = False
        if mode == "off":
            return
        if mode == "replay" and not self.path.exists():
            raise CacheError(
                f"replay mode needs an existing cache, but {self.path} does not exist; "
                "record one first with cache_mode='readwrite' against a real endpoint"
            )
        check_cache_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(f"cannot create the folder of the LLM cache {self.path}: "
                             f"{err.strerror}; give another cache path (--cache)") from err
        try:
            conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise CacheError(_explain(self.path, err)) from err
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL survives any process crash; only an OS crash or
            # power loss could drop the last commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            if mode == "readwrite":
                for statement in _SCHEMA:
                    conn.execute(statement)
                columns = {r[1] for r in conn.execute("PRAGMA table_info(completions)")}
                if "finish_reason" not in columns:  # a cache written before the column
                    conn.execute("ALTER TABLE completions ADD COLUMN finish_reason TEXT")
            self._has_finish = "finish_reason" in {
                r[1] for r in conn.execute("PRAGMA table_info(completions)")}
            # Read something from every table we use: a damaged file fails here,
            # before any call is paid for, rather than halfway through a run.
            conn.execute("SELECT COUNT(*) FROM completions").fetchone()
        except sqlite3.Error as err:
            conn.close()
            raise CacheError(_explain(self.path, err)) from err
        self._conn = conn

    def _run(self, action: Callable[[sqlite3.Connection], T]) -> T:
        assert self._conn is not None
        try:
            with self._lock:
                return action(self._conn)
        except sqlite3.Error as err:
            raise CacheError(_explain(self.path, err)) from err

    @property
    def enabled(self) -> bool:
        return self._conn is not None

    def get(self, key: str) -> CachedAnswer | None:
        if self._conn is None:
            return None
        finish = "finish_reason" if self._has_finish else "NULL"
        row = self._run(lambda c: c.execute(
            f"SELECT text, prompt_tokens, completion_tokens, {finish} FROM completions "
            "WHERE key = ?", (key,),
        ).fetchone())
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
        finish_reason: str | None = None,
    ) -> None:
        """Store one finished call, committed immediately.  No-op unless readwrite."""
        if self._conn is None or self.mode != "readwrite":
            return
        request_json = json.dumps(
            _key_payload(request, backend=backend, model=model), ensure_ascii=False
        )
        labels_json = json.dumps(dict(request.labels), ensure_ascii=False)
        row = (key, backend, model, request.template, request.sample_index, request_json,
               labels_json, text, prompt_tokens, completion_tokens, time.time(), finish_reason)
        self._run(lambda c: c.execute(
            "INSERT OR IGNORE INTO completions (key, backend, model, template, sample_index, "
            "request_json, labels_json, text, prompt_tokens, completion_tokens, created_at, "
            "finish_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row))

    # -- what the file was recorded with ---------------------------------------------
    def note_endpoint(self, backend: str, base_url: str, model: str) -> None:
        """Record that answers for ``model`` come from ``backend`` at ``base_url``."""
        if self._conn is None or self.mode != "readwrite":
            return
        now = time.time()
        self._run(lambda c: c.execute(
            "INSERT INTO endpoints VALUES (?,?,?,?,?) ON CONFLICT(backend, base_url, model) "
            "DO UPDATE SET last_used = excluded.last_used",
            (backend, base_url, model, now, now)))

    def recorded_with(self) -> list[tuple[str, str, int, list[str]]]:
        """``(backend, model, answers, [base URLs])`` for every backend/model in the file."""
        if self._conn is None:
            return []

        def query(c: sqlite3.Connection) -> list[tuple[str, str, int, list[str]]]:
            counts = c.execute("SELECT backend, model, COUNT(*) FROM completions "
                               "GROUP BY backend, model ORDER BY COUNT(*) DESC").fetchall()
            try:
                urls = c.execute("SELECT backend, model, base_url FROM endpoints "
                                 "ORDER BY last_used DESC").fetchall()
            except sqlite3.OperationalError:  # a cache from before the table existed
                urls = []
            return [(b, m, n, [u for ub, um, u in urls if (ub, um) == (b, m)])
                    for b, m, n in counts]

        return self._run(query)

    def capability(self, backend: str, base_url: str | None, model: str) -> str | None:
        """The structured-output form stored for this endpoint, or None if never probed.

        ``base_url`` None (no endpoint: a replay or dry run) takes the most recent
        probe of ``backend`` + ``model`` at any URL.
        """
        if self._conn is None:
            return None

        def query(c: sqlite3.Connection) -> str | None:
            try:
                if base_url is None:
                    row = c.execute(
                        "SELECT structured_output FROM capabilities WHERE backend = ? AND "
                        "model = ? ORDER BY probed_at DESC LIMIT 1", (backend, model)).fetchone()
                else:
                    row = c.execute(
                        "SELECT structured_output FROM capabilities WHERE backend = ? AND "
                        "base_url = ? AND model = ?", (backend, base_url, model)).fetchone()
            except sqlite3.OperationalError:  # a replayed cache from before the table
                return None
            return str(row[0]) if row else None

        return self._run(query)

    def store_capability(self, backend: str, base_url: str, model: str, form: str,
                         detail: str) -> None:
        """Remember which structured-output form this endpoint accepts."""
        if self._conn is None or self.mode != "readwrite":
            return
        self._run(lambda c: c.execute(
            "INSERT OR REPLACE INTO capabilities VALUES (?,?,?,?,?,?)",
            (backend, base_url, model, form, detail, time.time())))

    def __len__(self) -> int:
        if self._conn is None:
            return 0
        return int(self._run(lambda c: c.execute("SELECT COUNT(*) FROM completions"
                                                 ).fetchone()[0]))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
