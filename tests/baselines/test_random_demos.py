"""Random demos: as many labelled training pairs as SynthesizeMe's demo set, drawn seeded."""

from __future__ import annotations

from dataclasses import replace

import pytest
from baselines_helpers import marked_user

from persona_judge.baselines.random_demos import RandomDemosMethod, random_demo_set
from persona_judge.evaluation.predict import fit_users
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig


@pytest.fixture
def fitted(client):
    users = [marked_user("u1", n_train=6, n_val=2), marked_user("u2", n_train=5, n_val=1),
             marked_user("u3", n_train=3, n_val=0)]
    config = SynthesizeMeConfig(n_candidates=3, m_candidates=3, variant="ours")  # inline
    artifacts = fit_users(SynthesizeMe(config), users, client, max_workers=1, progress=False)
    return users, artifacts


def test_size_equals_synthesizeme_per_user_and_draws_come_from_train(fitted) -> None:
    users, artifacts = fitted
    method = RandomDemosMethod(artifacts, seed=0)
    for user in users:
        art = artifacts[user.user_id]
        state = method.fit(user)
        assert len(state.demo_set) == len(art.demo_set)
        train_ids = {p.pair_id for p in user.train}
        assert {d.preference.pair_id for d in state.demo_set} <= train_ids
        assert all(d.reasoning is None for d in state.demo_set)  # labelled examples only
        assert state.persona == art.persona and state.components == ("persona", "demos")
        assert state.label == method.name
    # the fixture's tastes differ, so at least one user got demos and one got none
    sizes = [len(a.demo_set) for a in artifacts.values()]
    assert any(sizes) and not all(sizes), sizes


def test_sizes_follow_the_artifact_not_a_constant(fitted) -> None:
    users, artifacts = fitted
    user = users[0]
    for k in (0, 1, 4, len(user.train)):
        art = replace(artifacts[user.user_id], demo_set=list(range(k)))  # k stand-in demos
        assert len(random_demo_set(user, art, seed=1)) == k
    too_many = replace(artifacts[user.user_id], demo_set=list(range(len(user.train) + 1)))
    with pytest.raises(ValueError, match="training pairs"):
        random_demo_set(user, too_many, seed=0)


def test_the_draw_is_seeded_and_per_user(fitted) -> None:
    users, artifacts = fitted
    user = users[0]
    art = replace(artifacts[user.user_id], demo_set=list(range(3)))
    draw = [d.preference.pair_id for d in random_demo_set(user, art, seed=0)]
    assert draw == [d.preference.pair_id for d in random_demo_set(user, art, seed=0)]
    draws = {tuple(d.preference.pair_id for d in random_demo_set(user, art, seed=s))
             for s in range(8)}
    assert len(draws) > 1  # another seed draws other pairs


def test_without_persona_the_prompt_carries_only_the_random_demos(fitted) -> None:
    users, artifacts = fitted
    method = RandomDemosMethod(artifacts, with_persona=False)
    user = next(u for u in users if artifacts[u.user_id].demo_set)
    state = method.fit(user)
    prompt = method.judge_request(state, user.test[0], "chosen_first").messages[1]["content"]
    assert "## About this person" not in prompt
    assert prompt.count("### Earlier choice") == len(artifacts[user.user_id].demo_set)
    kept = RandomDemosMethod(artifacts)
    if artifacts[user.user_id].persona:
        assert "## About this person" in kept.judge_request(
            kept.fit(user), user.test[0], "chosen_first").messages[1]["content"]
