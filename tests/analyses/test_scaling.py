"""Scaling with preferences: nested subsets, the cells of the design, what run_scaling sends."""

from __future__ import annotations

import pytest
from analyses_helpers import make_user, user_text

from persona_judge.analyses import scaling
from persona_judge.analyses.scaling import ScalingDesign, nested_subset, split_sizes
from persona_judge.baselines.memory import JUDGE_MEMORY, MemoryMethod, memory_request
from persona_judge.errors import SettingsError
from persona_judge.method.smoke import smoke_responder
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user

CONFIG = SynthesizeMeConfig(n_candidates=2, m_candidates=2)


@pytest.mark.parametrize(("k", "n_train", "n_val", "expected"), [
    (1, 5, 2, (1, 0)),   # floor(1 * 2 / 7) = 0 validation pairs
    (4, 5, 2, (3, 1)),   # floor(8 / 7) = 1
    (7, 5, 2, (5, 2)),   # everything
    (3, 1, 2, (1, 2)),   # floor(6 / 3) = 2: still one training pair
    (2, 2, 0, (2, 0)),
])
def test_split_sizes_keep_the_pool_proportions(k, n_train, n_val, expected):
    assert split_sizes(k, n_train, n_val) == expected


def test_split_sizes_grow_with_k_and_always_keep_a_training_pair():
    for n_train in range(1, 8):
        for n_val in range(0, 6):
            previous = (0, 0)
            for k in range(1, n_train + n_val + 1):
                k_train, k_val = split_sizes(k, n_train, n_val)
                assert k_train + k_val == k and 1 <= k_train <= n_train and k_val <= n_val
                assert k_train >= previous[0] and k_val >= previous[1]  # nested
                previous = (k_train, k_val)


@pytest.mark.parametrize(("k", "n_train", "n_val"), [(0, 3, 1), (5, 3, 1), (1, 0, 3)])
def test_split_sizes_refuse_impossible_sizes(k, n_train, n_val):
    with pytest.raises(ValueError):
        split_sizes(k, n_train, n_val)


def test_subsets_of_one_draw_are_nested_keep_order_and_never_touch_test():
    user = make_user("u1", 6, 3, 4)
    for draw in range(4):
        previous: set[str] = set()
        for k in range(1, 10):
            subset = nested_subset(user, k, draw, seed=0)
            ids = {p.pair_id for p in (*subset.train, *subset.val)}
            assert len(ids) == k and previous <= ids
            previous = ids
            assert subset.test == user.test
            # original order: a subsequence of the user's own tuples
            assert list(subset.train) == [p for p in user.train if p in subset.train]
            assert list(subset.val) == [p for p in user.val if p in subset.val]
    assert nested_subset(user, 9, 0) == user  # k = n is the user's full split, exactly


def test_draws_differ_and_are_reproducible():
    user = make_user("u1", 8, 0, 1)
    subsets = [frozenset(p.pair_id for p in nested_subset(user, 3, d).train) for d in range(6)]
    assert len(set(subsets)) > 1
    again = [frozenset(p.pair_id for p in nested_subset(user, 3, d).train) for d in range(6)]
    assert subsets == again
    other_seed = [frozenset(p.pair_id for p in nested_subset(user, 3, d, seed=1).train)
                  for d in range(6)]
    assert other_seed != subsets


def test_cells_skip_sizes_above_the_pool_and_fit_identical_subsets_once():
    big, small, untrainable = make_user("big", 3, 1, 2), make_user("small", 1, 0, 1), \
        make_user("none", 0, 2, 2)
    cells = scaling.scaling_cells([big, small, untrainable],
                                  ScalingDesign(k_grid=(4, 1, 2), seeds_per_k=3))
    by_user: dict[str, list] = {}
    for cell in cells:
        by_user.setdefault(cell.user_id, []).append(cell)
    assert "none" not in by_user  # no training pair: cannot be fitted
    assert [(c.k, c.draws) for c in by_user["small"]] == [(1, (0, 1, 2))]
    full = [c for c in by_user["big"] if c.k == 4]
    assert len(full) == 1 and full[0].draws == (0, 1, 2) and full[0].split == big
    assert [c.k for c in by_user["big"]] == sorted(c.k for c in by_user["big"])
    for k in (1, 2):  # every draw is accounted for exactly once
        draws = sorted(d for c in by_user["big"] if c.k == k for d in c.draws)
        assert draws == [0, 1, 2]
        subsets = [frozenset(p.pair_id for p in c.split.train) for c in by_user["big"]
                   if c.k == k]
        assert len(subsets) == len(set(subsets))


@pytest.mark.parametrize("bad", [{"k_grid": ()}, {"k_grid": (0, 2)}, {"k_grid": (1.5,)},
                                 {"seeds_per_k": 0}, {"k_grid": (True,)}])
def test_a_bad_design_is_a_settings_error(bad):
    with pytest.raises(SettingsError):
        ScalingDesign(**bad)


