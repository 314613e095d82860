"""Θ optimised with DSPy's MIPROv2 (the authors' optimiser) through the study's cached client:
the winner becomes a Θ file that ``fit`` accepts, every candidate is kept with a score
recounted from the judge's answers, a rerun sends nothing, the seed steers the search, the
budget is enforced before any call, and a missing extra is named with its install line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from length_users import user

from persona_judge.cli import check_persona_instruction, main
from persona_judge.method.judge import ORDERS, correct_letter
from persona_judge.method.persona import persona_request, theta_problems
from persona_judge.method.smoke import smoke_responder
from persona_judge.method.synthesizeme import SynthesizeMeConfig
from persona_judge.optimisation.theta_search import ThetaBudgetError, validation_requests
from persona_judge.reference import extra

if extra.reference_extra_missing():  # never import dspy directly: see extra.import_dspy
    pytest.skip("the [reference] extra (dspy) is not installed", allow_module_level=True)

from persona_judge.optimisation.miprov2 import (  # noqa: E402
    MiproSettings,
    call_bound,
    optimise_theta_miprov2,
    split_roles,
)

CONFIG = SynthesizeMeConfig(n_candidates=2, components=("persona",), variant="public")
SMALL = MiproSettings(num_candidates=4, num_trials=6, max_bootstrapped_demos=2, seed=0)
_PERSONA_FIELD = re.compile(r"(\[\[ ## synthesized_persona ## \]\]\n)(.*?)(\n\n\[\[ ## )",
                            re.DOTALL)
VAGUE = "A person whose taste these few choices do not reveal."


USERS = [user("ann", "longer"), user("bob", "shorter", n_val=3), user("cat", "longer"),
         user("dan", "shorter")]


def demos_matter(body: dict[str, Any]) -> str:
    """The smoke stand-in, except that MIPROv2's persona program without worked
    demonstrations (system + one user message) writes a persona naming no taste: so
    programs with demonstrations are truly better, and the winner carries some."""
    answer = smoke_responder(body)
    messages = body["messages"]
    if len(messages) == 2 and "synthesized_persona" in messages[0]["content"]:
        return _PERSONA_FIELD.sub(lambda m: m.group(1) + VAGUE + m.group(3), answer)
    return answer


def run(make_client, tmp_path: Path, settings: MiproSettings = SMALL, cache: str = "c.sqlite"
        ) -> tuple[Any, Any, Any]:
    client, server = make_client(demos_matter, cache=tmp_path / cache)
    search = optimise_theta_miprov2(USERS, client, CONFIG, settings=settings,
                                    folder=tmp_path / "work")
    return search, client, server


def test_the_winner_is_a_theta_file_the_fit_accepts(make_client, tmp_path: Path) -> None:
    search, _, server = run(make_client, tmp_path)
    best = search.best_candidate
    assert best.n_demos >= 1 and best.accuracy == 1.0  # demonstrations truly help here
    assert all(c.accuracy < 1.0 for c in search.candidates if c.n_demos == 0)
    path = search.save(tmp_path / "out", theta_name="theta.txt")
    text = path.read_text()
    assert theta_problems(text) == [] and check_persona_instruction(str(path))
    program = json.loads((tmp_path / "out" / "program.json").read_text())
    predictor = program["synthesize.predict"]
    assert predictor["signature"]["instructions"] == best.instruction
    assert text.startswith("=== system ===\n" + best.instruction + "\n")
    assert len(predictor["demos"]) == best.n_demos
    for demo in predictor["demos"]:
        assert demo["synthesized_persona"].strip() in text
        # a demo user's history, never a scoring user's own
        shown = demo["past_judgements"]
        assert any(f"question {u}-train-" in shown for u in search.demo_users)
        assert not any(f"question {u}-" in shown for u in search.scoring_users)
    # the file is used as a fit uses it: each demonstration an earlier user/assistant turn
    sent = persona_request([(USERS[0].train[0], None)], str(path))
    assert len(sent.messages) == 2 + 2 * best.n_demos
    assert "Persona: " + predictor["demos"][0]["synthesized_persona"].strip() in \
        sent.messages[2]["content"]
    # every DSPy request went through our client, under this arm's cache namespace
    assert any("[[ ## proposed_instruction ## ]]" in json.dumps(r.body) for r in server.requests)
    saved = json.loads((tmp_path / "out" / "search.json").read_text())
    assert len(saved["candidates"]) == len(search.candidates) and saved["best"] == best.index
    assert (tmp_path / "out" / "candidates.csv").read_text().count("\n") == \
        1 + len(search.candidates)
    assert {f"{c.program}.json" for c in search.candidates} == \
        {p.name for p in (tmp_path / "out" / "programs").iterdir()}


def test_every_candidate_has_an_accuracy_recounted_from_the_judge(make_client,
                                                                  tmp_path: Path) -> None:
    search, client, _ = run(make_client, tmp_path)
    demo, scoring = split_roles(USERS, SMALL)
    assert search.scoring_users == [u.user_id for u in scoring] and len(search.demo_users) == 1
    assert not set(search.demo_users) & set(search.scoring_users)
    assert len(search.candidates) == SMALL.num_trials  # the starting program + 5 trials
    proposed = {c.instruction for c in search.candidates if c.instruction_index}
    assert proposed and all(i.startswith("[Smoke stand-in instruction") for i in proposed)
    for cand in search.candidates:
        assert cand.kind == "full evaluation" and 0.0 <= cand.accuracy <= 1.0
        assert set(cand.per_user) == set(search.scoring_users)
        assert all(n == 2 * len(u.val) for u in scoring for _, n in [cand.per_user[u.user_id]])
        # MIPROv2's own score is the mean over users of the same per-user accuracies
        mean = sum(c / n for c, n in cand.per_user.values()) / len(cand.per_user)
        assert cand.miprov2_score == pytest.approx(mean, abs=1e-4)
    # by hand, for a candidate that lost and the winner: ask the judge again (from the
    # cache) with the persona each program wrote, both orders, and count its right answers
    losers = [c for c in search.candidates if c.accuracy < 1.0]
    assert losers
    bob = next(u for u in scoring if u.user_id == "bob")
    for cand in (losers[0], search.best_candidate):
        jobs = validation_requests(cand.personas["bob"], bob, CONFIG)
        assert [o for _, o in jobs] == list(ORDERS) * len(bob.val)
        verdicts = client.judge_many([r for r, _ in jobs])
        right = sum(v.choice == correct_letter(o) for v, (_, o) in zip(verdicts, jobs,
                                                                        strict=True))
        assert cand.per_user["bob"] == [right, 6]
    assert search.best_candidate.per_user["bob"] == [6, 6]


def test_a_rerun_sends_nothing_and_the_seed_steers_the_search(make_client,
                                                              tmp_path: Path) -> None:
    first, _, server = run(make_client, tmp_path)
    assert server.requests
    again, _, server2 = run(make_client, tmp_path)  # same cache, a fresh server
    assert server2.requests == []
    assert again.table().equals(first.table())
    assert again.theta_text == first.theta_text
    other, _, _ = run(make_client, tmp_path,
                      MiproSettings(num_candidates=4, num_trials=6, max_bootstrapped_demos=2,
                                    seed=1))
    trace = [(c.instruction_index, c.demo_set_index, c.instruction) for c in first.candidates]
    assert trace != [(c.instruction_index, c.demo_set_index, c.instruction)
                     for c in other.candidates]


def test_the_budget_is_checked_before_any_call(make_client, tmp_path: Path) -> None:
    demo, scoring = split_roles(USERS, SMALL)
    bound = call_bound(demo, scoring, CONFIG, SMALL)
    client, server = make_client(demos_matter, cache=tmp_path / "c.sqlite")
    tight = MiproSettings(num_candidates=4, num_trials=6, max_bootstrapped_demos=2,
                          max_calls=bound - 1)
    with pytest.raises(ThetaBudgetError, match=f"up to {bound:,} method requests"):
        optimise_theta_miprov2(USERS, client, CONFIG, settings=tight, folder=tmp_path / "w")
    assert server.requests == []
    search = optimise_theta_miprov2(USERS, client, CONFIG, settings=SMALL,
                                    folder=tmp_path / "w")
    assert 0 < search.spend["calls"] + search.spend["cache_hits"] <= bound


def test_the_command_writes_a_theta_and_bad_settings_exit_2(tmp_path: Path, capsys) -> None:
    rows = [{"user_id": name, "prompt": f"{name} asks question {i}?",
             "chosen": f"Reply {i} that {name} chose, longer and fuller than the other.",
             "rejected": f"Short {i}."} for name in ("ana", "ben", "cy") for i in range(7)]
    file = tmp_path / "prefs.jsonl"
    file.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "theta.txt"
    small = ["--n-candidates", "2", "--max-candidates", "3", "--num-trials", "3",
             "--max-bootstrapped-demos", "1"]
    assert main(["optimise-theta", str(file), "--out", str(out), "--smoke",
                 "--optimiser", "miprov2", *small]) == 0
    printed = capsys.readouterr().out
    assert printed.index("at most") < printed.index("dry run (nothing sent)") < \
        printed.index("LLM run")
    assert check_persona_instruction(str(out))
    assert (tmp_path / "theta_search" / "program.json").is_file()
    search = json.loads((tmp_path / "theta_search" / "search.json").read_text())
    assert out.read_text() == (tmp_path / "theta_search" / "theta.txt").read_text()
    assert any("SMOKE RUN" in n for n in search["notes"])
    assert main(["optimise-theta", str(file), "--out", str(out), "--smoke",
                 "--optimiser", "miprov2", *small[:2], "--max-candidates", "2"]) == 2
    err = capsys.readouterr().err
    assert "num_candidates must be at least 3" in err and err.count("\n") == 1


def test_a_missing_extra_is_named_before_anything_starts(tmp_path: Path, monkeypatch,
                                                         capsys) -> None:
    real = extra.importlib.util.find_spec
    monkeypatch.setattr(extra.importlib.util, "find_spec",
                        lambda name, *a: None if name == "dspy" else real(name, *a))
    with pytest.raises(extra.ReferenceExtraMissingError, match=re.escape(extra.INSTALL_HINT)):
        optimise_theta_miprov2(USERS, object(), CONFIG, settings=SMALL, folder=tmp_path)
    file = tmp_path / "prefs.jsonl"
    file.write_text("\n".join(json.dumps({"user_id": u, "prompt": f"q{i}", "chosen": "a b",
                                          "rejected": "c"})
                              for u in ("ana", "ben") for i in range(7)) + "\n")
    assert main(["optimise-theta", str(file), "--out", str(tmp_path / "t.txt"), "--smoke",
                 "--optimiser", "miprov2"]) == 2
    err = capsys.readouterr().err
    assert "--optimiser miprov2" in err and extra.INSTALL_HINT in err and err.count("\n") == 1
    assert not (tmp_path / "t_search").exists()
