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
    good1, wrong, tied = (pref("u1", "c1", "GOOD one", "plain"),
                          pref("u1", "c2", "plain", "GOOD other"), pref("u1", "c3", "TIE a", "b"))
    good2 = pref("u2", "c1", "GOOD x", "y")
    users = [UserSplit("u1", (), (), (good1, wrong, tied)), UserSplit("u2", (), (), (good2,))]
    method = DefaultJudgeMethod()
    assert isinstance(method, PreferenceMethod)
    states = fit_users(method, users, client, progress=False)
    assert server.requests_seen == 0  # the default judge fits nothing
    records = evaluate(method, users, client, states)
    assert server.requests_seen == 8 and len(records) == 8
    by = {(r.pair_id, r.order): r for r in records}  # pair ids are opaque: key by the record's
    for pair in (good1.pair_id, good2.pair_id):  # chosen contains GOOD: right in both orders
        assert by[(pair, "chosen_first")].choice == "A" and by[(pair, "chosen_first")].correct
        assert by[(pair, "rejected_first")].choice == "B" and by[(pair, "rejected_first")].correct
    assert not by[(wrong.pair_id, "chosen_first")].correct
    assert not by[(wrong.pair_id, "rejected_first")].correct
    tie = [by[(tied.pair_id, o)] for o in ("chosen_first", "rejected_first")]
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
    from persona_judge.evaluation.predict import FitFailedError

    _, client = setup
    user = UserSplit("empty-user", (), (), ())
    with pytest.raises(FitFailedError, match="failed for user 'empty-user'"):
        fit_users(SynthesizeMe(), [user], client, progress=False)


def test_a_bug_in_a_fit_keeps_its_own_type_and_traceback(setup, monkeypatch) -> None:
    _, client = setup
    user = UserSplit("u", (), (), ())

    class Buggy(SynthesizeMe):
        def fit(self, user_split, client):
            raise KeyError("a bug, not bad input")

    with pytest.raises(KeyError, match="a bug"):
        fit_users(Buggy(), [user], client, progress=False)


def test_main_results_run_save_and_reload(tmp_path: Path, monkeypatch) -> None:
    from persona_judge.evaluation.main_results import (
        RECORDED,
        MainResults,
        run_main_results,
    )
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
        # this user has no recorded judges' columns: they score "missing" (wrong), not dropped
        results = run_main_results([user], client, progress=False)
        client.close()
    frame = results.judgments
    assert sorted(frame["method"].unique()) == sorted([
        "Memory", "Random demos + persona", "SynthesizeMe (demos only)",
        "SynthesizeMe (demos only, searched without persona)", "SynthesizeMe (persona + demos)",
        "SynthesizeMe (persona only)", "default judge",
        *RECORDED])
    assert (frame.groupby("method").size() == 6).all()  # 3 test pairs x 2 orders each
    assert not frame[frame["method"].isin(RECORDED)]["correct"].any()
    spend = results.spend.set_index("stage")
    # the ablations and random demos reuse the fit: each costs only its 6 test judgments
    for ablation in ("SynthesizeMe (persona only)", "SynthesizeMe (demos only)",
                     "Random demos + persona"):
        stage = f"evaluate {ablation}"
        assert spend.loc[stage, "calls"] + spend.loc[stage, "cache_hits"] == 6
    assert spend.loc["score recorded judges (no calls)", ["calls", "cache_hits",
                                                          "prompt_tokens"]].sum() == 0
    assert spend.loc["total", "calls"] == server.requests_seen
    assert spend.loc["total", "attempts"] >= spend.loc["total", "calls"]
    art = results.artifacts["u1"]
    carries = frame.groupby("method")["carries"].first().to_dict()
    assert carries["default judge"] == "nothing"
    assert carries["SynthesizeMe (persona only)"] == ("persona" if art.persona else "nothing")
    folder = tmp_path / "run"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "9999.json").write_text("{}")  # a stale user from an older run
    loaded = MainResults.load(results.save(folder))
    assert sorted(p.name for p in (folder / "artifacts").iterdir()) == ["0000.json"]
    assert loaded.artifacts["u1"].to_dict() == results.artifacts["u1"].to_dict()
    pd_cols = ["method", "pair_id", "order", "correct", "carries", "flag"]
    assert loaded.judgments[pd_cols].equals(frame[pd_cols])
    assert loaded.judgments["choice"].tolist() == frame["choice"].tolist()
    assert loaded.notes == results.notes
    table = beside_paper(pooled_accuracy(frame, n_resamples=100), "chatbot_arena",
                         "meta-llama/Llama-3.3-70B-Instruct-Turbo").set_index("method")
    assert table.loc["default judge", "paper"] == 56.69
    assert table.loc["default judge", "delta"] == pytest.approx(
        table.loc["default judge", "accuracy"] - 56.69)
    other = beside_paper(pooled_accuracy(frame, n_resamples=100), "prism", "x")
    assert other["paper"].isna().all() and other["paper inside CI"].isna().all()


def test_ablation_without_a_component_is_flagged_in_judgments(setup) -> None:
    from persona_judge.method.artifact import SynthesizeMeArtifact

    _, client = setup
    user = UserSplit("u1", (), (), (pref("u1", "c1", "GOOD", "x"),))
    art = SynthesizeMeArtifact(
        user_id="u1", model="m", seed=0, settings={}, templates={
            "judge_default": "judge_default@v1", "judge_personalized": "judge_personalized@v1"},
        components=("persona", "demos"), val_orders={}, traces=[], bootstrap_candidates=[],
        bootstrap_winner=0, persona=None, persona_source_pairs=[], demo_candidates=[],
        demo_winner=0, demo_set=[])
    method = SynthesizeMe(name="SynthesizeMe (persona only)")
    records = evaluate(method, [user], client, {"u1": art.with_components(("persona",))})
    assert all(r.carries == "nothing" and "no persona" in r.flag and "default judge" in r.flag
               for r in records)
    assert [r.correct for r in records] == [True, True]  # it really was the default judge


def test_evaluate_many_sends_one_batch(setup) -> None:
    from persona_judge.evaluation.predict import evaluate_many

    server, client = setup
    users = [UserSplit("u1", (), (), (pref("u1", "c1", "GOOD", "x"),))]
    method = DefaultJudgeMethod()
    records = evaluate_many([(method, {"u1": None}), (method, {"u1": None})], users, client)
    assert len(records) == 4 and server.requests_seen == 2  # identical requests asked once


def test_run_dir_keys_everything_that_defines_a_run(tmp_path: Path) -> None:
    from persona_judge.paths import run_dir

    settings = {"mode": "smoke", "dataset": "prism", "model": "meta-llama/Llama-3.3-70B",
                "users": ["a", "b"], "seed": 0, "method": {"algorithm": "faithful"},
                "data_revision": None}
    first = run_dir("main_results", settings, root=tmp_path)
    assert first.name.startswith("main_results-smoke-prism-Llama-3.3-70B-")
    assert json.loads((first / "settings.json").read_text())["users"] == ["a", "b"]
    assert run_dir("main_results", dict(reversed(settings.items())), root=tmp_path) == first
    for key, value in (("users", ["a"]), ("seed", 1), ("method", {"algorithm": "lite"}),
                       ("data_revision", "abc123"), ("model", "other")):
        assert run_dir("main_results", {**settings, key: value}, root=tmp_path) != first, key
    assert run_dir("other_kind", settings, root=tmp_path) != first
