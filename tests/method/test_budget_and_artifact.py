"""The call budget (<= 91 per faithful fit, <= 69 lite, exactly 2N per N-pair evaluation),
users judged with their own fitted state, and the artifact round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted import PERSONA_TEXT, final_pair, is_judge, pref, user_split

from persona_judge.data.records import Turn
from persona_judge.errors import PersonaJudgeError
from persona_judge.evaluation.predict import evaluate, fit_users
from persona_judge.llm.standin import StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig

# These tests check the search logic in our earlier variant's prompts (JSON A/B), which the
# scripted judge reads; the public variant's prompts are tested in test_faithful.py.
OURS_SETTINGS = {"variant": "ours", "demos_only_search": False}
OURS = SynthesizeMeConfig(**OURS_SETTINGS)


def worst_case_user():
    """7 train (all verified), 3 val that no candidate can get all right, 6 test."""
    train = [pref("u", f"t{i}", "train", chosen="[right]") for i in range(1, 8)]
    val = [pref("u", "v1", "val", chosen="[needs:t1]"), pref("u", "v2", "val", chosen="[needs:t5]"),
           pref("u", "v3", "val", rejected="[right]")]
    test = [pref("u", f"s{i}", "test", chosen="[persona]") for i in range(1, 7)]
    return user_split("u", train, val, test)


@pytest.mark.parametrize("algorithm,bound,traces", [("faithful", 91, 14), ("lite", 69, 7)])
def test_fit_budget_and_evaluation_exactly_12(server: StandInServer, client, algorithm: str,
                                              bound: int, traces: int) -> None:
    user = worst_case_user()
    method = SynthesizeMe(SynthesizeMeConfig(**OURS_SETTINGS, algorithm=algorithm, seed=0))
    art = method.fit(user, client)
    fit_calls = server.requests_seen
    scored = [c for c in art.bootstrap_candidates + art.demo_candidates
              if c.status in ("scored", "scored after the stop")]
    assert fit_calls == traces + 3 * len(scored) + 1 <= bound
    assert len(scored) >= 12  # the search really ran: most candidates were distinct
    assert art.total_spend.samples == fit_calls  # no resamples here: one call per sample
    assert art.total_spend.requests == fit_calls
    assert art.total_spend.prompt_tokens > 0 and art.total_spend.completion_tokens > 0
    server.reset_counters()
    records = evaluate(method, [user], client, {"u": art})
    assert server.requests_seen == 12 and len(records) == 12
    assert sorted(r.order for r in records) == ["chosen_first"] * 6 + ["rejected_first"] * 6
    assert all(r.correct for r in records)  # [persona]: the persona is in the prompt


def test_warm_cache_rerun_makes_no_calls(server: StandInServer, make_client, tmp_path) -> None:
    user = worst_case_user()
    method = SynthesizeMe(OURS)
    first = fit_users(method, [user], make_client(), progress=False)["u"]
    server.reset_counters()
    again = fit_users(method, [user], make_client(), progress=False)["u"]
    assert server.requests_seen == 0
    assert again.to_dict() == first.to_dict()


def test_artifact_round_trips_and_renders(server: StandInServer, client, tmp_path: Path) -> None:
    user = worst_case_user()
    art = SynthesizeMe(OURS).fit(user, client)
    path = art.save(tmp_path / "artifact.json")
    loaded = SynthesizeMeArtifact.load(path)
    assert loaded.to_dict() == art.to_dict()
    assert loaded == art
    probe = user.test[0]
    assert loaded.judge_request(probe, "rejected_first") == art.judge_request(probe,
                                                                                "rejected_first")
    messages = loaded.judge_messages((Turn("user", "Hi"),), "one", "two")
    assert PERSONA_TEXT in messages[1]["content"] and "## Reply B\ntwo" in messages[1]["content"]
    assert "<reply A>" in loaded.judge_prompt_text()
    generation = loaded.generation_system_prompt()
    assert PERSONA_TEXT in generation
    assert all(d.preference.chosen.content in generation for d in loaded.demo_set)
    assert art.seed == 0 and art.templates["persona_synthesis"] == "persona_synthesis@v1"
    assert art.templates["judge_trace"] == "judge_speculative@v1"
    assert len(art.bootstrap_candidates) == 12 and len(art.demo_candidates) == 13
    assert art.model == "stand-in-judge" and art.settings["algorithm"] == "faithful"
    assert loaded.demo_traces == art.demo_traces and len(art.demo_traces) == 7
    assert loaded.fallbacks == art.fallbacks


def test_artifact_load_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(PersonaJudgeError, match="Not a SynthesizeMe artifact"):
        SynthesizeMeArtifact.load(bad)
    bad.write_text("{not json")
    with pytest.raises(PersonaJudgeError, match="not valid JSON"):
        SynthesizeMeArtifact.load(bad)


def persona_by_user(body: dict) -> str:
    """Persona requests get a persona naming the user whose pairs they show."""
    if is_judge(body):
        profile, a, b = final_pair(body)
        asked = body["messages"][-1]["content"].rsplit("## Conversation", 1)[1]
        owner = "alpha" if "conv-a" in asked else "beta"
        # the user's chosen reply only when the prompt carries that user's own persona
        chosen = "A" if a.startswith("Chosen reply") else "B"
        choice = chosen if f"persona of {owner}" in profile else {"A": "B", "B": "A"}[chosen]
        return json.dumps({"reasoning": "scripted", "preferred": choice})
    text = body["messages"][-1]["content"]
    who = "alpha" if "conv-a" in text else "beta"
    return f"A reader described as the persona of {who}, fond of brief replies."


def test_each_user_is_judged_with_their_own_fitted_state(tmp_path: Path) -> None:
    from persona_judge.llm import client_from_env

    users = [user_split(u, [pref(u, f"{u}t{i}", "train") for i in range(3)],
                        [pref(u, f"{u}v1", "val")], [pref(u, f"{u}s{i}", "test") for i in range(3)])
             for u in ("a", "b")]
    with StandInServer(responder=persona_by_user) as server:
        client = client_from_env("m", cache_path=tmp_path / "c.sqlite", base_url=server.url,
                                 progress=False)
        method = SynthesizeMe(SynthesizeMeConfig(**OURS_SETTINGS, components=("persona",)))
        states = fit_users(method, users, client, max_workers=2, progress=False)
        assert "persona of alpha" in states["a"].persona and "beta" in states["b"].persona
        records = evaluate(method, users, client, states)
        client.close()
    assert len(records) == 12 and all(r.correct for r in records)  # own persona every time
    assert {r.user_id for r in records} == {"a", "b"}
