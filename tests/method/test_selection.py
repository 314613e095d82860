"""Candidate search: best score wins, ties go to the earliest, nothing is judged twice."""

from __future__ import annotations

from persona_judge.method.bootstrap import draw_subsets
from persona_judge.method.selection import search_candidates


def run(scores: dict[tuple[str, ...], int], candidates: list[tuple[str, ...]], n_val: int = 3):
    calls: list[tuple[str, ...]] = []

    def score(members: tuple[str, ...]) -> dict[str, bool]:
        calls.append(members)
        k = scores[members]
        return {f"v{i}": i < k for i in range(n_val)}

    winner, results = search_candidates(candidates, score, n_val)
    return winner, results, calls


def test_highest_score_wins() -> None:
    cands = [("a",), ("b",), ("c",)]
    winner, results, _ = run({("a",): 1, ("b",): 2, ("c",): 0}, cands)
    assert winner == 1 and [r.n_correct for r in results] == [1, 2, 0]


def test_ties_go_to_the_earliest_candidate() -> None:
    cands = [("a",), ("b",), ("c",), ("d",)]
    winner, _, _ = run({("a",): 0, ("b",): 2, ("c",): 1, ("d",): 2}, cands)
    assert winner == 1
    winner, results, _ = run({c: 1 for c in cands}, cands)  # all tie
    assert winner == 0 and all(r.status == "scored" for r in results)


def test_duplicates_are_not_judged_again() -> None:
    cands = [("a",), ("b",), ("a",)]
    winner, results, calls = run({("a",): 1, ("b",): 1}, cands)
    assert calls == [("a",), ("b",)]
    assert results[2].status == "same as #0" and results[2].n_correct == 1 and winner == 0


def test_perfect_score_stops_the_search() -> None:
    cands = [("a",), ("b",), ("c",)]
    winner, results, calls = run({("a",): 1, ("b",): 3, ("c",): 3}, cands)
    assert winner == 1 and calls == [("a",), ("b",)]
    assert results[2].status.startswith("skipped") and results[2].n_correct is None


def test_no_validation_pairs_takes_candidate_zero_unscored() -> None:
    winner, results, calls = run({}, [("a",), ("b",)], n_val=0)
    assert winner == 0 and calls == [] and all(r.n_correct is None for r in results)
    assert results[0].status.startswith("not scored")


def test_draw_subsets_seeded_sizes_and_full_set_first() -> None:
    subsets = draw_subsets(7, 10, None, seed=5)
    assert subsets[0] == tuple(range(7)) and len(subsets) == 10
    assert all(len(s) == 4 and list(s) == sorted(s) for s in subsets[1:])
    assert subsets == draw_subsets(7, 10, None, seed=5) != draw_subsets(7, 10, None, seed=6)
    assert all(len(s) == 2 for s in draw_subsets(7, 3, 2, seed=1, include_full_set=False))
