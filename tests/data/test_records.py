import json

from persona_judge.data.records import Preference, Turn, UserSplit, group_by_user


def _pref(user="u1", conv="c1", split="train", **extra):
    return Preference(user, conv, (Turn("user", "hi"), Turn("assistant", "hello"),
                                   Turn("user", "plan my day")),
                      Turn("assistant", "A plan"), Turn("assistant", "Another plan"), split,
                      dataset="prism", type="unguided", turns=2, flip=False, extra=extra)


def test_preference_round_trips_through_json_with_extra_columns():
    pref = _pref(agreement=0.4, **{"prediction_Qwen/Qwen2.5-72B-Instruct": "A"})
    again = Preference.from_dict(json.loads(json.dumps(pref.to_dict())))
    assert again == pref
    assert again.extra == {"agreement": 0.4, "prediction_Qwen/Qwen2.5-72B-Instruct": "A"}


def test_pair_id_and_query_name_the_last_user_message():
    pref = _pref()
    assert pref.pair_id == "u1/c1"
    assert pref.query == "plan my day"


def test_group_by_user_keeps_order_and_splits():
    prefs = [_pref("u2", "a", "test"), _pref("u1", "b", "train"), _pref("u2", "c", "train"),
             _pref("u2", "d", "val"), _pref("u2", "e", "train")]
    users = group_by_user(prefs)
    assert list(users) == ["u2", "u1"]
    assert [p.conversation_id for p in users["u2"].train] == ["c", "e"]
    assert [p.conversation_id for p in users["u2"].val] == ["d"]
    assert users["u2"].n_preferences == 4
    assert UserSplit.from_dict(json.loads(json.dumps(users["u2"].to_dict()))) == users["u2"]
