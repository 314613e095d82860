"""Problems with the cache file itself become one-line CacheErrors naming the file and what
to do, found when the cache is opened (before any call is paid for) where possible."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request, text_request

from persona_judge.errors import PersonaJudgeError
from persona_judge.llm import ChatRequest, ResponseCache, client_from_env, request_key
from persona_judge.llm.cache import CacheError, check_cache_file
from persona_judge.llm.standin import StandInServer


def filled_cache(path: Path, rows: int = 200) -> None:
    cache = ResponseCache(path)
    for i in range(rows):
        request = ChatRequest([{"role": "user", "content": f"q{i} " + "x" * 2000}], "t@1")
        cache.put(request_key(request, backend="b", model="m"), request, backend="b",
                  model="m", text="a" * 3000, prompt_tokens=1, completion_tokens=1)
    cache.close()


def test_a_folder_as_cache_path(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match=r"is a folder; give a file path such as .*\.sqlite"):
        ResponseCache(tmp_path)
    assert issubclass(CacheError, PersonaJudgeError)


def test_a_cache_path_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(CacheError, match=f"{blocker} is a file, not a folder"):
        check_cache_file(blocker / "sub" / "c.sqlite")


def test_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a cache\n" * 10)
    with pytest.raises(CacheError, match=r"not an SQLite database\). If it is a damaged cache, "
                                         r"move it aside \(mv "):
        ResponseCache(path)
    assert path.read_text().startswith("these are my notes")  # left untouched


def test_an_empty_file_becomes_a_cache(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    cache = ResponseCache(path)
    assert len(cache) == 0
    cache.close()


def test_a_truncated_cache_is_caught_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    filled_cache(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(CacheError, match="malformed.*move it aside"):
        ResponseCache(path)


def test_a_full_disk_while_saving_an_answer(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    real = cache._conn

    class DiskFull:
        def execute(self, sql: str, *args):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

        def close(self) -> None:
            real.close()

    cache._conn = DiskFull()  # type: ignore[assignment]
    request = text_request(1)
    with pytest.raises(CacheError, match="is full .*free some space and rerun: answers saved "
                                         "so far are kept"):
        cache.put("k", request, backend="b", model="m", text="t", prompt_tokens=1,
                  completion_tokens=1)
    cache.close()


def test_a_corrupt_cache_stops_the_client_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    with StandInServer() as server:
        with pytest.raises(CacheError):
            client_from_env(MODEL, cache_path=path, base_url=server.url, progress=False)
        assert server.requests_seen == 0


def test_a_replay_miss_says_what_the_cache_was_recorded_with(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with StandInServer() as server:
        url = server.url
        with client_from_env(MODEL, cache_path=path, base_url=url, progress=False,
                             backend="openai-compatible") as client:
            client.judge(judge_request(0))
    # replayed as the default backend (together), as happens with no LLM_BASE_URL set
    with client_from_env(MODEL, cache_path=path, cache_mode="replay", progress=False) as replay:
        with pytest.raises(PersonaJudgeError) as info:
            replay.judge(judge_request(0))
    message = str(info.value)
    assert "asked as backend together (no endpoint configured)" in message
    assert f"backend openai-compatible at {url}, model '{MODEL}' (1 answers)" in message
