"""Judging: unparseable answers are resampled with new sample indices, then recorded as
no choice with a reason; ties are answers; the whole path replays from the cache."""

from __future__ import annotations

import json
import sqlite3

from llm_helpers import judge_request

from persona_judge.llm.parsing import TIE_FAILURE
from persona_judge.llm.standin import StandInServer


def test_unparseable_answer_is_resampled_until_it_parses(
    make_client, server: StandInServer
) -> None:
    client = make_client(max_parse_retries=3)
    server.inject("unparseable", "unparseable")
    judgment = client.judge(judge_request(0))
    assert judgment.choice in ("A", "B") and judgment.failure is None
    assert judgment.attempts == 3
    assert server.requests_seen == 3
    assert client.stats.unparseable == 2 and client.stats.resamples == 2
    assert client.stats.fallbacks == 0 and client.stats.calls == 3
    # Each sample is its own cache entry, keyed by sample index 0, 1, 2.
    conn = sqlite3.connect(client.cache_path)
    rows = conn.execute(
        "SELECT sample_index, text FROM completions ORDER BY sample_index"
    ).fetchall()
    conn.close()
    assert [r[0] for r in rows] == [0, 1, 2]
    assert json.loads(rows[2][1])["preferred"] == judgment.choice
    # Tokens cover all three samples.
    single = client.chat(judge_request(0).resample(2))
    assert judgment.completion_tokens > single.completion_tokens


def test_never_parseable_becomes_no_choice_with_reason(make_client, server: StandInServer) -> None:
    client = make_client(max_parse_retries=2)
    server.inject("unparseable", "unparseable", "unparseable")
    judgment = client.judge(judge_request(5, sample_index=4))
    assert judgment.choice is None
    assert judgment.attempts == 3
    assert judgment.failure is not None
    assert judgment.failure.startswith("unparseable after 3 samples (sample_index 4..6)")
    assert "cannot say more" in judgment.failure  # the last answer's excerpt
    assert "merits" in judgment.reasoning
    assert client.stats.fallbacks == 1 and client.stats.unparseable == 3
    assert server.requests_seen == 3

    # Rerunning replays the same path from the cache: same verdict, no calls.
    server.reset_counters()
    again = make_client(cache_mode="replay").judge(judge_request(5, sample_index=4))
    assert again == judgment
    assert server.requests_seen == 0


def test_resamples_can_use_another_temperature(make_client, server: StandInServer) -> None:
    client = make_client(resample_temperature=0.7)
    server.inject("unparseable")
    client.judge(judge_request(1))
    assert [r.body["temperature"] for r in server.requests] == [0.0, 0.7]


def test_tie_is_recorded_without_resampling(make_client, server: StandInServer) -> None:
    server.responder = lambda body: "Both responses suit this user equally.\nPreferred: tie"
    client = make_client()
    judgment = client.judge(judge_request(2))
    assert judgment.choice is None and judgment.failure == TIE_FAILURE
    assert judgment.attempts == 1 and server.requests_seen == 1
    assert client.stats.fallbacks == 0


def test_plain_text_verdicts_are_parsed_in_batches(make_client, server: StandInServer) -> None:
    verdicts = {0: "Reasoning...\nAnswer: B", 1: "```json\n{\"preferred\": \"A\"}\n```", 2: "**B**"}

    def responder(body: dict) -> str:
        content = body["messages"][-1]["content"]
        return next(v for k, v in verdicts.items() if f"Context #{k}\n" in content)

    server.responder = responder
    judgments = make_client().judge_many([judge_request(i) for i in range(3)])
    assert [j.choice for j in judgments] == ["B", "A", "B"]
