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


def test_reasoned_demos_teach_the_opening_of_picked_replies() -> None:
    # the picked replies open "Chosen reply for": with reasoning this beats length signals
    demos = [Demo(pref("u", f"t{i}", "train"), "rejected_first", "B suits them.")
             for i in range(3)]
    p = pref("u", "x", "test", chosen="and a much longer tail to make it the longer reply")
    for order, expect in (("chosen_first", "A"), ("rejected_first", "B")):
        answer = smoke_responder(body(judge_request(p, order, demos=demos,
                                                    persona="They favours the shorter reply.")))
        assert json.loads(answer)["preferred"] == expect
    # labelled-only demos carry no such lesson: the persona's length rule decides
    labelled = [Demo(d.preference, d.order) for d in demos]
    answer = smoke_responder(body(judge_request(p, "chosen_first", demos=labelled,
                                                persona="They favours the shorter reply.")))
    assert json.loads(answer)["preferred"] == "B"


def test_smoke_pipeline_walks_every_path() -> None:
    """Over the smoke run's fixture users, the faithful fit takes every branch."""
    from collections import Counter

    from persona_judge.method.synthesizeme import fit_user
    from persona_judge.study.notebook import load_users, smoke_llm

    users = load_users("chatbot_arena", "smoke", None, 0)
    seen: Counter[str] = Counter()
    with smoke_llm("m") as client:
        for user in users:
            art = fit_user(user, client)
            seen["verified"] += len(art.verified_traces)
            seen["unverified"] += len(art.traces) - len(art.verified_traces)
            seen[f"step 1 won by {art.bootstrap_candidates[art.bootstrap_winner].kind}"] += 1
            seen[f"step 3 won by {art.demo_candidates[art.demo_winner].kind}"] += 1
            seen.update(art.fallback_codes)
    assert seen["verified"] and seen["unverified"]
    assert seen["persona retried"] >= 1
    assert seen["step 1 won by labels only"] and seen["step 1 won by full set"]
    assert seen["step 3 won by persona only"]  # final prompt without demos
    assert seen["step 3 won by full set"] + seen["step 3 won by random"]  # demos win too


def test_smoke_fit_has_verified_and_unverified_traces(tmp_path) -> None:
    from persona_judge.llm import client_from_env
    from persona_judge.llm.standin import StandInServer
    from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user

    train = [pref("u", f"t{i}", "train") for i in range(1, 9)]
    val = [pref("u", f"v{i}", "val") for i in range(1, 4)]
    with StandInServer(responder=smoke_responder) as server:
        client = client_from_env("m", cache_path=tmp_path / "c.sqlite", base_url=server.url,
                                 progress=False)
        art = fit_user(user_split("u", train, val), client,
                       SynthesizeMeConfig(trace_context="none"))
        client.close()
    assert 0 < len(art.verified_traces) < len(art.traces)
    assert art.persona and "favours the shorter reply" in art.persona
