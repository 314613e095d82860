"""Candidate search on validation: score candidate prompts, keep the best, spend nothing twice.

Both search steps of the method (step 1: which verified reasoning traces; step 3:
which demonstrations) have the same shape: a list of seeded candidates, each a
set of training pairs, each scored by the personalized judge on the user's
validation pairs (one judgment per validation pair, in the order drawn for that
pair). The rules, identical in both steps:

* **score** = number of validation judgments that pick the user's chosen reply;
  a tie, an unparseable answer or a failed call counts as wrong.
* **winner** = the highest score; ties go to the **earliest candidate index**
  (candidate 0 first), so the choice is deterministic and all-tied searches
  return candidate 0.
* **nothing twice**: a candidate whose members equal an earlier candidate's is
  not judged again (status ``"same as #k"``, score copied); once some candidate
  has a perfect score no later candidate can win (ties go to the earlier one),
  so the rest are ``"skipped"`` and cost nothing.
* **no validation pairs**: nothing can be scored; candidate 0 wins and every
  candidate has status ``"not scored"`` (the caller records a fallback).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Spend:
    """What a step cost: requests issued by the method, client attempts and tokens."""

    requests: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add_judgments(self, judgments: Sequence[Any]) -> None:
        self.requests += len(judgments)
        self.attempts += sum(int(getattr(j, "attempts", 1) or 0) for j in judgments)
        self.prompt_tokens += sum(int(j.prompt_tokens or 0) for j in judgments)
        self.completion_tokens += sum(int(j.completion_tokens or 0) for j in judgments)

    def add_chat(self, result: Any) -> None:
        self.requests += 1
        self.attempts += 1
        self.prompt_tokens += int(result.prompt_tokens or 0)
        self.completion_tokens += int(result.completion_tokens or 0)

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.requests + other.requests, self.attempts + other.attempts,
                     self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spend:
        return cls(**{k: int(v) for k, v in data.items()})


@dataclass
class CandidateScore:
    """One candidate of a search: its members (pair ids) and how it scored on validation."""

    index: int
    members: tuple[str, ...]
    n_correct: int | None = None
    n_judged: int = 0
    status: str = "scored"
    per_pair: dict[str, bool] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        if self.n_correct is None or self.n_judged == 0:
            return None
        return self.n_correct / self.n_judged

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["members"] = list(self.members)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateScore:
        return cls(index=int(data["index"]), members=tuple(data["members"]),
                   n_correct=data.get("n_correct"), n_judged=int(data.get("n_judged", 0)),
                   status=str(data.get("status", "scored")),
                   per_pair={str(k): bool(v) for k, v in (data.get("per_pair") or {}).items()})


def pick_winner(scores: Sequence[CandidateScore]) -> int:
    """Index of the best-scoring candidate; ties (and no scores at all) go to the earliest."""
    best_index, best = 0, -1
    for cand in scores:
        if cand.n_correct is not None and cand.n_correct > best:
            best_index, best = cand.index, cand.n_correct
    return best_index


def search_candidates(
    candidates: Sequence[tuple[str, ...]],
    score: Callable[[tuple[str, ...]], dict[str, bool]],
    n_val: int,
    key: Callable[[tuple[str, ...]], Hashable] | None = None,
) -> tuple[int, list[CandidateScore]]:
    """Score ``candidates`` in index order by the rules above; return (winner, scores).

    ``score(members)`` judges the validation pairs with that candidate in the
    prompt and returns ``{val pair id: correct}``. ``key(members)`` says when two
    candidates would send identical prompts (default: identical member tuples).
    """
    key = key or (lambda members: members)
    results: list[CandidateScore] = []
    if n_val == 0:
        results = [CandidateScore(i, tuple(m), None, 0, "not scored: no validation pairs")
                   for i, m in enumerate(candidates)]
        return 0, results
    seen: dict[Hashable, CandidateScore] = {}
    perfect_at: int | None = None
    for i, members in enumerate(candidates):
        members = tuple(members)
        if perfect_at is not None:
            results.append(CandidateScore(
                i, members, None, 0, f"skipped: #{perfect_at} already scored {n_val}/{n_val}"))
            continue
        k = key(members)
        if k in seen:
            first = seen[k]
            results.append(CandidateScore(i, members, first.n_correct, first.n_judged,
                                          f"same as #{first.index}", dict(first.per_pair)))
            continue
        per_pair = score(members)
        cand = CandidateScore(i, members, sum(per_pair.values()), len(per_pair), "scored",
                              per_pair)
        seen[k] = cand
        results.append(cand)
        if cand.n_correct == n_val:
            perfect_at = i
    return pick_winner(results), results
