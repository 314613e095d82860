"""The reference arm: the authors' package fitted and judged through the study's client."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest
from length_users import user as length_user

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.evaluation.predict import evaluate, fit_users, predict
from persona_judge.llm import ReplayMissError
from persona_judge.method.judge import ORDERS
from persona_judge.reference import extra
from persona_judge.reference.lm import OFFICIAL_MAX_TOKENS, REFERENCE_TEMPLATE, StudyLM
from persona_judge.reference.method import NAME, OfficialCodeMethod, package_rows
from persona_judge.reference.smoke import dspy_format_answer


def user(name: str, likes: str, n_test: int = 3, **counts: int) -> UserSplit:
    return length_user(name, likes, n_test=n_test, **counts)
def accuracy(records: list[Any]) -> float:
    return sum(r.correct for r in records) / len(records)


# -- the adapter --------------------------------------------------------------------------

def test_study_lm_sends_dspy_calls_through_the_cached_client(make_client, server):
    client = make_client()
    lm = StudyLM(client)
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]
    first = lm(messages=messages)
    assert server.requests_seen == 1
    sent = server.requests[-1].body
    assert sent["messages"] == messages
    assert sent["max_tokens"] == OFFICIAL_MAX_TOKENS and sent["temperature"] == 0.0
    assert lm(messages=messages) == first            # the same call again: a cache hit
    assert server.requests_seen == 1 and client.stats.cache_hits == 1
    lm(messages=messages, temperature=0.5)            # another sampling parameter: a new call
    lm(messages=[*messages[:1], {"role": "user", "content": "hello!"}])  # other messages
    lm(messages=messages, max_tokens=100)
    assert server.requests_seen == 4 and client.stats.calls == 4


def test_study_lm_cache_key_holds_messages_and_sampling_parameters(make_client):
    client = make_client()
    lm = StudyLM(client)
    messages = [{"role": "user", "content": "a"}]
    request = lm.request(messages=messages)
    assert request.template == REFERENCE_TEMPLATE
    assert request.max_tokens == OFFICIAL_MAX_TOKENS and request.temperature == 0.0
    keys = {client.key_for(r) for r in (
        request, lm.request(messages=[{"role": "user", "content": "b"}]),
        lm.request(messages=messages, temperature=0.7),
        lm.request(messages=messages, max_tokens=10),
        lm.request(messages=messages, top_p=0.9),
        lm.request(messages=messages, sample_index=1))}
    assert len(keys) == 6
    with pytest.raises(TypeError, match="logprobs"):
        lm.request(messages=messages, logprobs=True)


def test_study_lm_copies_share_the_client_not_the_settings(make_client):
    import copy

    lm = StudyLM(make_client())
    twin = lm.copy(temperature=0.7)
    assert twin.client is lm.client and twin.kwargs["temperature"] == 0.7
    assert lm.kwargs["temperature"] == 0.0
    assert copy.deepcopy(lm).client is lm.client


# -- the wrapped method -------------------------------------------------------------------

def test_official_code_fits_each_user_on_their_own_pairs_and_a_rerun_sends_nothing(
        make_client, server):
    users = [user("ann", "shorter"), user("bob", "longer", n_train=5, n_val=3)]
    method = OfficialCodeMethod(num_workers=2, num_workers_bootstrap=2)
    client = make_client()
    states = fit_users(method, users, client, progress=False)
    fitting = "\n".join(json.dumps(r.body) for r in server.requests)
    assert "-test-" not in fitting                      # no test pair reaches a fit
    assert all(f"{u}-val-" in fitting for u in ("ann", "bob"))  # validation does
    # the persona request carries the released program: its 6 worked demonstrations as turns
    persona_requests = [r.body for r in server.requests
                        if "past_judgements" in r.body["messages"][-1]["content"]]
    assert len(persona_requests) == 2
    assert all(len(b["messages"]) == 2 + 2 * 6 for b in persona_requests)
    records = evaluate(method, users, client, states)
    sent = server.requests_seen
    assert sent > 0 and client.stats.calls == sent

    # each user's persona names that user's taste, learned from that user's pairs only
    assert "favours the shorter" in states["ann"].persona
    assert "favours the longer" in states["bob"].persona
    for u in users:
        text = json.dumps(states[u.user_id].to_dict())
        other = "bob" if u.user_id == "ann" else "ann"
        assert f"-{other}-" not in text and f"{u.user_id}-test-" not in text
    # both orders of every test pair, judged with that user's own state
    by_user = {u.user_id: [r for r in records if r.user_id == u.user_id] for u in users}
    for u in users:
        assert sorted((r.pair_id, r.order) for r in by_user[u.user_id]) == sorted(
            (p.pair_id, o) for p in u.test for o in ORDERS)
        assert all(r.method == NAME for r in by_user[u.user_id])
        assert accuracy(by_user[u.user_id]) >= 0.8
    # a swapped pairing (ann's fit judging bob's pairs) would be visibly wrong
    swapped = predict(method, states["ann"], users[1].test, client)
    assert accuracy(swapped) <= 0.2
    sent = server.requests_seen

    # a rerun on the same cache: the same results, all from the cache, nothing sent
    again = make_client()
    states_again = fit_users(method, users, again, progress=False)
    assert evaluate(method, users, again, states_again) == records
    assert server.requests_seen == sent and again.stats.calls == 0
    assert again.stats.cache_hits > 0
    assert states_again == states


def test_a_replay_run_without_the_answers_names_the_missing_call(make_client):
    make_client().close()  # an empty cache
    client = make_client(cache_mode="replay")
    with pytest.raises(ReplayMissError):
        OfficialCodeMethod(num_workers=1, num_workers_bootstrap=1).fit(user("cy", "shorter"),
                                                                       client)


def _always(verdict: str | None):
    """A DSPy-format responder whose every judgement says ``verdict`` (None: says nothing)."""
    def respond(body: dict[str, Any]) -> str:
        last = str(body["messages"][-1]["content"])
        if "`[[ ## preference ## ]]`" not in last:
            return dspy_format_answer(body) or "not a DSPy request"
        said = f"[[ ## preference ## ]]\n{verdict}\n\n" if verdict else ""
        return f"[[ ## reasoning ## ]]\nscripted\n\n{said}[[ ## completed ## ]]"
    return respond


@pytest.mark.parametrize("responder", [_always("First")])
def test_both_orders_are_judged_so_a_position_habit_scores_one_half(make_client):
    users = [user("dee", "shorter", n_test=4), user("eve", "longer", n_test=2)]
    method = OfficialCodeMethod(num_workers=2, num_workers_bootstrap=2)
    client = make_client()
    records = evaluate(method, users, client, fit_users(method, users, client, progress=False))
    assert len(records) == 2 * 6
    assert all(r.choice == "A" for r in records)
    assert [r.correct for r in records] == [r.order == "chosen_first" for r in records]
    assert accuracy(records) == 0.5


@pytest.mark.parametrize("responder", [_always(None)])
def test_no_verdict_after_the_official_retries_counts_wrong(make_client):
    users = [user("fay", "shorter")]
    method = OfficialCodeMethod(num_workers=1, num_workers_bootstrap=1)
    client = make_client()
    records = evaluate(method, users, client, fit_users(method, users, client, progress=False))
    assert len(records) == 6
    assert all(r.choice is None and not r.correct for r in records)
    assert {r.failure for r in records} == {
        "no parseable answer in the official program's four attempts"}
    assert all(r.attempts > 1 for r in records)


def test_a_user_without_validation_pairs_gets_the_packages_default_judge(make_client):
    lonely = user("gus", "shorter", n_val=0)
    method = OfficialCodeMethod(num_workers=1, num_workers_bootstrap=1)
    client = make_client()
    state = method.fit(lonely, client)
    assert state.persona is None and "no validation pairs" in state.note
    records = evaluate(method, [lonely], client, {"gus": state})
    assert len(records) == 6 and {r.carries for r in records} == {"nothing"}
    assert {r.flag for r in records} == {state.note}


def test_package_rows_keep_the_benchmark_columns_the_package_reads():
    prism = Preference("u", "c", (Turn("user", "q"),), Turn("assistant", "x", "model"),
                       Turn("assistant", "y", "model"), "train", flip=True)
    row, = package_rows([prism])
    assert row["chosen"] == {"role": "model", "content": "x"}  # the role as the source wrote it
    assert row["flip"] is True and row["context"] == [{"role": "user", "content": "q"}]
    no_flip = Preference("u", "c", (Turn("user", "q"),), Turn("assistant", "x"),
                         Turn("assistant", "y"), "train")
    assert "flip" not in package_rows([no_flip, prism])[0]


# -- the extra ----------------------------------------------------------------------------

def test_a_missing_extra_is_named_with_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "synthesizeme" else real(name, *a))
    assert extra.reference_extra_missing() == ["synthesizeme"]
    with pytest.raises(extra.ReferenceExtraMissingError) as err:
        OfficialCodeMethod()
    message = str(err.value)
    assert 'pip install -e ".[reference]"' in message and "reference_arm" in message
    assert "\n" not in message


def test_the_extra_is_installed_here_at_the_pinned_versions():
    import dspy
    import synthesizeme.__metadata__ as meta  # noqa: F401

    assert extra.reference_extra_missing() == []
    assert dspy.__version__ == extra.DSPY_VERSION
    from importlib.metadata import version

    assert version("synthesizeme") == extra.SYNTHESIZEME_VERSION


def test_dspy_is_imported_without_network_or_a_cache_in_home():
    import os
    from pathlib import Path

    import dspy.clients as clients

    from persona_judge.reference import lm  # noqa: F401 (imports DSPy through import_dspy)

    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert not Path(clients.DISK_CACHE_DIR).is_relative_to(Path.home() / ".dspy_cache")
    assert Path(clients.DISK_CACHE_DIR).name == "dspy-unused"
