"""Candidate search: best score wins, ties go to the earliest, the early stop is exact in any
batch size, nothing is judged twice; spend accounting reads judgments correctly."""

from __future__ import annotations

import random

import pytest

from persona_judge.llm import Judgment
from persona_judge.llm.parsing import TIE_FAILURE
from persona_judge.method.bootstrap import draw_subsets
from persona_judge.method.selection import Candidate, Spend, search_candidates


def cand(name: str) -> Candidate:
    return Candidate("random", (name,))


def run(scores: dict[str, int], names: list[str], n_val: int = 3, **kw):
    batches: list[list[str]] = []

    def score_many(cands):
        batches.append([c.members[0] for c in cands])
        return [{f"v{i}": i < scores[c.members[0]] for i in range(n_val)} for c in cands]

    winner, results = search_candidates([cand(n) for n in names], score_many, n_val, **kw)
    return winner, results, batches


def test_highest_score_wins_and_all_at_once_is_one_round() -> None:
    winner, results, batches = run({"a": 1, "b": 2, "c": 0}, ["a", "b", "c"])
    assert winner == 1 and [r.n_correct for r in results] == [1, 2, 0]
    assert batches == [["a", "b", "c"]]  # batch_size=None: one client batch


def test_ties_go_to_the_earliest_candidate() -> None:
    winner, _, _ = run({"a": 0, "b": 2, "c": 1, "d": 2}, list("abcd"))
    assert winner == 1
    winner, results, _ = run(dict.fromkeys("abcd", 1), list("abcd"))
    assert winner == 0 and all(r.status == "scored" for r in results)


def test_duplicates_are_not_judged_again() -> None:
    winner, results, batches = run({"a": 1, "b": 1}, ["a", "b", "a"], batch_size=1)
    assert batches == [["a"], ["b"]]
    assert results[2].status == "same as #0" and results[2].n_correct == 1 and winner == 0


def test_sequential_stop_skips_the_rest() -> None:
    winner, results, batches = run({"a": 1, "b": 3, "c": 3}, ["a", "b", "c"], batch_size=1)
    assert winner == 1 and batches == [["a"], ["b"]]
    assert results[2].status.startswith("skipped") and results[2].n_correct is None


def test_batched_stop_scores_but_never_elects_later_candidates() -> None:
    # c scores higher than the stopping candidate b but comes after it: it cannot win
    winner, results, batches = run({"a": 1, "b": 4, "c": 5, "d": 5}, list("abcd"), n_val=5,
                                   stop_at=4, batch_size=3)
    assert winner == 1 and batches == [["a", "b", "c"]]
    assert results[2].status == "scored after the stop" and not results[2].eligible
    assert results[3].status.startswith("skipped") and results[3].n_correct is None


@pytest.mark.parametrize("seed", range(40))
def test_winner_does_not_depend_on_batch_size(seed: int) -> None:
    rng = random.Random(seed)
    names = [rng.choice("abcdefgh") for _ in range(rng.randint(1, 12))]
    scores = {n: rng.randint(0, 5) for n in "abcdefgh"}
    stop = rng.choice([None, 4, 5])
    outcomes = set()
    for batch_size in (1, 2, 3, None):
        winner, results, batches = run(scores, names, n_val=5, stop_at=stop,
                                       batch_size=batch_size)
        eligible = [r for r in results if r.eligible and r.n_correct is not None]
        outcomes.add((winner, results[winner].n_correct))
        assert max(len(b) for b in batches) <= (batch_size or len(names))
        assert winner == min(r.index for r in eligible
                             if r.n_correct == max(e.n_correct for e in eligible))
    assert len(outcomes) == 1


def test_no_validation_pairs_takes_the_named_fallback_unscored() -> None:
    winner, results, batches = run({}, ["a", "b"], n_val=0, fallback_index=1)
    assert winner == 1 and batches == [] and all(r.n_correct is None for r in results)
    assert results[0].status.startswith("not scored")


def test_bad_batch_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        run({"a": 1}, ["a"], batch_size=0)


def test_spend_classifies_judgments() -> None:
    judgments = [
        Judgment("A", "r", None, 1, 10, 5),
        Judgment("B", "r", None, 3, 30, 15),                    # parsed on the 3rd sample
        Judgment(None, "x", "unparseable after 3 samples", 3, 30, 15),
        Judgment(None, "r", TIE_FAILURE, 1, 10, 5),
        Judgment(None, "", "call failed: 500", 1, 0, 0),
    ]
    spend = Spend()
    spend.add_judgments(judgments)
    assert (spend.requests, spend.samples, spend.rounds) == (5, 9, 1)
    assert spend.unparseable == 2 + 3 and spend.no_choice == 3 and spend.failed_calls == 1
    assert spend.parse_failure_rate == pytest.approx(5 / 9)
    assert (spend.prompt_tokens, spend.completion_tokens) == (80, 40)
    assert Spend.from_dict(spend.to_dict()) == spend
    assert Spend.from_dict({"requests": 2, "attempts": 3}).samples == 3  # format-1 artifacts
    assert Spend().parse_failure_rate is None


def test_draw_subsets_seeded_sizes_and_full_set_first() -> None:
    subsets = draw_subsets(7, 10, None, seed=5)
    assert subsets[0] == tuple(range(7)) and len(subsets) == 10
    assert all(len(s) == 4 and list(s) == sorted(s) for s in subsets[1:])
    assert subsets == draw_subsets(7, 10, None, seed=5) != draw_subsets(7, 10, None, seed=6)
    assert all(len(s) == 2 for s in draw_subsets(7, 3, 2, seed=1, include_full_set=False))
