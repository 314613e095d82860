"""Fitting one user against the stand-in server with a content-aware scripted judge."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from scripted import ScriptedJudge, final_pair, is_judge, pref, user_prompt, user_split

from persona_judge.errors import PersonaJudgeError
from persona_judge.llm.standin import Fault, StandInServer
from persona_judge.method.synthesizeme import (
    NotEnoughPreferencesError,
    SynthesizeMe,
    SynthesizeMeConfig,
    fit_user,
)

VERIFIED = {"t1", "t2", "t4", "t6"}
_DEMO = re.compile(r"### Earlier choice \d+\nConversation:\nUser: Question conv-(\w+):.*?"
                   r"Their choice: (\{.*?\})\n", re.DOTALL)

# These tests check the search logic in our earlier variant's prompts (JSON A/B), which the
# scripted judge reads; the public variant's prompts are tested in test_faithful.py.
OURS_SETTINGS = {"variant": "ours", "demos_only_search": False}
OURS = SynthesizeMeConfig(**OURS_SETTINGS)


def train_pairs(verified: set[str], n: int = 7, user: str = "u") -> list:
    return [pref(user, f"t{i}", "train", chosen="[right]" if f"t{i}" in verified else "",
                 rejected="" if f"t{i}" in verified else "[right]") for i in range(1, n + 1)]


def judge_bodies(server: StandInServer) -> list[dict]:
    return [r.body for r in server.requests if is_judge(r.body)]


def persona_bodies(server: StandInServer) -> list[dict]:
    return [r.body for r in server.requests if not is_judge(r.body)]


def judged_name(body: dict) -> str:
    """The conversation name (t3, v1, ...) of the pair a judge request asks about."""
    tail = user_prompt(body).rsplit("## Conversation\n", 1)[1]
    return re.search(r"conv-(\w+)", tail).group(1)


def demos_shown(body: dict) -> dict[str, bool]:
    """{conversation name: shown with reasoning} for the demos in a judge request."""
    profile, _, _ = final_pair(body)
    return {name: "reasoning" in json.loads(answer) for name, answer in _DEMO.findall(profile)}


def has_persona(body: dict) -> bool:
    return "## About this person" in final_pair(body)[0]


def names(ids) -> set[str]:
    """Conversation names of pair ids (test data only: scripted ids are
    ``<user>/<conversation>/<content hash>`` and each conversation holds one pair)."""
    return {i.split("/")[1] for i in ids}


def test_faithful_fit_end_to_end(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]  # never right
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client, OURS)
    bodies = judge_bodies(server)
    traces = [b for b in bodies if judged_name(b).startswith("t") and not has_persona(b)]
    demo_traces = [b for b in bodies if judged_name(b).startswith("t") and has_persona(b)]
    # one trace per training pair in each of steps 1 and 3 (the latter with the persona)
    assert sorted(judged_name(b) for b in traces) == [f"t{i}" for i in range(1, 8)]
    assert sorted(judged_name(b) for b in demo_traces) == [f"t{i}" for i in range(1, 8)]
    for body in traces + demo_traces:
        shown = demos_shown(body)
        assert 0 < len(shown) <= 4 and judged_name(body) not in shown  # other labelled choices
        assert not any(shown.values())  # the context is labelled: choices only
        assert "hypotheses" in body["messages"][0]["content"] or has_persona(body)
    # verified reasoning only, anywhere it is shown
    for body in bodies:
        assert {n for n, r in demos_shown(body).items() if r} <= VERIFIED
    assert names(t.pair_id for t in art.traces if t.verified) == VERIFIED
    assert len(art.demo_traces) == 7
    # candidate order: labels only, full set, n random (step 1); persona only first (step 3)
    kinds1 = [c.kind for c in art.bootstrap_candidates]
    assert kinds1 == ["labels only", "full set"] + ["random"] * 10
    kinds3 = [c.kind for c in art.demo_candidates]
    assert kinds3 == ["persona only", "labels only", "full set"] + ["random"] * 10
    for cand in art.bootstrap_candidates + art.demo_candidates:
        assert names(cand.members) <= VERIFIED and not set(cand.members) & set(cand.labelled)
        if cand.kind in ("random", "full set"):
            assert len(cand.labelled) == max(0, 4 - len(cand.members))
        if cand.kind == "random":
            assert 1 <= len(cand.members) <= len(VERIFIED)
    assert names(art.bootstrap_candidates[1].members) == VERIFIED  # the full set
    sizes = {len(c.members) for c in art.bootstrap_candidates if c.kind == "random"}
    assert len(sizes) > 1  # random sizes, not always every verified trace
    labels_only = art.bootstrap_candidates[0]
    assert len(labels_only.labelled) == 4 and not labels_only.members
    # all candidates score 0: the earliest wins, persona only in step 3 -> no demos
    assert art.bootstrap_winner == 0 and art.demo_winner == 0 and art.demo_set == []
    assert art.prompt_content() == ("persona", "")  # legitimate: persona only won
    assert art.with_components(("demos",)).prompt_content() == (
        "nothing", "no demos for this user; judged by the default judge")
    # five rounds of latency: traces, search, persona, demo traces, search
    assert art.total_spend.rounds == 5
    assert art.total_spend.requests == server.requests_seen


def test_winner_by_score_and_persona_input(server: StandInServer, client) -> None:
    # a validation pair is right only when the prompt shows t1 (and t2 for v2)
    val = [pref("u", "v1", "val", chosen="[needs:t1]"), pref("u", "v2", "val",
                                                              chosen="[needs:t1+t2]"),
           pref("u", "v3", "val", chosen="[needs:t9]")]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client,
                   SynthesizeMeConfig(**OURS_SETTINGS, stop_at_accuracy=1.0))
    for cands, winner in ((art.bootstrap_candidates, art.bootstrap_winner),
                          (art.demo_candidates, art.demo_winner)):
        for c in cands:
            if c.n_correct is not None:
                shown = names(c.members + c.labelled)
                assert c.n_correct == ("t1" in shown) + ({"t1", "t2"} <= shown), c
        best = max(c.n_correct for c in cands)
        assert best == 2 and winner == min(c.index for c in cands if c.n_correct == best)
    win = art.bootstrap_candidates[art.bootstrap_winner]
    (persona_body,) = persona_bodies(server)
    text = user_prompt(persona_body)
    assert set(re.findall(r"conv-(t\d)", text)) == names(win.members + win.labelled)
    assert text.count("no analysis on record") == len(win.labelled)
    # the final demos are the winning step-3 candidate, reasoning from the persona traces
    final = art.demo_candidates[art.demo_winner]
    assert names(d.preference.pair_id for d in art.demo_set) == names(final.members +
                                                                        final.labelled)
    by_pair = {t.pair_id: t.reasoning for t in art.demo_traces}
    for demo in art.demo_set:
        assert demo.reasoning == (by_pair[demo.preference.pair_id]
                                  if demo.preference.pair_id in final.members else None)


def test_early_stop_at_80_percent(server: StandInServer, client) -> None:
    # 4 of 5 validation pairs need t1 shown; the labels-only candidate may miss it
    val = [pref("u", f"v{i}", "val", chosen="[needs:t1]") for i in range(1, 5)] + [
        pref("u", "v5", "val", chosen="[needs:t9]")]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client, OURS)
    for cands, winner in ((art.bootstrap_candidates, art.bootstrap_winner),
                          (art.demo_candidates, art.demo_winner)):
        first = min(c.index for c in cands if c.n_correct is not None and c.n_correct >= 4)
        assert winner == first
        assert all(not c.eligible for c in cands[first + 1:])
        assert all(c.status in ("scored after the stop",) or c.status.startswith("same as")
                   for c in cands[first + 1:])


def test_batch_size_changes_rounds_not_the_result(server: StandInServer, make_client) -> None:
    val = [pref("u", "v1", "val", chosen="[needs:t1]"), pref("u", "v2", "val",
                                                              chosen="[needs:t2+t4]"),
           pref("u", "v3", "val", chosen="[needs:t6]")]
    user = user_split("u", train_pairs(VERIFIED), val)
    together = fit_user(user, make_client(), OURS)
    one_by_one = fit_user(user, make_client(),
                          SynthesizeMeConfig(**OURS_SETTINGS, search_batch_size=1))
    assert together.bootstrap_winner == one_by_one.bootstrap_winner
    assert together.demo_winner == one_by_one.demo_winner
    assert [d.to_dict() for d in together.demo_set] == [d.to_dict() for d in one_by_one.demo_set]
    assert together.total_spend.rounds == 5 < one_by_one.total_spend.rounds
    assert together.total_spend.requests >= one_by_one.total_spend.requests


def test_trace_context_none_is_the_papers_text(server: StandInServer, client) -> None:
    val = [pref("u", "v1", "val")]
    fit_user(user_split("u", train_pairs(VERIFIED), val), client,
             SynthesizeMeConfig(**OURS_SETTINGS, trace_context="none"))
    traces = [b for b in judge_bodies(server)
              if judged_name(b).startswith("t") and not has_persona(b)]
    assert len(traces) == 7 and all(demos_shown(b) == {} for b in traces)


def test_display_order_follows_the_flip_column(server: StandInServer, client) -> None:
    train = [replace(p, flip=i % 2 == 0) for i, p in enumerate(train_pairs(VERIFIED))]
    val = [replace(pref("u", "v1", "val"), flip=True), replace(pref("u", "v2", "val"),
                                                                flip=False)]
    art = fit_user(user_split("u", train, val), client, OURS)
    assert {names([k]).pop(): o for k, o in art.val_orders.items()} == {
        "v1": "chosen_first", "v2": "rejected_first"}
    assert all(t.order == ("chosen_first" if i % 2 == 0 else "rejected_first")
               for i, t in enumerate(art.traces))
    assert "order from hash" not in art.fallback_codes
    hashed = fit_user(user_split("u", train_pairs(VERIFIED), val[:1]), client, OURS)
    assert "order from hash" in hashed.fallback_codes


@pytest.mark.parametrize("n_train,n_val,codes", [
    (1, 0, {"no validation pairs", "one training pair"}),
    (2, 1, {"one validation pair"}),
    (1, 1, {"one validation pair", "one training pair"}),
])
def test_small_users_fit_with_recorded_fallbacks(server: StandInServer, client, n_train: int,
                                                 n_val: int, codes: set[str]) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t1]") for i in range(1, n_val + 1)]
    art = fit_user(user_split("u", train_pairs({"t1"}, n=n_train), val), client, OURS)
    assert codes <= set(art.fallback_codes)
    assert art.persona is not None and len(art.traces) == n_train
    if n_val == 0:
        # nothing to score: both searches take their full set, and send nothing
        assert art.bootstrap_candidates[art.bootstrap_winner].kind == "full set"
        assert art.demo_candidates[art.demo_winner].kind == "full set"
        assert server.requests_seen == n_train + 1 + n_train
        assert names(d.preference.pair_id for d in art.demo_set) == {"t1"}
    else:
        assert art.total_spend.rounds == 5
    assert json.dumps(art.to_dict())


def test_no_training_pairs_is_an_expected_error(client) -> None:
    with pytest.raises(NotEnoughPreferencesError, match="'lonely' has no training preferences"):
        fit_user(user_split("lonely", [], [pref("lonely", "v1", "val")]), client, OURS)
    assert issubclass(NotEnoughPreferencesError, PersonaJudgeError)


def test_no_trace_verifies(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 3)]
    art = fit_user(user_split("u", train_pairs(set()), val), client, OURS)
    assert art.verified_traces == [] and "no trace verified" in art.fallback_codes
    assert all(not c.members for c in art.bootstrap_candidates)
    # the labels-only candidate wins the tie: the persona is written from labelled choices
    text = user_prompt(persona_bodies(server)[0])
    assert text.count("no analysis on record") == 4
    assert all(d.reasoning is None for d in art.demo_set)


def test_judge_level_fallbacks_are_recorded(server: StandInServer, make_client) -> None:
    client = make_client(max_retries=0)
    train = train_pairs(VERIFIED)
    train[2] = pref("u", "t3", "train", chosen="[tie]")
    val = [pref("u", "v1", "val", chosen="[tie]"), pref("u", "v2", "val", chosen="[needs:t1]")]
    server.inject(Fault("unparseable", match="conv-v2"))
    art = fit_user(user_split("u", train, val), client, OURS)
    codes = {(f.code, f.step) for f in art.fallbacks}
    assert ("judge tie", "bootstrap traces") in codes
    assert ("judge tie", "bootstrap search") in codes and ("judge tie", "demo search") in codes
    # every distinct candidate judged v1 once, and v1 is always a tie
    search = art.spend["bootstrap search"]
    assert search.no_choice == search.requests // 2 == sum(
        c.status == "scored" for c in art.bootstrap_candidates)
    assert art.total_spend.unparseable >= 1 and art.total_spend.samples > \
        art.total_spend.requests


@pytest.mark.parametrize("answers,expect_persona,code", [
    (["", "Persona: A warm reader who wants gentle, encouraging replies."], True,
     "persona retried"),
    (["", "  ok  "], False, "no usable persona"),
])
def test_persona_unusable_then_retry_or_fallback(judge: ScriptedJudge, server: StandInServer,
                                                 client, answers, expect_persona, code) -> None:
    judge.persona_answers = list(answers)
    val = [pref("u", f"v{i}", "val", chosen="[persona]") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client, OURS)
    assert code in art.fallback_codes
    bodies = persona_bodies(server)
    assert len(bodies) == 2 and bodies[1]["temperature"] == pytest.approx(0.7)
    if expect_persona:
        assert art.persona == "A warm reader who wants gentle, encouraging replies."
        assert art.total_spend.rounds == 6
        assert all(c.n_correct == 3 for c in art.demo_candidates if c.n_correct is not None)
    else:
        assert art.persona is None and "step-3 traces reused" in art.fallback_codes
        assert "## About this person" not in art.judge_request(val[0], "chosen_first"
                                                               ).messages[1]["content"]
        assert all(c.n_correct == 0 for c in art.demo_candidates if c.n_correct is not None)
        carries, flag = art.with_components(("persona",)).prompt_content()
        assert carries == "nothing" and "judged by the default judge" in flag


def test_persona_call_failure_falls_back(server: StandInServer, make_client) -> None:
    client = make_client(max_retries=0)
    server.inject(Fault("500", match="Reply they picked"), Fault("500", match="Reply they picked"))
    art = fit_user(user_split("u", train_pairs(VERIFIED), [pref("u", "v1", "val")]), client,
                   OURS)
    assert art.persona is None
    (fallback,) = [f for f in art.fallbacks if f.code == "no usable persona"]
    assert "call failed" in fallback.detail


def test_ablations_remove_exactly_what_they_remove(server: StandInServer, client) -> None:
    val = [pref("u", "v1", "val", chosen="[needs:t1]"), pref("u", "v2", "val",
                                                              chosen="[needs:t2]")]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client, OURS)
    assert art.demo_set and art.persona  # the full prompt carries both
    probe = pref("u", "s1", "test")

    def parts(state) -> tuple[bool, set[str]]:
        body = {"messages": list(state.judge_request(probe, "chosen_first").messages)}
        return has_persona(body), set(demos_shown(body))

    demo_names = names(d.preference.pair_id for d in art.demo_set)
    assert parts(art) == (True, demo_names)
    assert parts(art.with_components(("persona",))) == (True, set())
    assert parts(art.with_components(("demos",))) == (False, demo_names)
    assert art.with_components(("demos",)).prompt_content() == ("demos", "")
    with pytest.raises(ValueError, match="components"):
        art.with_components(("memory",))


def test_lite_variant_reuses_traces_and_searches_halves(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]
    art = fit_user(user_split("u", train_pairs(VERIFIED), val), client,
                   SynthesizeMeConfig(**OURS_SETTINGS, algorithm="lite"))
    assert art.settings["trace_context"] == "none" and art.settings["stop_at_accuracy"] == 1.0
    assert art.demo_traces == [] and "demo traces" not in art.spend or \
        art.spend["demo traces"].requests == 0
    assert len(art.bootstrap_candidates) == 10 and art.bootstrap_candidates[0].kind == "full set"
    assert len(art.demo_candidates) == 10
    bodies = judge_bodies(server)
    assert not any(judged_name(b).startswith("t") and has_persona(b) for b in bodies)
    assert all(demos_shown(b) == {} for b in bodies if judged_name(b).startswith("t"))
    assert art.total_spend.rounds == 4


def test_components_persona_only_skips_demo_search(server: StandInServer, client) -> None:
    val = [pref("u", f"v{i}", "val", chosen="[needs:t9]") for i in range(1, 4)]
    method = SynthesizeMe(SynthesizeMeConfig(**OURS_SETTINGS, components=("persona",)))
    art = method.fit(user_split("u", train_pairs(VERIFIED), val), client)
    assert art.demo_candidates == [] and art.demo_set == []
    text = method.judge_request(art, val[0], "chosen_first").messages[1]["content"]
    assert "## About this person" in text and "## Earlier choices" not in text
    assert method.name == "SynthesizeMe (persona only)"
    assert method.prompt_content(art) == ("persona", "")
