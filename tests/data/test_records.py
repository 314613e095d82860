"""Records: round trips, roles as published, and stored, content-derived pair ids."""

import hashlib
import json

from persona_judge.data.records import (
    Preference,
    Turn,
    UserSplit,
    content_pair_id,
    group_by_user,
)


def _pref(user="u1", conv="c1", split="train", rejected="Another plan", **extra):
    return Preference(user, conv, (Turn("user", "hi"), Turn("assistant", "hello"),
                                   Turn("user", "plan my day")),
                      Turn("assistant", "A plan"), Turn("assistant", rejected), split,
                      dataset="prism", type="unguided", turns=2, flip=False, extra=extra)


def test_preference_round_trips_through_json_with_extra_columns_and_its_id():
    pref = _pref(agreement=0.4, **{"prediction_Qwen/Qwen2.5-72B-Instruct": "First"})
    again = Preference.from_dict(json.loads(json.dumps(pref.to_dict())))
    assert again == pref and again.pair_id == pref.pair_id
    assert again.extra == {"agreement": 0.4, "prediction_Qwen/Qwen2.5-72B-Instruct": "First"}


def test_the_derived_pair_id_is_user_conversation_and_a_content_hash():
    pref = _pref()
    canonical = json.dumps(
        {"context": [["user", "hi"], ["assistant", "hello"], ["user", "plan my day"]],
         "chosen": ["assistant", "A plan"], "rejected": ["assistant", "Another plan"]},
        sort_keys=True, separators=(",", ":"))
    expected = "u1/c1/" + hashlib.sha256(canonical.encode()).hexdigest()[:10]
    assert pref.pair_id == expected
    assert pref.query == "plan my day"


def test_pairs_of_one_conversation_get_different_ids_and_a_stored_id_is_kept():
    one, two = _pref(rejected="Plan B"), _pref(rejected="Plan C")
    assert (one.user_id, one.conversation_id) == (two.user_id, two.conversation_id)
    assert one.pair_id != two.pair_id
    # the id does not depend on anything but user, conversation and content
    assert _pref(rejected="Plan B", split="test").pair_id == one.pair_id
    kept = Preference.from_dict({**one.to_dict(), "pair_id": "benchmark-row-17"})
    assert kept.pair_id == "benchmark-row-17"


def test_model_role_reads_as_assistant_and_keeps_the_published_role():
    turn = Turn.from_source("model", "Hello")
    assert (turn.role, turn.source_role, turn.published_role) == ("assistant", "model", "model")
    assert turn == Turn("assistant", "Hello")  # the published role is not part of equality
    assert Turn.from_dict(turn.to_dict()).source_role == "model"
    assert Turn.from_dict({"role": "model", "content": "Hi"}) == Turn("assistant", "Hi")
    plain = Turn.from_source("user", "Hi")
    assert plain.source_role is None and "source_role" not in plain.to_dict()
    # a PRISM pair and the same pair written with "assistant" are one pair
    prism = Preference("u", "c", (Turn.from_source("user", "q"),), Turn.from_source("model", "a"),
                       Turn.from_source("model", "b"), "train")
    assert prism.pair_id == Preference("u", "c", (Turn("user", "q"),), Turn("assistant", "a"),
                                       Turn("assistant", "b"), "train").pair_id


def test_group_by_user_keeps_order_and_splits():
    prefs = [_pref("u2", "a", "test"), _pref("u1", "b", "train"), _pref("u2", "c", "train"),
             _pref("u2", "d", "val"), _pref("u2", "e", "train")]
    users = group_by_user(prefs)
    assert list(users) == ["u2", "u1"]
    assert [p.conversation_id for p in users["u2"].train] == ["c", "e"]
    assert [p.conversation_id for p in users["u2"].val] == ["d"]
    assert users["u2"].n_preferences == 4
    assert UserSplit.from_dict(json.loads(json.dumps(users["u2"].to_dict()))) == users["u2"]


def test_content_pair_id_is_the_function_records_use():
    pref = _pref()
    assert content_pair_id(pref.user_id, pref.conversation_id, pref.context, pref.chosen,
                           pref.rejected) == pref.pair_id
