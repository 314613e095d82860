"""The three filters: user counts, the personalization LLM (real client, stand-in server),
the consensus rule from LLM judges and from recorded columns."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pandas as pd
import pytest

from persona_judge.construction.filters import (
    consensus_decisions,
    consensus_filter,
    llm_verdicts,
    parse_personalization,
    personalization_filter,
    recorded_slot,
    recorded_verdicts,
    user_filter,
    users_by_threshold,
)
from persona_judge.construction.pairs import CandidatePair
from persona_judge.construction.smoke import construction_responder
from persona_judge.data.raw_fixtures import FACTUAL_MARK, WORSE_MARK
from persona_judge.data.records import Turn
from persona_judge.llm import client_from_env
from persona_judge.llm.standin import StandInServer


def pair(i: int, user: str = "u1", query: str = "How should I plan my week?",
         chosen: str | None = None, rejected: str | None = None, flip: bool = False
         ) -> CandidatePair:
    return CandidatePair(f"p{i}", "prism", user, f"c{i}", (Turn("user", query),),
                         Turn("model", chosen or f"chosen reply {i}"),
                         Turn("model", rejected or f"rejected reply {i}"), 1, "unguided", flip)


@contextmanager
def client(responder, tmp_path, model="judge-model", name="cache.sqlite"):
    with StandInServer(responder=responder) as server:
        # preflight off: the server's request count is then the filters' own calls
        c = client_from_env(model, cache_path=tmp_path / name, base_url=server.url,
                            backend="openai-compatible", progress=False, preflight=False)
        with c:
            yield c, server


def test_user_filter_counts_users_and_pairs():
    pairs = [pair(i, "a") for i in range(3)] + [pair(10 + i, "b") for i in range(5)]
    kept, step = user_filter(pairs, 4)
    assert [p.user_id for p in kept] == ["b"] * 5
    assert (step.pairs_in, step.pairs_out, step.users_in, step.users_out) == (8, 5, 2, 1)
    assert step.removed_by_reason == {"user has fewer than 4 pairs (1 users)": 3}
    assert user_filter(pairs, 3)[1].pairs_out == 8  # the boundary is inclusive
    table = users_by_threshold(pairs, [1, 3, 4, 6])
    assert table["users"].tolist() == [2, 2, 1, 0] and table["pairs"].tolist() == [8, 8, 5, 0]
    with pytest.raises(ValueError, match="at least 1"):
        user_filter(pairs, 0)


def test_parse_personalization_reads_json_forms():
    answer = parse_personalization('Sure.\n```json\n{"query_reasoning": "open", '
                                   '"personalizable_query": "yes", "response_reasoning": "x", '
                                   '"personalizable_responses": false}\n```')
    assert (answer.personalizable_query, answer.personalizable_responses) == (True, False)
    assert answer.query_reasoning == "open" and answer.parsed
    assert not parse_personalization("no idea").parsed
    assert not parse_personalization('{"personalizable_query": "maybe"}').parsed


def test_personalization_filter_through_the_client(tmp_path):
    seen_temperatures = []

    def responder(body):
        prompt = body["messages"][-1]["content"]
        seen_temperatures.append(body.get("temperature"))
        if "unreadable" in prompt and not body.get("temperature"):
            return "I cannot answer in JSON."
        if "never readable" in prompt:
            return "still no JSON"
        return json.dumps({"query_reasoning": "q", "personalizable_query": FACTUAL_MARK
                           not in prompt, "response_reasoning": "r",
                           "personalizable_responses": "same reply" not in prompt})

    pairs = [pair(0), pair(1, query=f"{FACTUAL_MARK} capital of France?"),
             pair(2, rejected="same reply"), pair(3, query="unreadable at first"),
             pair(4, query="never readable")]
    with client(responder, tmp_path) as (c, server):
        kept, decisions, step = personalization_filter(pairs, c)
        assert [p.pair_id for p in kept] == ["p0", "p3"]
        assert decisions.set_index("pair_id").loc["p1", "reason"] == \
            "query leaves no room for taste"
        assert decisions.set_index("pair_id").loc["p2", "reason"] == \
            "replies do not differ in taste"
        assert decisions.set_index("pair_id").loc["p4", "reason"] == \
            "unparseable answer (asked twice)"
        assert decisions.set_index("pair_id")["asked"].to_dict() == {
            "p0": 1, "p1": 1, "p2": 1, "p3": 2, "p4": 2}
        assert step.removed_by_reason == {"query leaves no room for taste": 1,
                                          "replies do not differ in taste": 1,
                                          "unparseable answer (asked twice)": 1}
        assert server.requests_seen == 7 and sorted(set(seen_temperatures)) == [0.0, 0.7]
        only_query = personalization_filter(pairs, c, require="query")[0]
        assert [p.pair_id for p in only_query] == ["p0", "p2", "p3"]
        assert server.requests_seen == 7  # the same questions again: all from the cache
    with client(responder, tmp_path) as (c, server):  # a new process, the same cache file
        personalization_filter(pairs, c)
        assert server.requests_seen == 0


def test_consensus_decisions_by_hand():
    rows = []
    for judge in ("j1", "j2", "j3"):
        for order in ("chosen_first", "rejected_first"):
            rows.append(("unanimous", judge, order, "chosen"))
            rows.append(("against", judge, order, "rejected"))
            rows.append(("split", judge, order, "chosen" if order == "chosen_first"
                         else "rejected"))
            rows.append(("five", judge, order, None if (judge, order) == ("j3", "rejected_first")
                         else "chosen"))
    verdicts = pd.DataFrame(rows, columns=["pair_id", "judge", "order", "picked"])
    ids = ["unanimous", "against", "split", "five", "unjudged"]
    d = consensus_decisions(verdicts, ids).set_index("pair_id")
    assert d["keep"].to_dict() == {"unanimous": False, "against": False, "split": True,
                                   "five": True, "unjudged": True}
    assert d.loc["five", "agreement"] == pytest.approx(5 / 6)  # a missing verdict is no vote
    assert d.loc["split", "agreement"] == 0.5 and d.loc["unjudged", "reason"] == "no verdicts"
    assert d.loc["against", "reason"] == "judges agree the rejected reply is better"
    looser = consensus_decisions(verdicts, ids, threshold=0.8).set_index("pair_id")
    assert not looser.loc["five", "keep"]
    chosen_only = consensus_decisions(verdicts, ids, direction="chosen").set_index("pair_id")
    assert chosen_only.loc["against", "keep"] and not chosen_only.loc["unanimous", "keep"]
    with pytest.raises(ValueError, match="threshold"):
        consensus_decisions(verdicts, ids, threshold=0.5)


def test_recorded_verdicts_follow_flip_and_value_forms():
    assert [recorded_slot(v) for v in ("First", "second", "A", "B", 1, "2", "Tie", None)] == \
        [1, 2, 1, 2, 1, 2, None, None]
    rows = [
        {"pair_id": "plain", "flip": False, "prediction_m": "First", "prediction_flip_m": "First"},
        {"pair_id": "flipped", "flip": True, "prediction_m": "Second",
         "prediction_flip_m": "First"},
    ]
    # flip True: prediction_<m> saw the chosen reply first (the public code's reading)
    v = recorded_verdicts(rows, judges=("m",))
    got = {(r.pair_id, r.order): r.picked for r in v.itertuples()}
    assert got == {("plain", "rejected_first"): "rejected", ("plain", "chosen_first"): "chosen",
                   ("flipped", "chosen_first"): "rejected",
                   ("flipped", "rejected_first"): "rejected"}
    d = consensus_decisions(v).set_index("pair_id")
    assert d.loc["flipped", "share_chosen"] == 0.0 and d.loc["plain", "share_chosen"] == 0.5


def test_llm_judges_agree_on_a_clearly_worse_reply(tmp_path):
    pairs = [pair(0, rejected=f"{WORSE_MARK} no idea"),
             pair(1, chosen=f"{WORSE_MARK} nope", flip=True), pair(2), pair(3)]
    with client(construction_responder, tmp_path, "j1", "a.sqlite") as (j1, _), \
            client(construction_responder, tmp_path, "j2", "b.sqlite") as (j2, _):
        verdicts = llm_verdicts(pairs, {"j1": j1, "j2": j2})
    assert len(verdicts) == 4 * 2 * 2
    picked = verdicts.groupby("pair_id")["picked"].agg(set).to_dict()
    assert picked["p0"] == {"chosen"} and picked["p1"] == {"rejected"}
    kept, decisions, step = consensus_filter(pairs, verdicts)
    assert {p.pair_id for p in kept} == set(decisions.loc[decisions["agreement"] < 1, "pair_id"])
    assert not {"p0", "p1"} & {p.pair_id for p in kept}
    assert step.removed_by_reason["judges agree the chosen reply is better"] >= 1
    assert step.removed_by_reason["judges agree the rejected reply is better"] >= 1


def test_smoke_responder_answers_construction_prompts_and_falls_back():
    from persona_judge.construction.filters import consensus_request, personalization_request
    from persona_judge.method.smoke import smoke_responder

    def body(request, model="m", temperature=0.0):
        return {"model": model, "temperature": temperature, "messages": list(request.messages)}

    factual = personalization_request(pair(1, query=f"{FACTUAL_MARK} What is 2+2?"))
    answer = json.loads(construction_responder(body(factual)))
    assert answer["personalizable_query"] is False
    worse = consensus_request(pair(2, rejected=f"{WORSE_MARK} nope"), "rejected_first", "m")
    assert json.loads(construction_responder(body(worse)))["preferred"] == "B"
    other = {"model": "m", "messages": [{"role": "user", "content": "## Reply A\nx\n\n## Reply B"
                                                                   "\ny\n\n## Your answer\n"}]}
    assert construction_responder(other) == smoke_responder(other)
