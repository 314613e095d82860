"""Prediction judges every test pair in both orders; ties and unparseable answers count as wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.evaluation.predict import evaluate, fit_users, predict, records_frame
from persona_judge.evaluation.protocol import PreferenceMethod
from persona_judge.evaluation.report import pooled_accuracy
from persona_judge.llm import client_from_env
from persona_judge.llm.standin import Fault, StandInServer
from persona_judge.method.judge import DefaultJudgeMethod
from persona_judge.method.synthesizeme import SynthesizeMe

_PAIR = re.compile(r"## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n## Your answer", re.DOTALL)


def responder(body: dict[str, Any]) -> str:
    """Picks the reply containing 'GOOD'; declares a tie if a reply says 'TIE'."""
    a, b = _PAIR.findall(body["messages"][-1]["content"])[-1]
    if "TIE" in a + b:
        return json.dumps({"reasoning": "cannot choose", "preferred": "tie"})
    return json.dumps({"reasoning": "scripted", "preferred": "A" if "GOOD" in a else "B"})


def pref(user: str, name: str, chosen: str, rejected: str) -> Preference:
    return Preference(user, name, (Turn("user", f"question {name}"),),
                      Turn("assistant", chosen), Turn("assistant", rejected), "test")


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with StandInServer(responder=responder) as server:
        client = client_from_env("m", cache_path=tmp_path / "c.sqlite", base_url=server.url,
                                 progress=False, max_parse_retries=0, max_retries=0,
                                 timeout=2.0)
        yield server, client
        client.close()


def test_both_orders_and_ties_count_as_wrong(setup) -> None:
    server, client = setup
    users = [
        UserSplit("u1", (), (), (pref("u1", "c1", "GOOD one", "plain"),
                                 pref("u1", "c2", "plain", "GOOD other"),
                                 pref("u1", "c3", "TIE a", "b"))),
        UserSplit("u2", (), (), (pref("u2", "c1", "GOOD x", "y"),)),
    ]
    method = DefaultJudgeMethod()
    assert isinstance(method, PreferenceMethod)
    states = fit_users(method, users, client, progress=False)
    assert server.requests_seen == 0  # the default judge fits nothing
    records = evaluate(method, users, client, states)
    assert server.requests_seen == 8 and len(records) == 8
    by = {(r.pair_id, r.order): r for r in records}
    for pair in ("u1/c1", "u2/c1"):  # chosen contains GOOD: right in both orders
        assert by[(pair, "chosen_first")].choice == "A" and by[(pair, "chosen_first")].correct
        assert by[(pair, "rejected_first")].choice == "B" and by[(pair, "rejected_first")].correct
    assert not by[("u1/c2", "chosen_first")].correct and not by[("u1/c2", "rejected_first")].correct
    tie = [by[("u1/c3", o)] for o in ("chosen_first", "rejected_first")]
    assert all(r.choice is None and not r.correct for r in tie)
    table = pooled_accuracy(records_frame(records), n_resamples=200)
    assert table.loc[0, "accuracy"] == pytest.approx(100 * 4 / 8)


def test_unparseable_answer_counts_as_wrong(setup) -> None:
    server, client = setup
    p = pref("u", "c1", "GOOD", "other")
    server.inject(Fault("unparseable"))
    records = predict(DefaultJudgeMethod(), None, [p], client, orders=("chosen_first",))
    assert records[0].choice is None and not records[0].correct and records[0].failure


def test_evaluate_needs_a_state_per_user(setup) -> None:
    _, client = setup
    user = UserSplit("u9", (), (), (pref("u9", "c1", "GOOD", "x"),))
    with pytest.raises(KeyError, match="No fitted state for user 'u9'"):
        evaluate(SynthesizeMe(), [user], client, {})


def test_fit_failure_names_the_user(setup) -> None:
    _, client = setup
    user = UserSplit("empty-user", (), (), ())
    with pytest.raises(RuntimeError, match="failed for user 'empty-user'"):
        fit_users(SynthesizeMe(), [user], client, progress=False)
