"""The Memory judge sees the user's train + validation choices, labelled, and nothing else."""

from __future__ import annotations

import re

import pytest
from baselines_helpers import marked_user

from persona_judge.baselines.memory import JUDGE_MEMORY, MemoryLeakError, MemoryMethod
from persona_judge.data.records import UserSplit
from persona_judge.evaluation.predict import evaluate
from persona_judge.evaluation.protocol import PreferenceMethod


def _history_block(request) -> str:
    prompt = request.messages[1]["content"]
    return prompt[prompt.index("## This person's earlier choices"):prompt.rindex("## Conversation")]


def test_the_prompt_holds_every_train_and_val_choice_labelled_and_no_test_pair() -> None:
    user = marked_user("u1")
    method = MemoryMethod()
    assert isinstance(method, PreferenceMethod)
    state = method.fit(user)
    request = method.judge_request(state, user.test[0], "rejected_first")
    assert request.template == JUDGE_MEMORY
    history = _history_block(request)
    for pref in (*user.train, *user.val):
        tag = pref.conversation_id.removeprefix("conv-")
        # the chosen reply is labelled as chosen, the rejected one as turned down
        assert f"The reply they chose:\nshort CHOSEN[{tag}]" in history
        assert f"The reply they turned down:\na much longer and wordier REJECTED[{tag}]" in history
        assert f"MARK[{tag}]" in history
    assert history.count("### Earlier choice") == len(user.train) + len(user.val)
    # no test pair in the memory (the judged one appears only after it, as Reply A / B)
    assert "test-" not in history
    prompt = request.messages[1]["content"]
    assert prompt.count("test-0") == 3 and "test-1" not in prompt and "test-2" not in prompt


def test_no_reasoning_and_no_persona_in_the_memory() -> None:
    user = marked_user("u1")
    request = MemoryMethod().judge_request(MemoryMethod().fit(user), user.test[1], "chosen_first")
    history = _history_block(request)
    assert "reasoning" not in history.lower()
    assert "## About this person" not in request.messages[1]["content"]
    assert "persona" not in request.messages[0]["content"].lower()


def test_the_pair_to_judge_is_shown_in_the_asked_order() -> None:
    user = marked_user("u1")
    state = MemoryMethod().fit(user)
    for order, first in (("chosen_first", "CHOSEN"), ("rejected_first", "REJECTED")):
        prompt = MemoryMethod().judge_request(state, user.test[0], order).messages[1]["content"]
        reply_a = re.search(r"## Reply A\n(.*)\n\n## Reply B", prompt, re.DOTALL).group(1)
        assert f"{first}[u1-test-0]" in reply_a


def test_judging_a_remembered_pair_is_refused() -> None:
    user = marked_user("u1")
    state = MemoryMethod().fit(user)
    with pytest.raises(MemoryLeakError, match="u1-train-2"):
        MemoryMethod().judge_request(state, user.train[2], "chosen_first")


def test_a_user_without_history_gets_the_default_judge_and_a_flag() -> None:
    user = UserSplit("lonely", (), (), marked_user("lonely").test)
    method = MemoryMethod()
    state = method.fit(user)
    assert method.judge_request(state, user.test[0], "chosen_first").template == \
        "judge_default@v1"
    carries, flag = method.prompt_content(state)
    assert carries == "nothing" and "default judge" in flag


def test_memory_judges_every_test_pair_in_both_orders(client, server) -> None:
    users = [marked_user("u1"), marked_user("u2", n_test=2)]
    method = MemoryMethod()
    records = evaluate(method, users, client, {u.user_id: method.fit(u) for u in users})
    assert len(records) == 2 * 5 and server.requests_seen == 10
    assert {r.carries for r in records} == {"6 earlier choices"}
    # the smoke stand-in reads the remembered choices (the short reply was chosen each time)
    assert all(r.correct for r in records)


def test_a_study_can_hand_the_memory_any_subset() -> None:
    from persona_judge.baselines.memory import memory_request

    user = marked_user("u1")
    request = memory_request(user.test[0], "chosen_first", user.train[:2])
    history = _history_block(request)
    assert history.count("### Earlier choice") == 2
    assert "u1-train-0" in history and "u1-train-1" in history and "u1-train-2" not in history
    assert memory_request(user.test[0], "chosen_first", ()).template == "judge_default@v1"