def test_design_sorts_and_deduplicates_the_grid_and_smoke_limits_apply_in_smoke_only():
    assert ScalingDesign(k_grid=(4, 1, 4, 2)).k_grid == (1, 2, 4)
    settings = {"mode": "real", "k_grid": [1, 2, 3], "seeds_per_k": 5,
                "smoke_design": {"k_grid": [1], "seeds_per_k": 1}}
    assert scaling.design_from_settings(settings).k_grid == (1, 2, 3)
    smoke = scaling.design_from_settings({**settings, "mode": "smoke"})
    assert (smoke.k_grid, smoke.seeds_per_k) == ((1,), 1)


def test_memory_at_k_is_the_shared_baseline_shown_exactly_the_k_preferences():
    # chapter 07's Memory is chapter 05's baseline, remembering only the subset it is given
    user = make_user("u1", 4, 2, 1)
    seen = user.train[:2] + user.val[:1]
    request = memory_request(user.test[0], "chosen_first", seen)
    assert request.template == JUDGE_MEMORY
    text = user_text({"messages": list(request.messages)})
    assert text.count("### Earlier choice") == 3
    for p in seen:
        assert f"conv-{p.conversation_id}" in text
    for p in (*user.train[2:], *user.val[1:]):
        assert f"conv-{p.conversation_id}" not in text
    history = text.split("## Conversation\n", 1)[0]  # what the judge knows about the user
    assert "## About this person" not in history and '"reasoning"' not in history
    assert MemoryMethod().fit(user, client=None).history == (*user.train, *user.val)


def test_run_scaling_judges_the_default_once_per_user_and_repeats_it_at_every_k(make_client):
    client, server = make_client(smoke_responder)
    big, small = make_user("big", 3, 1, 2), make_user("small", 1, 0, 3)
    design = ScalingDesign(k_grid=(1, 2, 4), seeds_per_k=2)
    result = scaling.run_scaling([big, small], client, CONFIG, design, max_workers=1)
    frame = result.judgments
    spend = result.spend.set_index("stage")
    assert spend.loc["judge test pairs: default judge", "calls"] == 2 * (2 + 3)
    default = frame[frame["method"] == scaling.DEFAULT]
    assert sorted(default[default.user_id == "big"]["k"].unique()) == [1, 2, 4]
    assert list(default[default.user_id == "small"]["k"].unique()) == [1]
    assert len(default) == 2 * 2 * 3 + 2 * 3 * 1
    n_cells = len(result.cells)
    for method in (scaling.SYNTHESIZEME, scaling.MEMORY):
        rows = frame[frame["method"] == method]
        per_cell = rows.groupby(["user_id", "k", "draw"]).size()
        assert len(per_cell) == n_cells
        expected = {"big": 4, "small": 6}  # both orders of every test pair
        assert all(per_cell[key] == expected[key[0]] for key in per_cell.index)
        # each fit's rows carry how many draws the fit stands for
        stands_for = {(c.user_id, c.k, c.draw): len(c.draws.split())
                      for c in result.cells.itertuples()}
        assert all(r.n_draws == stands_for[(r.user_id, r.k, r.draw)]
                   for r in rows.itertuples())
    assert (frame[frame["method"] == scaling.MEMORY]["n_draws"] == 2).any()  # k=4: merged
    assert (default["n_draws"] == design.seeds_per_k).all()
    # correctness is scored against the slot of the chosen reply
    assert (frame["correct"] == ((frame["choice"] == "A") & (frame["order"] == "chosen_first")
                                 | (frame["choice"] == "B") & (frame["order"] ==
                                                               "rejected_first"))).all()
    assert spend.loc["total", "calls"] == server.requests_seen


def test_the_full_size_fit_is_the_main_results_fit_served_from_the_cache(make_client):
    client, server = make_client(smoke_responder)
    user = make_user("u1", 3, 1, 2)
    fit_user(user, client, CONFIG)  # what chapter 05 would have fitted
    seen = server.requests_seen
    result = scaling.run_scaling([user], client, CONFIG,
                                 ScalingDesign(k_grid=(4,), seeds_per_k=3, memory=False),
                                 max_workers=1)
    spend = result.spend.set_index("stage")
    assert spend.loc["fit SynthesizeMe on every subset", "calls"] == 0
    assert spend.loc["fit SynthesizeMe on every subset", "cache_hits"] > 0
    assert server.requests_seen - seen == spend.loc["total", "calls"]
    # and a rerun of the whole study sends nothing at all
    again = scaling.run_scaling([user], client, CONFIG,
                                ScalingDesign(k_grid=(4,), seeds_per_k=3, memory=False),
                                max_workers=1)
    assert again.spend.set_index("stage").loc["total", "calls"] == 0
    assert again.judgments.equals(result.judgments)


def test_a_design_no_user_can_enter_is_a_settings_error_before_any_call(make_client):
    client, server = make_client(smoke_responder)
    with pytest.raises(SettingsError, match="no user can be fitted at any k"):
        scaling.run_scaling([make_user("u1", 1, 1, 2)], client, CONFIG,
                            ScalingDesign(k_grid=(3, 5)))
    assert server.requests_seen == 0
