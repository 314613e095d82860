"""The smoke stand-in understands the method's prompts and walks every path of the pipeline."""

from __future__ import annotations

import json

from scripted import pref, user_split

from persona_judge.llm import parse_judgment
from persona_judge.method.judge import Demo, judge_request
from persona_judge.method.persona import persona_request
from persona_judge.method.smoke import smoke_responder


def body(request) -> dict:
    return {"model": "m", "messages": list(request.messages), "temperature": request.temperature}


def test_judge_answers_parse_and_follow_the_persona() -> None:
    p = pref("u", "t1", "test")  # the rejected reply is the longer one
    for persona, expect_chosen in (("They favours the shorter reply.", True),
                                   ("They favours the longer reply.", False)):
        for order in ("chosen_first", "rejected_first"):
            answer = smoke_responder(body(judge_request(p, order, persona=persona)))
            choice = parse_judgment(answer).choice
            assert (choice == ("A" if order == "chosen_first" else "B")) == expect_chosen


def test_judge_reads_demonstrations() -> None:
    demos = [Demo(pref("u", f"t{i}", "train"), "chosen_first") for i in range(3)]  # shorter won
    answer = smoke_responder(body(judge_request(pref("u", "x", "test"), "rejected_first",
                                                demos=demos)))
    assert json.loads(answer)["preferred"] == "B"  # the chosen (shorter) reply, shown second


def test_default_judge_is_content_hashed_and_deterministic() -> None:
    choices = [parse_judgment(smoke_responder(body(judge_request(pref("u", f"c{i}", "test"),
                                                                 "chosen_first")))).choice
               for i in range(30)]
    assert set(choices) == {"A", "B"}
    assert choices == [parse_judgment(smoke_responder(body(judge_request(
        pref("u", f"c{i}", "test"), "chosen_first")))).choice for i in range(30)]


def test_persona_text_and_retry_path() -> None:
    empties = 0
    for i in range(20):
        examples = [(pref("u", f"t{i}-{k}", "train"), None) for k in range(3)]
        first = smoke_responder(body(persona_request(examples)))
        retry = smoke_responder(body(persona_request(examples, temperature=0.7, sample_index=1)))
        assert "shorter" in retry and retry.startswith("[Smoke-run persona")
        empties += first == ""
    assert 0 < empties < 20


def test_smoke_fit_has_verified_and_unverified_traces(tmp_path) -> None:
    from persona_judge.llm import client_from_env
    from persona_judge.llm.standin import StandInServer
    from persona_judge.method.synthesizeme import fit_user

    train = [pref("u", f"t{i}", "train") for i in range(1, 9)]
    val = [pref("u", f"v{i}", "val") for i in range(1, 4)]
    with StandInServer(responder=smoke_responder) as server:
        client = client_from_env("m", cache_path=tmp_path / "c.sqlite", base_url=server.url,
                                 progress=False)
        art = fit_user(user_split("u", train, val), client)
        client.close()
    assert 0 < len(art.verified_traces) < len(art.traces)
    assert art.persona and "favours the shorter reply" in art.persona
