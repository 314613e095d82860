"""The Θ search: every candidate kept and scored on the training users, the truly better
instruction wins, ties keep the seed, the budget is enforced before any call, a rerun
repeats nothing, and the written Θ is what ``fit --persona-instruction`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from theta_helpers import GOOD, ThetaScript, prompt_of, user

from persona_judge.cli import check_persona_instruction
from persona_judge.llm import client_from_env
from persona_judge.method.persona import persona_request
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user
from persona_judge.method.templates import load_template
from persona_judge.optimisation.theta_search import (
    TIPS,
    ThetaBudget,
    ThetaBudgetError,
    ThetaSearch,
    call_bound,
    clean_instruction,
    optimise_theta,
    split_users,
    theta_file_text,
)

CONFIG = SynthesizeMeConfig(n_candidates=2, m_candidates=2, components=("persona",))
USERS = [user("ann", n_val=2), user("bob", n_val=3), user("cat", n_val=1)]
N_VAL = sum(len(u.val) for u in USERS)


# both variants' judges: public (First/Second, persona in the system message) and ours (JSON)
@pytest.mark.parametrize(("good_slot", "seed", "variant"), [(0, 0, "public"), (2, 1, "ours")])
def test_the_truly_better_instruction_wins_and_every_candidate_is_kept(
        make_client, tmp_path: Path, good_slot: int, seed: int, variant: str) -> None:
    script = ThetaScript({TIPS[good_slot]: GOOD})
    client, server = make_client(script)
    search = optimise_theta(USERS, client, SynthesizeMeConfig(
        n_candidates=2, components=("persona",), seed=seed, variant=variant),
        budget=ThetaBudget(max_candidates=3, rounds=1), folder=tmp_path / "cands")
    assert len(search.candidates) == 1 + 3  # the seed and every proposal
    assert [c.index for c in search.candidates] == [0, 1, 2, 3]
    assert search.best == 1 + good_slot
    best = search.best_candidate
    assert best.instruction == GOOD and best.origin == "proposal" and best.round == 1
    assert best.accuracy == 1.0
    # every candidate was scored on every training user, in both orders of each val pair
    for cand in search.candidates:
        assert set(cand.per_user) == {"ann", "bob", "cat"}
        assert {u: n for u, (_, n) in cand.per_user.items()} == {"ann": 4, "bob": 6, "cat": 2}
        if cand.index != search.best:
            assert cand.accuracy == 0.5  # "always A": right in one order of every pair
    assert search.train_users == ["ann", "bob", "cat"]
    # the candidates were judged by the variant's judge, as a fit with this config judges
    # (public: First/Second, the persona in the system message; ours: JSON, in the user's)
    judged = [r.body for r in server.requests if "## Conversation" in prompt_of(r.body)
              and "This person always wants" in json.dumps(r.body)]
    assert judged and all(("## First reply" in prompt_of(b)) == (variant == "public")
                          and ("This person always wants" in prompt_of(b, "system"))
                          == (variant == "public") for b in judged)
    assert search.settings["method"]["variant"] == variant
    table = search.table()
    assert list(table["best"]) == [i == search.best for i in range(4)]
    assert table.loc[search.best, "accuracy"] == 100.0


def test_a_tie_keeps_the_seed(make_client, tmp_path: Path) -> None:
    client, _ = make_client(ThetaScript())  # no GOOD proposal: everything scores 50%
    search = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(2, 1),
                            folder=tmp_path / "c")
    assert [c.accuracy for c in search.candidates] == [0.5, 0.5, 0.5]
    assert search.best == 0 and search.best_candidate.origin == "seed: persona_synthesis@v1"


def test_a_later_round_sees_every_scored_instruction(make_client, tmp_path: Path) -> None:
    script = ThetaScript({TIPS[0]: GOOD})
    client, _ = make_client(script)
    search = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(2, 2),
                            folder=tmp_path / "c")
    assert [c.round for c in search.candidates] == [0, 1, 2]
    first, second = script.proposal_prompts
    assert GOOD not in first and "[50.0% correct]" in first
    assert f"[100.0% correct]\n{GOOD}" in second  # the round-1 winner, with its score
    assert "[knows-taste]" in second  # the best instruction's personas ground the proposal


def test_unusable_and_repeated_proposals_are_kept_unscored(make_client, tmp_path: Path) -> None:
    client, _ = make_client(ThetaScript({TIPS[0]: "Be better.", TIPS[1]: GOOD, TIPS[2]: GOOD}))
    search = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(3, 1),
                            folder=tmp_path / "c")
    statuses = [c.status for c in search.candidates]
    assert statuses[1].startswith("unusable proposal") and statuses[3].startswith("same as")
    assert search.candidates[1].accuracy is None and search.best == 2


def test_the_budget_refuses_before_any_call(make_client, tmp_path: Path) -> None:
    client, server = make_client(ThetaScript())
    bound = call_bound(USERS, CONFIG, ThetaBudget(4, 2), 1)
    with pytest.raises(ThetaBudgetError, match=f"up to {bound:,} method requests"):
        optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(4, 2, max_calls=bound - 1),
                       folder=tmp_path / "c")
    assert server.requests_seen == 0
    search = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(4, 2, max_calls=bound),
                            folder=tmp_path / "c")
    assert 0 < server.requests_seen <= bound and len(search.candidates) == 5


def test_a_dry_run_prices_every_proposal_and_its_scoring(tmp_path: Path) -> None:
    def dry_calls(max_candidates: int) -> int:
        dry = client_from_env("stand-in", cache_path=tmp_path / f"dry{max_candidates}.sqlite",
                              dry_run=True, backend="openai-compatible", progress=False)
        try:
            return optimise_theta(USERS, dry, CONFIG, budget=ThetaBudget(max_candidates, 1),
                                  folder=tmp_path / "d").spend["calls"]
        finally:
            dry.close()

    # each proposal: its own request, then per user one persona and 2 judgments per val pair
    per_proposal = 1 + len(USERS) + 2 * N_VAL
    assert dry_calls(3) - dry_calls(1) == 2 * per_proposal


def test_a_rerun_is_served_from_the_cache(make_client, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    client, server = make_client(ThetaScript({TIPS[1]: GOOD}), cache=cache)
    first = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(3, 1),
                           folder=tmp_path / "c")
    assert server.requests_seen == first.spend["calls"] > 0
    again, server2 = make_client(ThetaScript({TIPS[1]: GOOD}), cache=cache)
    second = optimise_theta(USERS, again, CONFIG, budget=ThetaBudget(3, 1),
                            folder=tmp_path / "c")
    assert server2.requests_seen == 0 and second.spend["calls"] == 0
    assert second.to_dict()["candidates"] == first.to_dict()["candidates"]


def test_the_search_saves_every_candidate_and_a_theta_the_fit_reads(
        make_client, tmp_path: Path) -> None:
    client, server = make_client(ThetaScript({TIPS[0]: GOOD}))
    search = optimise_theta(USERS, client, CONFIG, budget=ThetaBudget(2, 1),
                            folder=tmp_path / "c")
    path = search.save(tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "search.json").read_text())
    assert ThetaSearch.from_dict(saved).to_dict() == search.to_dict()
    assert len((tmp_path / "out" / "candidates.csv").read_text().splitlines()) == 1 + 3
    assert check_persona_instruction(str(path))  # the fit's own check passes
    server.reset_counters()
    art = fit_user(user("dan"), client, SynthesizeMeConfig(
        n_candidates=2, components=("persona",), persona_instruction=str(path)))
    assert art.persona.startswith("[knows-taste]")
    personas = [r.body for r in server.requests
                if "Reply they picked" in json.dumps(r.body)]
    assert personas and personas[0]["messages"][0]["content"] == GOOD
    assert art.templates["persona_synthesis"] == load_template(str(path)).id


def test_the_theta_file_keeps_the_framing_and_a_dollar_sign(tmp_path: Path) -> None:
    text = theta_file_text("Pay $5 attention to $taste and ${braces}.")
    path = tmp_path / "t.txt"
    path.write_text(text)
    template = load_template(str(path))
    assert template.render("system") == "Pay $5 attention to $taste and ${braces}."
    ours = load_template("persona_synthesis@v1")
    assert template.section("user") == ours.section("user")
    assert template.section("example") == ours.section("example")
    request = persona_request([(user("eve").train[0], None)], str(path))
    assert "Reply they picked" in request.messages[1]["content"]


def test_clean_instruction() -> None:
    assert clean_instruction('Instruction: "Write a persona about the person from choices."') \
        == "Write a persona about the person from choices."
    assert clean_instruction("```\nWrite one paragraph about the person and their taste.\n```") \
        == "Write one paragraph about the person and their taste."
    assert clean_instruction("Be better.") is None and clean_instruction("") is None


@pytest.mark.parametrize("seed", [0, 1])
def test_training_and_evaluation_users_are_disjoint(seed: int) -> None:
    users = [user(f"u{i:02d}", n_val=0 if i % 4 == 0 else 2) for i in range(20)]
    train, held_out = split_users(list(reversed(users)), 6, 8, seed)
    ids = {u.user_id for u in train}
    assert len(train) == 6 and len(held_out) == 8
    assert not ids & {u.user_id for u in held_out}
    assert all(u.val for u in train)  # trained users are scored on their validation pairs
    assert [u.user_id for u in train] == sorted(ids)
    assert split_users(users, 6, 8, seed) == (train, held_out)  # input order does not matter
    other = split_users(users, 6, 8, seed + 1)[0]
    assert {u.user_id for u in other} != ids  # the seed draws another split
    train_all, rest = split_users(users, 6, None, seed)
    assert len(rest) == 14 and not {u.user_id for u in train_all} & {u.user_id for u in rest}


def test_a_split_that_cannot_be_made_names_the_setting() -> None:
    users = [user("a"), user("b", n_val=0)]
    with pytest.raises(Exception, match="only 1 of 2 users have both training and validation"):
        split_users(users, 2, None, 0)
    with pytest.raises(Exception, match="no user is left to evaluate"):
        split_users([user("a")], 1, None, 0)
