"""Persona transfer: each judge reads the writer's persona; paired statistics per judge."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from analyses_helpers import make_user, user_text

from persona_judge.analyses import transfer
from persona_judge.analyses.transfer import TransferDesign
from persona_judge.errors import SettingsError
from persona_judge.evaluation.report import compare_methods
from persona_judge.method.synthesizeme import SynthesizeMeConfig

CONFIG = SynthesizeMeConfig(n_candidates=2, m_candidates=2, variant="ours")  # JSON script
BIG, SMALL, MUTE = "org/big-70B", "org/small-8B", "org/mute-3B"


def responder(body: dict[str, Any]) -> str:
    """Personas name the model that wrote them (MUTE writes nothing usable); a judge picks A
    unless a persona written by BIG is in its prompt: then it picks the chosen reply (BIG's
    persona transfers: it is right in both orders)."""
    text = user_text(body)
    model = body["model"]
    if "Reply they picked" in text:
        return "" if model == MUTE else f"PERSONA-FROM-{model} likes short direct replies."
    pick = "A"
    if f"PERSONA-FROM-{BIG}" in text and "## Reply A" in text:
        shown_first = text.rsplit("## Reply A", 1)[1].split("## Reply B", 1)[0]
        pick = "A" if "Chosen reply for" in shown_first else "B"
    return json.dumps({"reasoning": f"scripted {model}", "preferred": pick})


@pytest.fixture
def run(make_client, tmp_path):
    servers, clients = {}, {}
    for model in (BIG, SMALL, MUTE):
        clients[model], servers[model] = make_client(responder, model=model,
                                                     cache=tmp_path / "shared.sqlite")
    users = [make_user("u1", 2, 1, 2), make_user("u2", 3, 1, 1)]
    design = TransferDesign(writers=(BIG, MUTE), judges=(SMALL, BIG))
    result = transfer.run_transfer(users, clients, CONFIG, design, max_workers=1)
    return result, servers, design


def _test_prompts(server):
    return [user_text(r.body) for r in server.requests
            if "## Reply A" in user_text(r.body) and "Question conv-u" in user_text(r.body)
            and "-x" in user_text(r.body).split("## Conversation", 2)[-1]]


def test_every_writer_also_judges_and_each_judge_reads_the_writers_persona(run):
    result, servers, design = run
    assert design.judges == (BIG, MUTE, SMALL)
    frame = result.judgments
    n_judgments = 2 * (2 + 1)  # both orders of every test pair of both users
    for judge in design.judges:
        mine = frame[frame["judge"] == judge]
        names = sorted(mine["method"].unique())
        expected = sorted([transfer.DEFAULT, transfer.OWN]
                          + [transfer.by_writer(w) for w in design.writers if w != judge])
        assert names == expected
        assert (mine.groupby("method").size() == n_judgments).all()
    small = frame[(frame["judge"] == SMALL) & (frame["method"] == transfer.by_writer(BIG))]
    # BIG's persona made SMALL pick the chosen reply, in both orders
    assert (small["choice"] == small["order"].map({"chosen_first": "A",
                                                   "rejected_first": "B"})).all()
    assert small["correct"].all()
    own = frame[(frame["judge"] == SMALL) & (frame["method"] == transfer.OWN)]
    assert (own["choice"] == "A").all()
    prompts = _test_prompts(servers[SMALL])
    assert sum(f"PERSONA-FROM-{BIG}" in p for p in prompts) == n_judgments
    assert sum(f"PERSONA-FROM-{SMALL}" in p for p in prompts) == n_judgments
    assert not any(f"PERSONA-FROM-{BIG}" in p for p in _test_prompts(servers[MUTE])
                   if "## About this person" not in p)


def test_a_writer_without_a_usable_persona_is_flagged_not_hidden(run):
    result, _, _ = run
    frame = result.judgments
    mute = frame[frame["method"] == transfer.by_writer(MUTE)]
    assert len(mute) and (mute["carries"] == "nothing").all() and (mute["flag"] != "").all()
    assert (frame[frame["method"] == transfer.DEFAULT]["flag"] == "").all()


def test_spend_is_counted_per_model_and_adds_up(run):
    result, servers, design = run
    spend = result.spend
    for model in design.models:
        rows = spend[spend["model"] == model]
        assert rows["calls"].sum() == servers[model].requests_seen
    assert spend.iloc[-1]["calls"] == sum(s.requests_seen for s in servers.values())


def test_comparisons_are_the_evaluation_reports_paired_tests_within_each_judge(run):
    result, _, design = run
    table = transfer.transfer_comparisons(result.judgments, design, n_resamples=300)
    row = table[(table["judge"] == SMALL) & (table["method_a"] == transfer.by_writer(BIG))
                & (table["method_b"] == transfer.OWN)].iloc[0]
    small = result.judgments[result.judgments["judge"] == SMALL]
    direct = compare_methods(small, transfer.by_writer(BIG), transfer.OWN, n_resamples=300)
    # BIG's persona: right in both orders; SMALL's own (always A): right in one of two. The
    # sign says which is better: writer's persona minus the judge's own
    assert row["difference"] == pytest.approx(direct["difference"]) == pytest.approx(50.0)
    assert row["p (pair)"] == pytest.approx(direct["p (pair)"])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((direct["ci_low"],
                                                             direct["ci_high"]))
    by_hand = small.groupby("method")["correct"].mean()
    assert row["difference"] == pytest.approx(
        100 * (by_hand[transfer.by_writer(BIG)] - by_hand[transfer.OWN]))
    families = table.groupby("judge").size().to_dict()
    assert families == {BIG: 3, MUTE: 3, SMALL: 5}  # Holm runs within each judge's family
    per_judge = transfer.accuracy_per_judge(result.judgments, n_resamples=200)
    assert set(per_judge["judge"]) == set(design.judges)


def test_design_checks():
    design = TransferDesign(writers=(BIG, BIG), judges=(SMALL, BIG))
    assert design.writers == (BIG,) and design.judges == (BIG, SMALL)
    assert [n for n, _ in design.conditions(SMALL)] == [transfer.DEFAULT, transfer.OWN,
                                                       transfer.by_writer(BIG)]
    assert [n for n, _ in design.conditions(BIG)] == [transfer.DEFAULT, transfer.OWN]
    with pytest.raises(SettingsError, match="last name part"):
        TransferDesign(writers=("a/x-8B",), judges=("b/x-8B",))
    with pytest.raises(SettingsError, match="components"):
        TransferDesign(writers=(BIG,), judges=(), components=("vibes",))
    with pytest.raises(SettingsError, match="writers"):
        TransferDesign(writers=(), judges=(SMALL,))
    settings = {"mode": "real", "model": BIG, "writers": None, "judges": [SMALL]}
    assert transfer.design_from_settings(settings).writers == (BIG,)
    assert re.fullmatch(r"persona by small-8B", transfer.by_writer(SMALL))


def test_users_without_training_pairs_are_a_settings_error(make_client):
    client, server = make_client(responder, model=BIG)
    with pytest.raises(SettingsError, match="training preference"):
        transfer.run_transfer([make_user("u1", 0, 2, 2)], {BIG: client}, CONFIG,
                              TransferDesign(writers=(BIG,), judges=()))
    assert server.requests_seen == 0
