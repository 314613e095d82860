"""Fitting one user against the stand-in server with a content-aware scripted judge."""

from __future__ import annotations

import json

import pytest
from scripted import ScriptedJudge, final_pair, is_judge, pref, user_prompt, user_split

from persona_judge.llm.standin import Fault, StandInServer
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig, fit_user

VERIFIED = {"t1", "t2", "t4", "t6"}


def train_pairs(verified: set[str], n: int = 7) -> list:
    return [pref("u", f"t{i}", "train", chosen="[right]" if f"t{i}" in verified else "",
                 rejected="" if f"t{i}" in verified else "[right]") for i in range(1, n + 1)]


def judge_bodies(server: StandInServer) -> list[dict]:
    return [r.body for r in server.requests if is_judge(r.body)]


def persona_bodies(server: StandInServer) -> list[dict]:
    return [r.body for r in server.requests if not is_judge(r.body)]


def test_only_verified_traces_are_kept_and_shown(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client)
    assert {t.pair_id.split("/")[1] for t in art.traces if t.verified} == VERIFIED
    assert len(art.traces) == 7 and all(t.reasoning for t in art.traces)
    # step-1 prompts (no persona yet) show reasoning only for verified pairs
    for body in judge_bodies(server):
        profile, _, _ = final_pair(body)
        if "## About this person" not in profile:
            assert not any(f"conv-t{i}" in profile for i in (3, 5, 7))
    # the persona is written from verified reasoning only
    (persona_body,) = persona_bodies(server)
    text = user_prompt(persona_body)
    assert all(f"conv-{t}" not in text for t in ("t3", "t5", "t7"))
    assert "no analysis on record" not in text
    # demos of unverified pairs (step 3) carry the user's choice but no reasoning
    for demo in art.demo_set:
        assert (demo.reasoning is not None) == (demo.preference.conversation_id in VERIFIED)


def test_traces_are_generated_once_per_training_pair(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]  # never perfect
    fit_user(user_split("u", train_pairs(VERIFIED), val), client)
    judged = [user_prompt(b).split("## Conversation\n")[-1].split(":")[1]
              for b in judge_bodies(server)]
    trace_calls = sorted(q for q in judged if q.startswith(" Question conv-t"))
    assert trace_calls == [f" Question conv-t{i}" for i in range(1, 8)]


def expected_score(members: tuple[str, ...], needs: dict[str, str]) -> int:
    names = {m.split("/")[1] for m in members}
    return sum(need in names for need in needs.values())


def test_highest_scoring_candidate_wins_in_both_searches(server: StandInServer, client) -> None:
    needs = {"v1": "t1", "v2": "t2", "v3": "t4"}
    val = [pref("u", v, "val", chosen=f"[needs:{t}]") for v, t in needs.items()]
    config = SynthesizeMeConfig(include_full_set=False, subset_size=2, demo_set_size=2, seed=1)
    art = fit_user(user_split("u", train_pairs(set("t1 t2 t3 t4 t5 t6 t7".split())), val),
                   client, config)
    for search, winner in ((art.bootstrap_candidates, art.bootstrap_winner),
                           (art.demo_candidates, art.demo_winner)):
        scored = [c for c in search if c.n_correct is not None]
        for cand in scored:
            assert cand.n_correct == expected_score(cand.members, needs), cand
        best = max(c.n_correct for c in scored)
        assert winner == min(c.index for c in scored if c.n_correct == best)
        assert best > min(c.n_correct for c in scored)  # the test distinguishes candidates
    assert {d.preference.pair_id for d in art.demo_set} == \
        set(art.demo_candidates[art.demo_winner].members)


def test_all_candidates_tie_goes_to_candidate_zero(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client)
    assert all(c.n_correct == 0 for c in art.bootstrap_candidates + art.demo_candidates)
    assert art.bootstrap_winner == 0 and art.demo_winner == 0


