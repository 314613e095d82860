"""Candidate search on validation: score candidate prompts, keep the best, in few rounds.

Both search steps of the method (step 1: which verified reasoning traces; step 3:
which demonstrations, with the persona) have the same shape: an ordered list of
:class:`Candidate` prompts, each a set of training pairs shown with reasoning
(``members``) and a set shown with the user's choice only (``labelled``), each
scored by the judge on the user's validation pairs (one judgment per validation
pair, in that pair's display order). The rules, identical in both steps:

* **score** = number of validation judgments that pick the user's chosen reply;
  a tie, an unparseable answer or a failed call counts as wrong.
* **early stop** (``stop_at``): walking the candidates in index order, the first
  one whose score reaches ``stop_at`` correct judgments ends the search (the
  paper's public code stops at 80% validation accuracy; our cheaper variant at a
  perfect score). Candidates after it are not eligible to win.
* **winner** = the highest score among eligible candidates; ties go to the
  **earliest index**, so the choice is deterministic.
* **nothing twice**: a candidate whose prompt equals an earlier candidate's
  (same ``key``) is not judged again (status ``"same as #k"``, score copied).
* **rounds**: candidates are scored ``batch_size`` at a time, each batch as one
  concurrent client batch (one round of latency); ``batch_size=None`` scores all
  candidates in one round, ``batch_size=1`` is the old one-at-a-time search.
  The winner does not depend on the batch size: a batch is read in index order,
  so a candidate scored in the same batch after the stopping one is recorded
  (status ``"scored after the stop"``, its calls spent) but cannot win.
  Larger batches trade some calls for fewer rounds.
* **no validation pairs**: nothing can be scored; the caller names the fallback
  candidate (``fallback_index``) and every candidate is ``"not scored"``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from persona_judge.llm.parsing import TIE_FAILURE


@dataclass(frozen=True)
class Fallback:
    """A documented fallback the fit took: a stable ``code``, the step, and what happened."""

    code: str
    step: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code} ({self.step}): {self.detail}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> Fallback:
        if isinstance(data, str):  # artifacts of format 1 stored plain sentences
            return cls("note", "", data)
        return cls(str(data["code"]), str(data.get("step", "")), str(data.get("detail", "")))


def judgment_outcome(judgment: Any) -> str:
    """``"choice"``, or why a judgment ended with no choice: ``"tie"``, ``"unparseable"``,
    ``"failed call"`` or ``"no choice"`` (anything else), read off ``Judgment.failure``."""
    if judgment.choice is not None:
        return "choice"
    failure = str(judgment.failure or "")
    if failure.startswith("call failed"):
        return "failed call"
    if failure.startswith("unparseable"):
        return "unparseable"
    if failure == TIE_FAILURE or "tie" in failure.lower():
        return "tie"
    return "no choice"


@dataclass
class Spend:
    """What a step cost and how it went.

    requests:    judge or chat requests the method issued
    samples:     samples drawn for them (``Judgment.attempts``: 1 + parse resamples);
                 on a cold cache each sample is one endpoint call (HTTP retries are
                 counted by the client's ``RunStats``, not here)
    rounds:      client batches issued one after another (latency on the critical path)
    unparseable: samples whose answer could not be parsed
    no_choice:   judgments that ended with no choice (tie, unparseable, failed call)
    failed_calls: requests whose call failed after the client's retries
    """

    requests: int = 0
    samples: int = 0
    rounds: int = 0
    unparseable: int = 0
    no_choice: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add_judgments(self, judgments: Sequence[Any]) -> None:
        """Account one client batch of judgments (one round)."""
        self.rounds += 1 if judgments else 0
        for j in judgments:
            attempts = int(getattr(j, "attempts", 1) or 0)
            outcome = judgment_outcome(j)
            self.requests += 1
            self.samples += attempts
            # Every sample before the last was resampled because it did not parse; the
            # last one failed to parse too when the judgment ended unparseable.
            self.unparseable += max(0, attempts - 1) + (outcome == "unparseable")
            self.no_choice += outcome != "choice"
            self.failed_calls += outcome == "failed call"
            self.prompt_tokens += int(j.prompt_tokens or 0)
            self.completion_tokens += int(j.completion_tokens or 0)

    def add_chat(self, result: Any) -> None:
        """Account one free-text call (one round)."""
        self.rounds += 1
        self.requests += 1
        self.samples += 1
        self.failed_calls += result.error is not None
        self.prompt_tokens += int(result.prompt_tokens or 0)
        self.completion_tokens += int(result.completion_tokens or 0)

    @property
    def parse_failure_rate(self) -> float | None:
        """Share of samples whose answer could not be parsed (None with no samples)."""
        return self.unparseable / self.samples if self.samples else None

    def __add__(self, other: Spend) -> Spend:
        return Spend(**{k: getattr(self, k) + getattr(other, k)
                        for k in self.__dataclass_fields__})

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spend:
        values = {("samples" if k == "attempts" else k): int(v) for k, v in data.items()}
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Candidate:
    """One candidate prompt: what kind it is and which training pairs it shows.

    ``members`` are shown with their verified reasoning, ``labelled`` with the
    user's choice only; both are tuples of pair ids in training order.
    """

    kind: str
    members: tuple[str, ...] = ()
    labelled: tuple[str, ...] = ()

    @property
    def key(self) -> Hashable:
        """Equal keys give identical prompts (demos are rendered in training order)."""
        return (frozenset(self.members), frozenset(self.labelled))

    @property
    def n_demos(self) -> int:
        return len(self.members) + len(self.labelled)


@dataclass
class CandidateScore:
    """One candidate of a search and how it scored on validation."""

    index: int
    members: tuple[str, ...]
    n_correct: int | None = None
    n_judged: int = 0
    status: str = "scored"
    per_pair: dict[str, bool] = field(default_factory=dict)
    kind: str = ""
    labelled: tuple[str, ...] = ()
    eligible: bool = True

    @property
    def accuracy(self) -> float | None:
        if self.n_correct is None or self.n_judged == 0:
            return None
        return self.n_correct / self.n_judged

    @property
    def candidate(self) -> Candidate:
        return Candidate(self.kind, self.members, self.labelled)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["members"], out["labelled"] = list(self.members), list(self.labelled)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateScore:
        return cls(index=int(data["index"]), members=tuple(data["members"]),
                   n_correct=data.get("n_correct"), n_judged=int(data.get("n_judged", 0)),
                   status=str(data.get("status", "scored")),
                   per_pair={str(k): bool(v) for k, v in (data.get("per_pair") or {}).items()},
                   kind=str(data.get("kind", "")), labelled=tuple(data.get("labelled", ())),
                   eligible=bool(data.get("eligible", True)))


def pick_winner(scores: Sequence[CandidateScore], default: int = 0) -> int:
    """Index of the best eligible candidate; ties go to the earliest; ``default`` if none."""
    best_index, best = default, -1
    for cand in scores:
        if cand.eligible and cand.n_correct is not None and cand.n_correct > best:
            best_index, best = cand.index, cand.n_correct
    return best_index


ScoreMany = Callable[[Sequence[Candidate]], list[dict[str, bool]]]


def search_candidates(candidates: Sequence[Candidate], score_many: ScoreMany, n_val: int, *,
                      stop_at: int | None = None, batch_size: int | None = None,
                      fallback_index: int = 0) -> tuple[int, list[CandidateScore]]:
    """Score ``candidates`` by the rules above; return (winner index, every candidate's score).

    ``score_many(cands)`` judges the validation pairs with each candidate in the prompt,
    all in one client batch, and returns ``{val pair id: correct}`` per candidate.
    ``stop_at`` (default ``n_val``: a perfect score) ends the search early.
    """
    def record(i: int, cand: Candidate, **kw: Any) -> CandidateScore:
        return CandidateScore(i, cand.members, kind=cand.kind, labelled=cand.labelled, **kw)

    if n_val == 0:
        return fallback_index, [record(i, c, status="not scored: no validation pairs")
                                for i, c in enumerate(candidates)]
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 or None (all at once), got {batch_size}")
    stop_at = n_val if stop_at is None else stop_at
    results: list[CandidateScore | None] = [None] * len(candidates)
    first_of: dict[Hashable, int] = {}
    stopped_at: int | None = None
    pending = list(range(len(candidates)))
    while pending and stopped_at is None:
        # Fill one batch with candidates that need judging; duplicates ride along free.
        batch: list[int] = []
        take = 0
        for i in pending:
            if candidates[i].key not in first_of:
                if batch_size is not None and len(batch) == batch_size:
                    break
                first_of[candidates[i].key] = i
                batch.append(i)
            take += 1
        scored = dict(zip(batch, score_many([candidates[i] for i in batch]), strict=True))
        for i in pending[:take]:
            cand = candidates[i]
            first = first_of[cand.key]
            per_pair = scored[first] if first in scored else results[first].per_pair  # type: ignore[union-attr]
            status = "scored" if first == i else f"same as #{first}"
            if stopped_at is not None:
                status = "scored after the stop" if first == i else status
            results[i] = record(i, cand, n_correct=sum(per_pair.values()), n_judged=len(per_pair),
                                status=status, per_pair=dict(per_pair),
                                eligible=stopped_at is None)
            if stopped_at is None and sum(per_pair.values()) >= stop_at:
                stopped_at = i
        pending = pending[take:]
    for i in pending:
        results[i] = record(i, candidates[i], status=f"skipped: #{stopped_at} reached "
                                                     f"{stop_at}/{n_val}", eligible=False)
    final = [r for r in results if r is not None]
    return pick_winner(final), final
