"""Properties a wrong seed or a swapped user would break: each named, each with two seeds and
two users (every other test uses seed 0, under which a seed that is ignored looks right)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from baselines_helpers import marked_user

from persona_judge.baselines.random_demos import RandomDemosMethod, random_demo_set
from persona_judge.evaluation.predict import fit_users
from persona_judge.method.judge import derive_seed
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig
from persona_judge.study.notebook import sample_users

CONFIG = SynthesizeMeConfig(n_candidates=3, m_candidates=3)


@pytest.fixture
def fitted(client):
    users = [marked_user("u1", n_train=6, n_val=2), marked_user("u2", n_train=5, n_val=1),
             marked_user("u3", n_train=3, n_val=0)]
    artifacts = fit_users(SynthesizeMe(CONFIG), users, client, max_workers=1, progress=False)
    return users, artifacts


def _positions(user, demos) -> tuple[int, ...]:
    ids = [p.pair_id for p in user.train]
    return tuple(ids.index(d.preference.pair_id) for d in demos)


def _six_users_with_three_demos(fitted):
    """Six users with the same number of training pairs, each with an artifact asking for 3
    demos (so a draw that ignores the user picks the same positions for all of them)."""
    _, artifacts = fitted
    base = artifacts["u1"]
    users = [marked_user(f"w{i}", n_train=8, n_val=1) for i in range(6)]
    arts = {u.user_id: replace(base, user_id=u.user_id, demo_set=list(range(3)))
            for u in users}
    return users, arts


def test_the_random_demo_draw_depends_on_the_user(fitted) -> None:
    users, arts = _six_users_with_three_demos(fitted)
    method = RandomDemosMethod(arts, seed=0)
    drawn = {_positions(u, method.fit(u).demo_set) for u in users}
    assert len(drawn) > 1, "every user drew the same positions: the draw ignores the user"


@pytest.mark.parametrize("seeds", [(0, 1), (3, 7)])
def test_the_random_demo_method_draws_with_the_study_seed(fitted, seeds) -> None:
    users, arts = _six_users_with_three_demos(fitted)
    a, b = (RandomDemosMethod(arts, seed=s) for s in seeds)
    first = [_positions(u, a.fit(u).demo_set) for u in users]
    second = [_positions(u, b.fit(u).demo_set) for u in users]
    assert first != second, "two study seeds drew the same demos for every user"
    # and the method's draw is the documented one for its seed
    for user in users:
        assert a.fit(user).demo_set == random_demo_set(user, arts[user.user_id], seeds[0])


@pytest.mark.parametrize("study_seed", [0, 4])
def test_the_main_results_random_demos_take_the_configs_seed(client, monkeypatch,
                                                              study_seed) -> None:
    from persona_judge.evaluation import main_results

    made: list[int] = []

    class Recording(RandomDemosMethod):
        def __init__(self, artifacts, seed: int = 0, **kwargs) -> None:
            made.append(seed)
            super().__init__(artifacts, seed=seed, **kwargs)

    monkeypatch.setattr(main_results, "RandomDemosMethod", Recording)
    users = [marked_user("u1", n_train=3, n_val=1, n_test=1),
             marked_user("u2", n_train=3, n_val=1, n_test=1)]
    main_results.run_main_results(users, client, replace(CONFIG, seed=study_seed),
                                  baselines=("random_demos",), max_workers=1, progress=False)
    assert made == [study_seed]


def test_the_fit_seed_depends_on_the_user_and_the_study_seed(client) -> None:
    users = [marked_user("u1", n_train=3, n_val=1), marked_user("u2", n_train=3, n_val=1)]
    seeds = {}
    for study_seed in (0, 5):
        config = replace(CONFIG, seed=study_seed)
        arts = fit_users(SynthesizeMe(config), users, client, max_workers=1, progress=False)
        for user in users:
            seeds[(study_seed, user.user_id)] = arts[user.user_id].settings["user_seed"]
            assert seeds[(study_seed, user.user_id)] == derive_seed(study_seed, user.user_id)
    assert seeds[(0, "u1")] != seeds[(0, "u2")]  # two users, two seeds
    assert seeds[(0, "u1")] != seeds[(5, "u1")]  # another study seed, another user seed


@pytest.mark.parametrize("seeds", [(0, 1), (2, 9)])
def test_sample_users_draws_with_the_seed(seeds) -> None:
    users = [marked_user(f"s{i:02d}", n_train=1, n_val=0) for i in range(20)]
    a, b = ([u.user_id for u in sample_users(users, 5, s)] for s in seeds)
    assert len(a) == len(b) == 5 and a != b
    assert a == [u.user_id for u in sample_users(list(reversed(users)), 5, seeds[0])]
    assert a == sorted(a)


def test_persona_only_drops_the_demos_of_a_fit_that_has_them(fitted) -> None:
    users, artifacts = fitted
    with_demos = [u for u in users if artifacts[u.user_id].demo_set
                  and artifacts[u.user_id].persona]
    assert with_demos, "the fixture must give some user a persona and demos"
    user = with_demos[0]
    full = artifacts[user.user_id]
    assert set(full.components) == {"persona", "demos"}

    def prompt(art) -> str:
        return "\n".join(m["content"] for m in art.judge_request(
            user.test[0], "chosen_first").messages)

    marks = [f"MARK[{d.preference.conversation_id.removeprefix('conv-')}]"
             for d in full.demo_set]
    assert all(m in prompt(full) for m in marks) and full.persona in prompt(full)
    persona_only = prompt(full.with_components(("persona",)))
    assert full.persona in persona_only
    assert not any(m in persona_only for m in marks), "persona only still shows demos"
    demos_only = prompt(full.with_components(("demos",)))
    assert full.persona not in demos_only and all(m in demos_only for m in marks)
