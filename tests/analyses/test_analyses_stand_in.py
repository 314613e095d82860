"""The further studies' scripted stand-in: consistent answers that walk every path."""

from __future__ import annotations

import json

from analyses_helpers import pref

from persona_judge.analyses import alignment
from persona_judge.analyses.smoke import analyses_responder
from persona_judge.method.judge import judge_request
from persona_judge.method.smoke import smoke_responder


def _body(request, model="org/m-70B", temperature=None):
    return {"model": model, "messages": list(request.messages),
            "temperature": request.temperature if temperature is None else temperature}


def test_matching_answers_agree_across_orders_and_name_a_person():
    for i in range(20):
        persona = f"persona {i}: this person favours the {'longer' if i % 2 else 'shorter'} reply"
        first = json.loads(analyses_responder(_body(alignment.match_request(
            persona, f"profile own {i}", f"profile other {i}", "chosen_first"))))
        second = json.loads(analyses_responder(_body(alignment.match_request(
            persona, f"profile own {i}", f"profile other {i}", "rejected_first"))))
        assert {first["preferred"], second["preferred"]} == {"A", "B"}  # the same person


def test_ratings_follow_the_persona_and_sometimes_need_a_second_ask():
    outcomes = []
    for i in range(20):
        request = alignment.ratings_request(f"person {i} favours the longer reply")
        parsed, _ = alignment.parse_ratings(analyses_responder(_body(request)))
        if parsed is None:
            parsed, _ = alignment.parse_ratings(analyses_responder(_body(request, temperature=0.7)))
            outcomes.append("second")
        else:
            outcomes.append("first")
        assert parsed is not None and parsed["factuality"] > parsed["creativity"]
    assert "first" in outcomes and "second" in outcomes


def test_small_models_flip_some_verdicts_and_the_big_one_never():
    flips = {"org/m-70B": 0, "org/m-8B": 0, "org/m-3B": 0}
    for i in range(200):
        p = pref("u", f"c{i}", "test")
        request = judge_request(p, "chosen_first")
        base = json.loads(smoke_responder(_body(request)))["preferred"]
        for model in flips:
            flips[model] += json.loads(analyses_responder(_body(request, model)))[
                "preferred"] != base
    assert flips["org/m-70B"] == 0
    assert 10 < flips["org/m-8B"] < flips["org/m-3B"] < 90
