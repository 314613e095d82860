"""Per-user train / validation / test splits of the constructed benchmark, seeded.

Each user's pairs are divided on their own (the benchmark is user-stratified: a
method learns from a user's train pairs, chooses on their validation pairs and is
scored on their test pairs). Choices, all parameters of :class:`SplitConfig`:

* ``fractions`` (default train 0.5, val 0.2, test 0.3) are targets; every user
  gets at least one validation and one test pair and keeps at least one train
  pair, or is set aside (counted) when that is impossible.
* ``by_conversation`` (default True): pairs from one conversation stay in one
  split. One PRISM conversation yields several pairs with a shared context; a
  test pair whose context the method saw in training would flatter it.
* The draw is seeded per user (``seed`` and the user id), so adding or removing
  another user never reshuffles this one. Test is filled first, then
  validation, then train takes the rest, group by group in the shuffled order; a
  split takes another group only while that brings it nearer its target.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from persona_judge.construction.pairs import CandidatePair

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitConfig:
    fractions: Mapping[str, float] = field(
        default_factory=lambda: {"train": 0.5, "val": 0.2, "test": 0.3})
    by_conversation: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        fractions = dict(self.fractions)
        if set(fractions) != set(SPLITS) or any(v <= 0 for v in fractions.values()):
            raise ValueError(f"split fractions need positive train, val and test shares, got "
                             f"{fractions}")
        total = sum(fractions.values())
        object.__setattr__(self, "fractions", {k: fractions[k] / total for k in SPLITS})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fractions": dict(self.fractions)}


def _groups(pairs: Sequence[CandidatePair], by_conversation: bool) -> list[list[CandidatePair]]:
    if not by_conversation:
        return [[p] for p in pairs]
    groups: dict[str, list[CandidatePair]] = {}
    for pair in pairs:
        groups.setdefault(pair.conversation_id, []).append(pair)
    return list(groups.values())


def split_user(pairs: Sequence[CandidatePair], config: SplitConfig) -> dict[str, str] | None:
    """``{pair_id: split}`` for one user's pairs, or None if they cannot be split."""
    if not pairs:
        return None
    groups = _groups(sorted(pairs, key=lambda p: p.pair_id), config.by_conversation)
    if len(groups) < 3:
        return None
    random.Random(f"split|{config.seed}|{pairs[0].user_id}").shuffle(groups)
    n = len(pairs)
    targets = {s: max(1, math.floor(config.fractions[s] * n + 0.5)) for s in ("test", "val")}
    assignment: dict[str, str] = {}
    counts = {s: 0 for s in SPLITS}
    remaining = list(groups)
    # Test leaves at least two groups (for val and train), val at least one (for train). A
    # split takes the next group while that brings its count nearer its target (and always
    # takes one), so whole conversations never push a split far past its share.
    for split, reserve in (("test", 2), ("val", 1)):
        while len(remaining) > reserve:
            size = len(remaining[0])
            if counts[split] and abs(counts[split] + size - targets[split]) >= \
                    abs(counts[split] - targets[split]):
                break
            group = remaining.pop(0)
            for pair in group:
                assignment[pair.pair_id] = split
            counts[split] += size
    for group in remaining:
        for pair in group:
            assignment[pair.pair_id] = "train"
        counts["train"] += len(group)
    if min(counts.values()) == 0:
        return None
    return assignment


def assign_splits(pairs: Sequence[CandidatePair], config: SplitConfig
                  ) -> tuple[dict[str, str], list[str]]:
    """Split every user's pairs: ``({pair_id: split}, users set aside as unsplittable)``."""
    by_user: dict[str, list[CandidatePair]] = {}
    for pair in pairs:
        by_user.setdefault(pair.user_id, []).append(pair)
    assignment: dict[str, str] = {}
    set_aside = []
    for user_id in sorted(by_user):
        split = split_user(by_user[user_id], config)
        if split is None:
            set_aside.append(user_id)
        else:
            assignment.update(split)
    return assignment, set_aside
