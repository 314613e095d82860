"""The call budget (<= 70 per fit, exactly 2N per N-pair evaluation) and the artifact round trip."""

from __future__ import annotations

from pathlib import Path

from scripted import PERSONA_TEXT, pref, user_split

from persona_judge.data.records import Turn
from persona_judge.evaluation.predict import evaluate, fit_users
from persona_judge.llm.standin import StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig


def worst_case_user():
    """7 train (all verified), 3 val that no candidate can get all right, 6 test."""
    train = [pref("u", f"t{i}", "train", chosen="[right]") for i in range(1, 8)]
    val = [pref("u", "v1", "val", chosen="[needs:t1]"), pref("u", "v2", "val", chosen="[needs:t5]"),
           pref("u", "v3", "val", rejected="[right]")]
    test = [pref("u", f"s{i}", "test", chosen="[persona]") for i in range(1, 7)]
    return user_split("u", train, val, test)


def test_fit_within_70_calls_and_evaluation_exactly_12(server: StandInServer, client) -> None:
    user = worst_case_user()
    method = SynthesizeMe(SynthesizeMeConfig(n_candidates=10, m_candidates=10, seed=0))
    art = method.fit(user, client)
    fit_calls = server.requests_seen
    scored = [c for c in art.bootstrap_candidates + art.demo_candidates if c.status == "scored"]
    assert fit_calls == 7 + 3 * len(scored) + 1 <= 70
    assert len(scored) >= 15  # the search really ran: most candidates were distinct
    assert art.total_spend.requests == fit_calls
    assert art.total_spend.prompt_tokens > 0 and art.total_spend.completion_tokens > 0
    server.reset_counters()
    records = evaluate(method, [user], client, {"u": art})
    assert server.requests_seen == 12 and len(records) == 12
    assert sorted(r.order for r in records) == ["chosen_first"] * 6 + ["rejected_first"] * 6
    assert all(r.correct for r in records)  # [persona]: the persona is in the prompt


def test_warm_cache_rerun_makes_no_calls(server: StandInServer, make_client, tmp_path) -> None:
    user = worst_case_user()
    method = SynthesizeMe()
    first = fit_users(method, [user], make_client(), progress=False)["u"]
    server.reset_counters()
    again = fit_users(method, [user], make_client(), progress=False)["u"]
    assert server.requests_seen == 0
    assert again.to_dict() == first.to_dict()


def test_artifact_round_trips_and_renders(server: StandInServer, client, tmp_path: Path) -> None:
    user = worst_case_user()
    art = SynthesizeMe().fit(user, client)
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
    assert len(art.bootstrap_candidates) == 10 and len(art.demo_candidates) == 10
    assert art.model == "stand-in-judge"


def test_artifact_load_rejects_other_files(tmp_path: Path) -> None:
    import pytest

    bad = tmp_path / "x.json"
    bad.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="Not a SynthesizeMe artifact"):
        SynthesizeMeArtifact.load(bad)
