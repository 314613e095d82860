"""The chapters' per-user summaries, checked against hand-counted values on hand-built fits."""

from __future__ import annotations

import pandas as pd
from scripted import pref, user_split

from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.bootstrap import BootstrapResult, Trace
from persona_judge.method.judge import Demo
from persona_judge.method.selection import CandidateScore, Spend
from persona_judge.method.tables import (
    bootstrap_candidates_table,
    candidate_summary,
    demos_table,
    requests_by_step,
    trace_card,
    trace_summary,
    traces_table,
)

U1 = user_split("u1", [pref("u1", "t1", "train"), pref("u1", "t2", "train"),
                       pref("u1", "t3", "train")], [pref("u1", "v1", "val")])
U2 = user_split("u2", [pref("u2", "s1", "train")], [pref("u2", "w1", "val"),
                                                     pref("u2", "w2", "val")])


def _ids(user):
    return [p.pair_id for p in user.train]


def _traces() -> dict[str, BootstrapResult]:
    a, b, c = _ids(U1)
    (d,) = _ids(U2)
    u1 = [Trace(a, "chosen_first", "A is kinder.", "A", True),
          Trace(b, "rejected_first", "A reads better.", "A", False),
          Trace(c, "chosen_first", "", None, False, failure="unparseable answer")]
    u2 = [Trace(d, "rejected_first", "B is shorter.", "B", True)]
    u1_cands = [CandidateScore(0, (), 1, 1, kind="labels only", labelled=(a, b)),
                CandidateScore(1, (a,), 1, 1, kind="full set"),
                CandidateScore(2, (a,), 1, 1, status="same as #1", kind="random"),
                CandidateScore(3, (a,), None, 0, status="skipped: #0 reached 80%",
                               kind="random")]
    u2_cands = [CandidateScore(0, (), 1, 2, kind="labels only", labelled=(d,)),
                CandidateScore(1, (d,), 2, 2, kind="full set"),
                CandidateScore(2, (d,), 0, 2, status="scored after the stop", kind="random")]
    return {"u1": BootstrapResult(u1, u1_cands, 0, Spend(), Spend()),
            "u2": BootstrapResult(u2, u2_cands, 1, Spend(), Spend())}


def test_trace_summary_counts_verified_discarded_and_no_answer_per_user():
    summary = trace_summary(traces_table([U1, U2], _traces())).set_index("user_id")
    assert summary.loc["u1", ["training pairs", "verified", "discarded", "no answer"]
                       ].tolist() == [3, 1, 2, 1]
    assert summary.loc["u1", "verified (%)"] == 100 / 3
    assert summary.loc["u2", ["training pairs", "verified", "discarded", "no answer"]
                       ].tolist() == [1, 1, 0, 0]
    assert list(summary.index) == ["u1", "u2"]  # the users' order, not sorted
    assert trace_summary(pd.DataFrame()).empty


def test_candidate_summary_names_the_winner_counts_judged_candidates_and_ties():
    table = bootstrap_candidates_table([U1, U2], _traces())
    summary = candidate_summary(table).set_index("user_id")
    # u1: #0 wins (ties go to the earliest) with 1 of 1; #1 and its copy #2 tie with it;
    # #2 was not judged again and #3 was skipped after the stop.
    assert summary.loc["u1", ["candidates", "judged", "val pairs", "winner", "ties"]
                       ].tolist() == [4, 2, 1, "#0 labels only", 2]
    assert summary.loc["u1", "val accuracy (%)"] == 100.0
    # u2: #1 wins with 2 of 2; #2 was judged after the stop (counted as judged), nobody ties.
    assert summary.loc["u2", ["candidates", "judged", "val pairs", "winner", "ties"]
                       ].tolist() == [3, 3, 2, "#1 full set", 0]
    assert summary.loc["u2", "val accuracy (%)"] == 100.0


def test_candidate_summary_keeps_each_users_searches_together():
    one = bootstrap_candidates_table([U1, U2], _traces())
    other = one.assign(search="demo selection")
    summary = candidate_summary(pd.concat([one, other], ignore_index=True))
    assert list(zip(summary["user_id"], summary["search"], strict=True)) == [
        ("u1", "bootstrap reasoning"), ("u1", "demo selection"),
        ("u2", "bootstrap reasoning"), ("u2", "demo selection")]
    assert candidate_summary(pd.DataFrame()).empty


def test_trace_card_shows_the_pair_in_the_order_the_judge_saw_it():
    results = _traces()
    flipped = results["u1"].traces[1]  # rejected first: reply A is the rejected one
    card = trace_card(U1, flipped)
    train = U1.train[1]
    assert card.index(train.rejected.content) < card.index(train.chosen.content)
    assert "judge said **A**, the user chose **B**" in card
    assert "discarded: the judge picked the reply the user rejected" in card
    assert "> A reads better." in card
    unanswered = trace_card(U1, results["u1"].traces[2])
    assert "the judge gave no choice" in unanswered and "> unparseable answer" in unanswered
    kept = trace_card(U1, results["u1"].traces[0])
    assert kept.index(U1.train[0].chosen.content) < kept.index(U1.train[0].rejected.content)
    assert "verified" in kept


def _artifact(user_id: str, demos: list[Demo], spend: dict[str, Spend]) -> SynthesizeMeArtifact:
    return SynthesizeMeArtifact(
        user_id=user_id, model="m", seed=0, settings={}, templates={},
        components=("persona", "demos"), val_orders={}, traces=[], bootstrap_candidates=[],
        bootstrap_winner=0, persona="p", persona_source_pairs=[], demo_candidates=[],
        demo_winner=0, demo_set=demos, spend=spend)


def test_demos_table_and_requests_by_step():
    t1, t2, _ = U1.train
    artifacts = {
        "u1": _artifact("u1", [Demo(t2, "rejected_first", "why"), Demo(t1, "chosen_first")],
                        {"bootstrap traces": Spend(requests=3, rounds=1),
                         "persona": Spend(requests=2, rounds=2)}),
        "u2": _artifact("u2", [], {"bootstrap traces": Spend(requests=1, rounds=1)}),
    }
    demos = demos_table(artifacts)
    assert demos[["user_id", "pair_id", "shown", "answer", "with reasoning"]].values.tolist() == [
        ["u1", t2.pair_id, "rejected_first", "B", True],
        ["u1", t1.pair_id, "chosen_first", "A", False]]
    assert demos.loc[0, "query"] == t2.query
    requests = requests_by_step(artifacts).set_index("user_id")
    assert list(requests.columns) == ["bootstrap traces", "persona", "rounds"]
    assert requests.loc["u1"].tolist() == [3, 2, 3]
    assert requests.loc["u2", "bootstrap traces"] == 1 and requests.loc["u2", "rounds"] == 1
    assert pd.isna(requests.loc["u2", "persona"])
