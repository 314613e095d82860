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
                                 timeout=2.0, preflight=False)
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


def test_main_results_run_save_and_reload(tmp_path: Path, monkeypatch) -> None:
    from persona_judge.evaluation.main_results import MainResults, run_main_results
    from persona_judge.evaluation.report import beside_paper, pooled_accuracy
    from persona_judge.method.smoke import smoke_responder

    def p(name: str, split: str) -> Preference:
        return Preference("u1", name, (Turn("user", f"question {name}"),),
                          Turn("assistant", f"short {name}"),
                          Turn("assistant", f"a much longer answer to {name}"), split)

    user = UserSplit("u1", tuple(p(f"t{i}", "train") for i in range(4)),
                     tuple(p(f"v{i}", "val") for i in range(2)),
                     tuple(p(f"s{i}", "test") for i in range(3)))
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    with StandInServer(responder=smoke_responder) as server:
        client = client_from_env("m", cache_path=tmp_path / "c.sqlite", base_url=server.url,
                                 progress=False, preflight=False)
        results = run_main_results([user], client, progress=False)
        client.close()
    frame = results.judgments
    assert sorted(frame["method"].unique()) == ["SynthesizeMe (persona + demos)",
                                                "SynthesizeMe (persona only)", "default judge"]
    assert (frame.groupby("method").size() == 6).all()  # 3 test pairs x 2 orders each
    spend = results.spend.set_index("stage")
    # the persona-only ablation reuses the fit: it costs only its 6 test judgments
    assert spend.loc["evaluate SynthesizeMe (persona only)", "calls"] + spend.loc[
        "evaluate SynthesizeMe (persona only)", "cache_hits"] == 6
    assert spend.loc["total", "calls"] == server.requests_seen
    loaded = MainResults.load(results.save(tmp_path / "run"))
    assert loaded.artifacts["u1"].to_dict() == results.artifacts["u1"].to_dict()
    pd_cols = ["method", "pair_id", "order", "correct"]
    assert loaded.judgments[pd_cols].equals(frame[pd_cols])
    table = beside_paper(pooled_accuracy(frame, n_resamples=100), "chatbot_arena",
                         "meta-llama/Llama-3.3-70B-Instruct-Turbo")
    assert table.set_index("method").loc["default judge",
                                         "paper (Chatbot Arena, Llama 3.3 70B)"] == 56.69
    other = beside_paper(pooled_accuracy(frame, n_resamples=100), "prism", "x")
    assert other["paper (Chatbot Arena, Llama 3.3 70B)"].isna().all()
