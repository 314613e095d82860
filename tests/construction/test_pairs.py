"""Pairs from raw records: PRISM turns and scores, Arena winners, ties and multi-turn, ids."""

from __future__ import annotations

import pytest

from persona_judge.construction.pairs import PairingConfig, arena_pairs, prism_pairs
from persona_judge.data.raw_arena import vote_from_row
from persona_judge.data.raw_prism import conversation_from_row
from persona_judge.data.raw_sources import RawSourceError


def _model(turn, text, score, chosen, within, name="gpt-4"):
    return {"turn": turn, "role": "model", "content": text, "model_provider": "openai",
            "model_name": name, "score": score, "if_chosen": chosen, "within_turn_id": within}


def _conversation():
    history = [
        {"turn": 0, "role": "user", "content": "Q0"},
        _model(0, "best", 80, True, 0, "m0"),
        _model(0, "low", 60, False, 1, "m1"),
        _model(0, "same score", 80, False, 2, "m2"),
        _model(0, "lowest", 30, False, 3, "m3"),
        {"turn": 1, "role": "user", "content": "Q1"},
        _model(1, "A1", 50, False, 0, "m0"),
        _model(1, "B1", 70, True, 1, "m0"),
        {"turn": 2, "role": "user", "content": "Q2"},
        _model(2, "A2", 40, True, 0, "m0"),
        _model(2, "B2", 40, False, 1, "m0"),
    ]
    return conversation_from_row({"conversation_id": "c7", "user_id": "user3",
                                  "conversation_type": "values guided",
                                  "conversation_history": history}, "test row")


def _by_id(pairs):
    return {p.pair_id: p for p in pairs}


def test_prism_default_pairs_chosen_against_each_lower_candidate_and_later_turns():
    pairs, report = prism_pairs([_conversation()], PairingConfig())
    got = _by_id(pairs)
    assert list(got) == ["prism/c7/t0/0>1", "prism/c7/t0/0>3", "prism/c7/t1/1>0"]
    first = got["prism/c7/t0/0>1"]
    assert (first.chosen.content, first.rejected.content) == ("best", "low")
    assert (first.chosen_score, first.rejected_score) == (80.0, 60.0)
    assert [(t.role, t.content) for t in first.context] == [("user", "Q0")]
    assert first.chosen.role == "model" and first.turns == 1 and first.type == "values guided"
    later = got["prism/c7/t1/1>0"]
    # The context is the conversation so far: the reply chosen at turn 0 was continued from.
    assert [(t.role, t.content) for t in later.context] == [
        ("user", "Q0"), ("model", "best"), ("user", "Q1")]
    assert later.turns == 2 and later.chosen.content == "B1"
    assert report.skipped["PRISM pair with equal scores"] == 2  # turn 0 and turn 2
    assert report.records == 1 and report.pairs == 3


def test_prism_equal_scores_first_turn_only_and_all_scored_are_parameters():
    ties = _by_id(prism_pairs([_conversation()], PairingConfig(prism_equal_scores="use_choice"))[0])
    assert {"prism/c7/t0/0>2", "prism/c7/t2/0>1"} <= set(ties)
    assert ties["prism/c7/t2/0>1"].context[-1].content == "Q2"
    first = prism_pairs([_conversation()], PairingConfig(prism_turns="first"))[0]
    assert [p.pair_id for p in first] == ["prism/c7/t0/0>1", "prism/c7/t0/0>3"]
    scored = _by_id(prism_pairs([_conversation()], PairingConfig(prism_pairs="all_scored"))[0])
    # every two turn-0 candidates with different scores, the higher one chosen
    assert {k for k in scored if "/t0/" in k} == {
        "prism/c7/t0/0>1", "prism/c7/t0/0>3", "prism/c7/t0/1>3", "prism/c7/t0/2>1",
        "prism/c7/t0/2>3"}
    assert PairingConfig(model_role="assistant") and prism_pairs(
        [_conversation()], PairingConfig(model_role="assistant"))[0][0].chosen.role == "assistant"