def test_perfect_candidate_stops_search(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[right]") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client)
    assert art.bootstrap_candidates[0].n_correct == 3
    assert all(c.status.startswith("skipped") for c in art.bootstrap_candidates[1:])
    # 7 traces + 3 for candidate 0 + persona + 3 for demo candidate 0
    assert server.requests_seen == 7 + 3 + 1 + 3


def test_no_trace_verifies(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 3)]
    art = fit_user(user_split("u", train_pairs(set()), val), client)
    assert art.verified_traces == [] and art.winning_traces == []
    assert any(f.startswith("no trace verified") for f in art.fallbacks)
    assert any(f.startswith("persona from labelled training pairs") for f in art.fallbacks)
    # every step-1 candidate is the default judge: scored once, the rest are duplicates
    assert art.bootstrap_candidates[0].status == "scored"
    assert all(c.status == "same as #0" for c in art.bootstrap_candidates[1:])
    text = user_prompt(persona_bodies(server)[0])
    assert all(f"conv-t{i}" in text for i in range(1, 8)) and "no analysis on record" in text
    assert art.persona is not None and all(d.reasoning is None for d in art.demo_set)


def test_single_validation_pair(server: StandInServer, client) -> None:
    art = fit_user(user_split("u", train_pairs(VERIFIED), [pref("u", "v1", "val",
                                                               chosen="[needs:t2]")]), client)
    assert any(f.startswith("one validation pair") for f in art.fallbacks)
    scored = [c for c in art.bootstrap_candidates if c.n_correct is not None]
    assert {c.n_correct for c in scored} <= {0, 1} and all(c.n_judged == 1 for c in scored)
    assert art.bootstrap_winner == min(c.index for c in scored if c.n_correct == max(
        s.n_correct for s in scored))


def test_no_validation_pairs(server: StandInServer, client) -> None:
    art = fit_user(user_split("u", train_pairs(VERIFIED), []), client)
    assert art.bootstrap_winner == 0 and art.demo_winner == 0
    assert all(c.status.startswith("not scored") for c in art.bootstrap_candidates)
    assert any(f.startswith("no validation pairs") for f in art.fallbacks)
    assert server.requests_seen == 7 + 1  # traces and the persona only


def test_no_training_pairs_is_an_error_naming_the_user(client) -> None:
    with pytest.raises(ValueError, match="'lonely' has no training preferences"):
        fit_user(user_split("lonely", [], [pref("lonely", "v1", "val")]), client)


@pytest.mark.parametrize("answers,expect_persona,fallback", [
    (["", "Persona: A warm reader who wants gentle, encouraging replies."], True,
     "persona retried once"),
    (["", "  ok  "], False, "no usable persona"),
])
def test_persona_unusable_then_retry_or_fallback(judge: ScriptedJudge, server: StandInServer,
                                                 client, answers, expect_persona, fallback
                                                 ) -> None:
    judge.persona_answers = list(answers)
    val = [pref("u", f"v{i}", "val", chosen="[persona]") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client)
    assert any(f.startswith(fallback) for f in art.fallbacks)
    bodies = persona_bodies(server)
    assert len(bodies) == 2 and bodies[1]["temperature"] == pytest.approx(0.7)
    if expect_persona:
        assert art.persona == "A warm reader who wants gentle, encouraging replies."
        assert all(c.n_correct == 3 for c in art.demo_candidates if c.n_correct is not None)
    else:
        assert art.persona is None
        assert "## About this person" not in art.judge_request(val[0], "chosen_first"
                                                               ).messages[1]["content"]
        assert all(c.n_correct == 0 for c in art.demo_candidates)


def test_persona_call_failure_falls_back(server: StandInServer, make_client) -> None:
    client = make_client(max_retries=0)
    server.inject(Fault("500", match="Reply they picked"), Fault("500", match="Reply they picked"))
    art = fit_user(user_split("u", train_pairs(VERIFIED), [pref("u", "v1", "val")]), client)
    assert art.persona is None
    assert any("call failed" in f and f.startswith("no usable persona") for f in art.fallbacks)


def test_components_ablation_persona_only_skips_demo_search(server: StandInServer,
                                                            client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]
    method = SynthesizeMe(SynthesizeMeConfig(components=("persona",)))
    art = method.fit(user_split("u", train_pairs(VERIFIED), val), client)
    assert art.demo_candidates == [] and art.demo_set == []
    text = method.judge_request(art, val[0], "chosen_first").messages[1]["content"]
    assert "## About this person" in text and "## Earlier choices" not in text
    assert method.name == "SynthesizeMe (persona only)"
    assert json.dumps(art.to_dict())  # serializable
