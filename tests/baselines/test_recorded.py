"""Recorded judges are scored with our protocol by hand: both orders, ties and unreadable wrong."""

from __future__ import annotations

import math

import pytest

from persona_judge.baselines.recorded import (
    RECORDED_JUDGES,
    column_orders,
    method_name,
    read_verdict,
    recorded_failures,
    recorded_judgments,
)
from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.evaluation.predict import records_frame
from persona_judge.evaluation.report import pooled_accuracy


@pytest.mark.parametrize(("value", "slot", "failure"), [
    ("First", 1, ""), ("second", 2, ""), (" 'First.' ", 1, ""), ("A", 1, ""), ("b", 2, ""),
    ("Response A", 1, ""), ("option b", 2, ""), ("completion_two", 2, ""), ("[[B]]", 2, ""),
    ("Response 1", 1, ""), ("Output 2", 2, ""), ("the second", 2, ""), ("(A)", 1, ""),
    (1, 1, ""), (2, 2, ""), (-1, 2, ""), (1.0, 1, ""), ("-1", 2, ""), ("2", 2, ""),
    (0, None, "tie"), ("Tie", None, "tie"), ("neither", None, "tie"),
    (None, None, "missing"), (float("nan"), None, "missing"), ("  ", None, "missing"),
    ("maybe the first", None, "unparseable: 'maybe the first'"), (3, None, "unparseable: 3"),
    ("AB", None, "unparseable: 'AB'"), ("Response C", None, "unparseable: 'Response C'"),
    (True, None, "unparseable: True"), (0.5, None, "unparseable: 0.5"),
])
def test_every_accepted_value_form_and_nothing_else(value, slot, failure) -> None:
    assert read_verdict(value) == (slot, failure)


def _pref(name: str, flip: bool | None, extra: dict) -> Preference:
    return Preference("u1", name, (Turn("user", f"question {name}"),),
                      Turn("assistant", f"chosen {name}"), Turn("assistant", f"rejected {name}"),
                      "test", flip=flip, extra=extra)


def test_column_order_follows_flip_and_can_be_inverted() -> None:
    # flip True: the row showed the chosen reply first (the public code's reading)
    assert column_orders(_pref("x", True, {})) == {"": "chosen_first", "flip_": "rejected_first"}
    assert column_orders(_pref("x", False, {})) == {"": "rejected_first", "flip_": "chosen_first"}
    assert column_orders(_pref("x", True, {}), flip_means_chosen_first=False) == \
        {"": "rejected_first", "flip_": "chosen_first"}


def test_scoring_by_hand_on_a_small_frame() -> None:
    j1, j2 = "meta-llama/Llama-3.3-70B-Instruct", "Qwen/Qwen2.5-72B-Instruct"
    # p1, flip True: prediction_ = chosen first (A is chosen), prediction_flip_ = rejected first.
    # p2, flip False: prediction_ = rejected first (B is chosen), prediction_flip_ = chosen first.
    p1 = _pref("c1", True, {f"prediction_{j1}": "First", f"prediction_flip_{j1}": "Second",
                             f"prediction_{j2}": "Second", f"prediction_flip_{j2}": "tie"})
    p2 = _pref("c2", False, {f"prediction_{j1}": "First", f"prediction_flip_{j1}": "A",
                            f"prediction_{j2}": "Second", f"prediction_flip_{j2}": "??"})
    records = recorded_judgments([UserSplit("u1", (), (), (p1, p2))], [j1, j2])
    assert len(records) == 8  # 2 judges x 2 pairs x 2 orders
    by = {(r.method, r.pair_id, r.order): r for r in records}
    a, b = method_name(j1), method_name(j2)
    # judge 1: p1 right in both orders; p2 shown rejected-first and picked "First" -> wrong,
    # shown chosen-first and picked "A" -> right.
    assert by[(a, p1.pair_id, "chosen_first")].correct
    assert by[(a, p1.pair_id, "rejected_first")].correct
    assert not by[(a, p2.pair_id, "rejected_first")].correct
    assert by[(a, p2.pair_id, "rejected_first")].choice == "A"
    assert by[(a, p2.pair_id, "chosen_first")].correct
    # judge 2: p1 chosen-first "Second" wrong, the tie wrong; p2 rejected-first "Second" right,
    # the unreadable value wrong.
    assert not by[(b, p1.pair_id, "chosen_first")].correct
    tie = by[(b, p1.pair_id, "rejected_first")]
    assert tie.choice is None and not tie.correct and tie.failure == "tie"
    assert by[(b, p2.pair_id, "rejected_first")].correct
    junk = by[(b, p2.pair_id, "chosen_first")]
    assert not junk.correct and junk.failure == "unparseable: '??'"
    assert all(r.prompt_tokens == 0 and r.attempts == 0 for r in records)  # no LLM call
    pooled = pooled_accuracy(records_frame(records), n_resamples=50).set_index("method")
    assert pooled.loc[a, "accuracy"] == pytest.approx(75.0)
    assert pooled.loc[b, "accuracy"] == pytest.approx(25.0)
    assert recorded_failures(records)[b] == {"judgments": 4, "tie": 1, "missing": 0,
                                             "unparseable": 1}


def test_a_missing_column_is_a_wrong_judgment_not_a_dropped_one() -> None:
    p = _pref("c1", True, {f"prediction_{RECORDED_JUDGES[0]}": "First"})
    records = recorded_judgments([UserSplit("u1", (), (), (p,))], [RECORDED_JUDGES[0]])
    assert [r.failure for r in records] == [None, "missing"]
    assert [r.correct for r in records] == [True, False]


def test_recorded_judges_cover_exactly_the_test_pairs_in_both_orders() -> None:
    from persona_judge.study.notebook import load_users

    users = load_users("prism", "smoke", 3, 0)
    records = recorded_judgments(users)
    expected = {(u.user_id, p.pair_id, o) for u in users for p in u.test
                for o in ("chosen_first", "rejected_first")}
    for judge in RECORDED_JUDGES:
        got = {(r.user_id, r.pair_id, r.order) for r in records if r.method == method_name(judge)}
        assert got == expected
    # the fixture's published columns all parse: no judgment is lost to the reading
    assert not any(r.failure for r in records)
    accuracy = sum(r.correct for r in records) / len(records)
    assert not math.isclose(accuracy, 0.0) and not math.isclose(accuracy, 1.0)


def test_reading_agrees_with_the_benchmark_agreement_column() -> None:
    """The fixture writes ``agreement`` = share of the ten recorded judgments that pick the
    chosen reply; our reading of the columns must give exactly that share for every pair."""
    from persona_judge.study.notebook import load_users

    users = load_users("chatbot_arena", "smoke", None, 0)
    records = recorded_judgments(users)
    for user in users:
        for pref in user.test:
            mine = [r.correct for r in records if r.pair_id == pref.pair_id]
            assert len(mine) == 10
            assert sum(mine) / 10 == pytest.approx(pref.extra["agreement"]), pref.pair_id
