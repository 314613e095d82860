"""Structured output: the probe finds the form an endpoint accepts once, remembers it, never
sends a refused form again; the form is part of the key; the stand-in honours it; resamples
differ (seed, temperature); runaway answers are capped; Judgment says how it was obtained."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request

from persona_judge.llm import JUDGMENT_SCHEMA, client_from_env, parse_judgment
from persona_judge.llm.standin import Fault, StandInServer, conform_to_schema

QUICK = {"progress": False, "backoff_initial": 0.01, "backoff_max": 0.05, "max_retries": 1}


def make(server: StandInServer, cache: Path, **options):
    return client_from_env(MODEL, cache_path=cache, base_url=server.url,
                           backend="openai-compatible", **{**QUICK, **options})


def forms(server: StandInServer) -> list[str]:
    return [(r.body.get("response_format") or {}).get("type", "off") for r in server.requests]


@pytest.mark.parametrize(
    ("accept", "status", "expected", "probes"),
    [
        (("json_schema", "json_object"), 400, "json_schema", ["json_schema"]),
        # llama.cpp answered an unsupported json_schema with HTTP 500
        # (asked twice: a single 500 may be a blip rather than a refusal)
        (("json_object",), 500, "json_object", ["json_schema", "json_schema", "json_object"]),
        ((), 400, "off", ["json_schema", "json_object", "off"]),
    ],
)
def test_probe_finds_the_accepted_form_and_never_sends_a_refused_one(
    tmp_path: Path, accept: tuple, status: int, expected: str, probes: list[str]
) -> None:
    with StandInServer(accept_formats=accept, refuse_status=status) as server:
        with make(server, tmp_path / "c.sqlite") as client:
            judgments = client.judge_many([judge_request(i) for i in range(6)])
        assert client.structured_output == expected
        assert forms(server) == probes + [expected] * 6
        assert all(j.structured_output == expected and j.choice for j in judgments)
        assert client.stats.retries == 0  # a refusal is not retried


def test_the_capability_is_remembered_per_endpoint_in_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    with StandInServer(accept_formats=["json_object"], refuse_status=500) as server:
        url = server.url
        with make(server, cache) as client:
            client.judge(judge_request(0))
        server.reset_counters()
        with make(server, cache) as again:
            again.judge(judge_request(1))
        # no probe of json_schema this time: one plain liveness check in the known form
        assert forms(server) == ["json_object", "json_object"]
        assert again.capability_detail == "stored in the cache"
    row = sqlite3.connect(cache).execute(
        "SELECT backend, base_url, model, structured_output, detail FROM capabilities"
    ).fetchone()
    assert row[:4] == ("openai-compatible", url, MODEL, "json_object")
    assert "json_schema refused (HTTP 500" in row[4]


def test_a_stored_form_the_server_now_refuses_is_probed_again(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    with StandInServer() as server:
        with make(server, cache) as client:
            client.judge(judge_request(0))
            assert client.structured_output == "json_schema"
        server.accept_formats = ("json_object",)
        server.reset_counters()
        with make(server, cache) as again:
            assert again.judge(judge_request(1)).structured_output == "json_object"
        # the stored form checked (refused), probed again, then the call in the new form
        assert forms(server) == ["json_schema", "json_schema", "json_object", "json_object"]


def test_the_form_is_part_of_the_cache_key(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    with StandInServer() as server:
        with make(server, cache, structured_output="off") as plain:
            plain.judge(judge_request(0))
        with make(server, cache, structured_output="json_object") as structured:
            structured.judge(judge_request(0))
            assert structured.stats.cache_hits == 0 and structured.stats.calls == 1
            assert structured.key_for(judge_request(0), judge=True) != \
                plain.key_for(judge_request(0), judge=True)
            # a free-text request (persona, chat) is not affected by the judge's form
            assert structured.key_for(judge_request(0)) == plain.key_for(judge_request(0))


def test_replay_uses_the_stored_form_and_hits(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "c.sqlite"
    with StandInServer(accept_formats=["json_object"]) as server:
        with make(server, cache) as client:
            first = client.judge(judge_request(3))
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    with client_from_env(MODEL, cache_path=cache, cache_mode="replay",
                         backend="openai-compatible", progress=False) as replay:
        again = replay.judge(judge_request(3))
    assert again == first and again.structured_output == "json_object"


def test_structured_output_turns_an_unparseable_answer_into_a_verdict(tmp_path: Path) -> None:
    with StandInServer() as server:
        server.inject("unparseable")
        with make(server, tmp_path / "a.sqlite", preflight=False,
                  structured_output="json_schema") as structured:
            judgment = structured.judge(judge_request(0))
        assert judgment.choice in ("A", "B") and judgment.attempts == 1
        assert judgment.parse_failures == 0 and judgment.failure_kind is None
        server.inject("unparseable")
        with make(server, tmp_path / "b.sqlite", preflight=False,
                  structured_output="off") as free:
            judgment = free.judge(judge_request(0))
        assert judgment.attempts == 2 and judgment.parse_failures == 1


def test_judgment_records_failure_kind_and_parse_failures(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server, tmp_path / "c.sqlite", preflight=False, structured_output="off",
                  max_parse_retries=1) as client:
            server.inject("unparseable", "unparseable")
            never = client.judge(judge_request(0))
            server.responder = lambda body: "Preferred: tie"
            tie = client.judge(judge_request(1))
            server.inject(*[Fault("500")] * 2)
            failed = client.judge(judge_request(2))
    assert (never.failure_kind, never.parse_failures, never.attempts) == ("unparseable", 2, 2)
    assert (tie.failure_kind, tie.parse_failures, tie.attempts) == ("tie", 0, 1)
    assert (failed.failure_kind, failed.attempts) == ("call_failed", 1)
    # the parse-failure rate of these judgments is computable from them alone
    judged = [never, tie]
    assert sum(j.parse_failures for j in judged) / sum(j.attempts for j in judged) == 2 / 3


def test_resamples_differ_by_seed_and_temperature(tmp_path: Path) -> None:
    with StandInServer() as server:
        server.inject("unparseable", "unparseable")
        with make(server, tmp_path / "c.sqlite", preflight=False, structured_output="off",
                  max_parse_retries=2) as client:
            client.judge(judge_request(0, sample_index=5))
    bodies = [r.body for r in server.requests]
    assert [b["seed"] for b in bodies] == [5, 6, 7]
    assert [b["temperature"] for b in bodies] == [0.0, 0.7, 0.7]  # the default resample temp


def test_seed_can_be_switched_off(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server, tmp_path / "c.sqlite", preflight=False, send_seed=False) as client:
            client.judge(judge_request(0))
        assert "seed" not in server.requests[0].body


def test_a_runaway_answer_is_cut_at_max_tokens_and_named(tmp_path: Path) -> None:
    loop = "I keep saying the same thing. " * 200
    with StandInServer(responder=lambda body: loop) as server:
        with make(server, tmp_path / "c.sqlite", preflight=False, structured_output="off",
                  max_parse_retries=0) as client:
            judgment = client.judge(judge_request(0, max_tokens=50))
            chat = client.chat(judge_request(1, max_tokens=50))
    assert len(chat.text) == 200 and chat.finish_reason == "length"
    assert judgment.failure is not None and "cut off at max_tokens=50" in judgment.failure
    # the finish reason is cached too: a replay reports the same failure
    with client_from_env(MODEL, cache_path=tmp_path / "c.sqlite", cache_mode="replay",
                         backend="openai-compatible", progress=False, preflight=False,
                         structured_output="off", max_parse_retries=0) as replay:
        assert replay.judge(judge_request(0, max_tokens=50)) == judgment


def test_standin_enforces_the_schema_like_constrained_decoding() -> None:
    valid = json.dumps({"reasoning": "short wins", "preferred": "B"})
    assert conform_to_schema(valid, JUDGMENT_SCHEMA) == valid
    rambling = "Both have merits... on balance, Answer: A"
    forced = json.loads(conform_to_schema(rambling, JUDGMENT_SCHEMA))
    assert forced["preferred"] == "A" and set(forced) == {"reasoning", "preferred"}
    tie = json.loads(conform_to_schema(json.dumps({"preferred": "tie"}), JUDGMENT_SCHEMA))
    assert tie["preferred"] in ("A", "B")  # the enum leaves no room for a tie
    assert parse_judgment(conform_to_schema("no verdict at all", JUDGMENT_SCHEMA)).choice


def test_repetition_penalty_is_sent_and_keyed_only_when_set(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server, tmp_path / "c.sqlite", preflight=False) as plain:
            plain.chat(judge_request(0))
        with make(server, tmp_path / "c.sqlite", preflight=False,
                  repetition_penalty=1.15) as penalised:
            penalised.chat(judge_request(0))
            assert penalised.stats.cache_hits == 0
    assert "repetition_penalty" not in server.requests[0].body
    assert server.requests[1].body["repetition_penalty"] == 1.15
