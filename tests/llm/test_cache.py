"""The SQLite cache: hits make no call, replay-only misses name the call, off means off,
and many threads and processes can write one cache file at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request, text_request

from persona_judge.llm import ChatRequest, ReplayMissError, ResponseCache, client_from_env
from persona_judge.llm.cache import CacheError
from persona_judge.llm.standin import StandInServer


def test_hit_makes_no_network_call(make_client, server: StandInServer) -> None:
    client = make_client()
    first = client.chat(text_request(1))
    second = client.chat(text_request(1))
    assert server.requests_seen == 1
    assert (first.cached, second.cached) == (False, True)
    assert second.text == first.text
    assert (second.prompt_tokens, second.completion_tokens) == (
        first.prompt_tokens, first.completion_tokens,
    )
    assert client.stats.calls == 1 and client.stats.cache_hits == 1


def test_labels_share_an_entry_but_sampling_and_template_do_not(
    make_client, server: StandInServer
) -> None:
    client = make_client()
    base = text_request(2)
    client.chat(base)
    client.chat(ChatRequest(base.messages, base.template, labels={"user": "someone-else"}))
    assert server.requests_seen == 1
    client.chat(base.resample(1))
    client.chat(ChatRequest(base.messages, "persona_synthesis@2"))
    client.chat(ChatRequest(base.messages, base.template, temperature=0.5))
    assert server.requests_seen == 4


def test_cache_persists_across_clients(make_client, server: StandInServer) -> None:
    first = make_client()
    answers = first.chat_many([text_request(i) for i in range(5)])
    first.close()
    second = make_client()
    again = second.chat_many([text_request(i) for i in range(5)])
    assert server.requests_seen == 5
    assert [a.text for a in again] == [a.text for a in answers]
    assert all(a.cached for a in again) and second.stats.calls == 0


def test_replay_only_serves_hits_and_names_a_miss(
    make_client, server: StandInServer, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_client().chat(judge_request(0))
    monkeypatch.delenv("LLM_BASE_URL")  # replays need no endpoint at all
    with client_from_env(
        MODEL, cache_path=cache_path, cache_mode="replay", backend="openai-compatible"
    ) as replay:
        assert replay.chat(judge_request(0)).cached
        miss = ChatRequest(
            judge_request(7).messages, "judge_pairwise@1",
            labels={"user": "u7", "pair": "u7/c3", "step": "bootstrap"},
        )
        with pytest.raises(ReplayMissError) as info:
            replay.chat(miss)
    message = str(info.value)
    for expected in (MODEL, "judge_pairwise@1", "user=u7", "pair=u7/c3", "step=bootstrap",
                     "cache_mode='readwrite'", "TOGETHER_API_KEY", str(cache_path)):
        assert expected in message, expected
    assert server.requests_seen == 1


def test_replay_miss_inside_a_batch_stops_the_batch(
    make_client, server: StandInServer, cache_path: Path
) -> None:
    make_client().chat_many([judge_request(i) for i in range(3)])
    replay = make_client(cache_mode="replay")
    with pytest.raises(ReplayMissError, match=r"pair=u[01]/c[34]\]"):
        replay.judge_many([judge_request(i) for i in range(5)])
    assert server.requests_seen == 3


def test_replay_without_a_cache_file_says_how_to_record(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="cache_mode='readwrite'"):
        client_from_env(MODEL, cache_path=tmp_path / "none.sqlite", cache_mode="replay")


def test_off_mode_neither_reads_nor_writes(
    make_client, server: StandInServer, cache_path: Path
) -> None:
    client = make_client(cache_mode="off")
    client.chat(text_request(1))
    client.chat(text_request(1))
    assert server.requests_seen == 2
    assert not cache_path.exists()
    assert client.stats.cache_hits == 0 and client.stats.calls == 2


def test_failed_calls_are_not_cached(make_client, server: StandInServer) -> None:
    client = make_client(max_retries=0)
    server.inject("500")
    assert client.chat(text_request(1)).error is not None
    again = client.chat(text_request(1))
    assert again.error is None and not again.cached
    assert server.requests_seen == 2


def test_cache_file_is_wal_and_rows_hold_no_headers(make_client, cache_path: Path) -> None:
    make_client().chat(judge_request(3))
    conn = sqlite3.connect(cache_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    row = conn.execute(
        "SELECT model, template, sample_index, labels_json, request_json FROM completions"
    ).fetchone()
    conn.close()
    assert row[:3] == (MODEL, "judge_pairwise@1", 0)
    assert '"pair": "u0/c3"' in row[3]
    assert "authorization" not in row[4].lower() and "bearer" not in row[4].lower()


def test_many_threads_write_one_cache(make_client, server: StandInServer, cache_path) -> None:
    client = make_client(max_concurrency=16)
    results = client.chat_many([text_request(i) for i in range(48)])
    assert all(r.error is None for r in results)
    assert len(client.cache) == 48 == server.requests_seen


_WRITER = textwrap.dedent(
    """
    import sys
    from persona_judge.llm import ChatRequest, ResponseCache, request_key
    path, worker = sys.argv[1], int(sys.argv[2])
    cache = ResponseCache(path)
    for i in range(60):
        req = ChatRequest([{"role": "user", "content": f"w{worker} q{i}"}], "t@1")
        key = request_key(req, backend="together", model="m")
        cache.put(key, req, backend="together", model="m", text=f"a{worker}-{i}",
                  prompt_tokens=1, completion_tokens=1)
    cache.close()
    """
)


def test_many_processes_write_one_cache(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    ResponseCache(path).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(w)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    cache = ResponseCache(path, "replay")
    assert len(cache) == 240
    cache.close()