def test_prism_skips_empty_replies_and_turns_without_a_choice():
    conversation = _conversation()
    raw = dict(conversation.raw)
    raw["conversation_history"] = [dict(e) for e in raw["conversation_history"]]
    raw["conversation_history"][2]["content"] = "EMPTY STRING"
    raw["conversation_history"][7]["if_chosen"] = False  # turn 1: nothing chosen
    pairs, report = prism_pairs([conversation_from_row(raw, "row")], PairingConfig())
    assert [p.pair_id for p in pairs] == ["prism/c7/t0/0>3"]
    assert report.skipped["PRISM pair with an empty reply"] == 1
    assert report.skipped["PRISM turn without exactly one chosen reply"] == 1
    assert report.skipped["PRISM conversation cut short: no chosen reply to continue from"] == 1


def test_pair_ids_and_flips_are_stable_and_seeded():
    one = prism_pairs([_conversation()], PairingConfig(seed=0))[0]
    two = prism_pairs([_conversation()], PairingConfig(seed=0))[0]
    assert [(p.pair_id, p.flip) for p in one] == [(p.pair_id, p.flip) for p in two]
    flips = {seed: [p.flip for p in prism_pairs([_conversation()], PairingConfig(seed=seed))[0]]
             for seed in range(8)}
    assert len({tuple(v) for v in flips.values()}) > 1


def _vote(qid, winner, turn=1, judge="arena_user_1", language="English", flagged=False,
          same=False):
    conv_a, conv_b = [], []
    for t in range(turn):
        conv_a += [{"role": "user", "content": f"q{t}"}, {"role": "assistant", "content": f"a{t}"}]
        conv_b += [{"role": "user", "content": f"q{t}"},
                   {"role": "assistant", "content": f"a{t}" if same else f"b{t}"}]
    return vote_from_row({
        "question_id": qid, "model_a": "vicuna-13b", "model_b": "gpt-4", "winner": winner,
        "judge": judge, "conversation_a": conv_a, "conversation_b": conv_b, "turn": turn,
        "anony": True, "language": language, "tstamp": 1.0,
        "openai_moderation": {"flagged": flagged}, "toxic_chat_tag": {}}, f"vote {qid}")


def test_arena_winner_ties_language_moderation_and_turns():
    votes = [_vote("q1", "model_a"), _vote("q2", "model_b"), _vote("q3", "tie"),
             _vote("q4", "tie (bothbad)"), _vote("q5", "model_a", language="German"),
             _vote("q6", "model_b", flagged=True), _vote("q7", "model_a", turn=2),
             _vote("q8", "model_a", same=True), _vote("q1", "model_b")]
    pairs, report = arena_pairs(votes, PairingConfig())
    got = _by_id(pairs)
    assert list(got) == ["arena/q1", "arena/q2"]
    assert (got["arena/q1"].chosen.content, got["arena/q1"].rejected.content) == ("a0", "b0")
    assert (got["arena/q2"].chosen.content, got["arena/q2"].rejected.content) == ("b0", "a0")
    assert got["arena/q2"].raw["chosen_model"] == "gpt-4"
    assert got["arena/q1"].conversation_id == "q1" and got["arena/q1"].user_id == "arena_user_1"
    assert dict(report.skipped) == {
        "Arena tie": 1, "Arena tie (bothbad)": 1, "Arena language not kept": 1,
        "Arena flagged by moderation or toxicity tagger": 1,
        "Arena multi-turn vote (arena_turns='first')": 1, "Arena identical replies": 1,
        "Arena duplicate question_id": 1}
    loose = PairingConfig(arena_turns="last", arena_languages=None, arena_drop_flagged=False)
    more = _by_id(arena_pairs(votes, loose)[0])
    assert {"arena/q5", "arena/q6", "arena/q7"} <= set(more)
    multi = more["arena/q7"]
    assert [t.content for t in multi.context] == ["q0", "a0", "q1"]  # the winner's history
    assert (multi.chosen.content, multi.rejected.content, multi.turns) == ("a1", "b1", 2)


def test_bad_settings_and_bad_raw_rows_are_named():
    with pytest.raises(ValueError, match="prism_equal_scores"):
        PairingConfig(prism_equal_scores="average")  # type: ignore[arg-type]
    with pytest.raises(RawSourceError, match=r"vote q9: field 'winner'"):
        vote_from_row({"question_id": "q9", "judge": "j", "winner": "model_c", "turn": 1},
                      "vote q9")
    with pytest.raises(RawSourceError, match=r"conversation_history\[1\]: field 'score'"):
        conversation_from_row({"conversation_id": "c1", "user_id": "u", "conversation_history": [
            {"turn": 0, "role": "user", "content": "q"}, _model(0, "x", 101, True, 0)]}, "row 5")
