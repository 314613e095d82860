"""The construction of one source's benchmark, stage by stage, and its serialisable result.

:func:`construct_source` takes the pairs derived from a raw source and runs:

1. **user filter** (``min_pairs_per_user``), before any LLM call, so nothing is
   spent on users who could never qualify;
2. optionally a seeded **sample of users** for the LLM stages (``llm_max_users``;
   None = everyone): the affordable default of a real run;
3. the **personalization filter** (an LLM, one call per pair);
4. the **consensus filter** (``consensus_source``: ``"llm"`` asks our judges in
   both orders; ``"recorded"`` reuses the published benchmark's recorded
   predictions for pairs that match a published pair and keeps the others;
   ``"off"`` skips it);
5. the **final user filter** (same threshold: the LLM filters thin users out);
6. per-user **splits** (users that cannot be split are set aside).

Each stage's counts are a :class:`~persona_judge.construction.filters.FilterStep`;
the kept pairs, per-pair decisions and verdicts are kept in the
:class:`ConstructionResult`, which writes the benchmark's row schema
(:meth:`ConstructionResult.rows`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from persona_judge.construction.filters import (
    PUBLISHED_JUDGES,
    FilterClient,
    FilterStep,
    consensus_filter,
    llm_verdicts,
    personalization_filter,
    recorded_verdicts,
    user_filter,
)
from persona_judge.construction.pairs import CandidatePair, DerivationReport, PairingConfig
from persona_judge.construction.splits import SplitConfig, assign_splits
from persona_judge.data.records import flip_order, other_order

ConsensusSource = Literal["llm", "recorded", "off"]


@dataclass(frozen=True)
class ConstructionConfig:
    """Every choice of a construction run (each documented where it is used)."""

    pairing: PairingConfig = field(default_factory=PairingConfig)
    min_pairs_per_user: int = 10
    llm_max_users: int | None = None
    personalization: bool = True
    personalization_require: Literal["both", "query", "responses"] = "both"
    consensus_source: ConsensusSource = "llm"
    consensus_threshold: float = 1.0
    consensus_direction: Literal["either", "chosen"] = "either"
    splits: SplitConfig = field(default_factory=SplitConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.consensus_source not in ("llm", "recorded", "off"):
            raise ValueError(f"consensus_source must be 'llm', 'recorded' or 'off', got "
                             f"{self.consensus_source!r}")
        if self.llm_max_users is not None and self.llm_max_users < 1:
            raise ValueError(f"llm_max_users must be at least 1 (or None for all), got "
                             f"{self.llm_max_users}")

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any]) -> ConstructionConfig:
        """Build from the flat settings of chapter 00 / ``study.yaml`` (unknown keys ignored)."""
        seed = int(params.get("seed", 0))
        pairing_fields = set(PairingConfig.__dataclass_fields__) - {"seed"}
        pairing = PairingConfig(seed=seed, **{k: v for k, v in params.items()
                                              if k in pairing_fields})
        fractions = params.get("split_fractions")
        splits = SplitConfig(**({"fractions": fractions} if fractions else {}),
                             by_conversation=bool(params.get("split_by_conversation", True)),
                             seed=seed)
        own = {k: params[k] for k in ("min_pairs_per_user", "llm_max_users", "personalization",
                                      "personalization_require", "consensus_source",
                                      "consensus_threshold", "consensus_direction")
               if k in params}
        return cls(pairing=pairing, splits=splits, seed=seed, **own)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairing"] = self.pairing.to_dict()
        out["splits"] = self.splits.to_dict()
        return out


@dataclass
class ConstructionResult:
    """One source's construction: every stage's counts and the pairs that made it."""

    source: str
    config: ConstructionConfig
    derivation: DerivationReport
    steps: list[FilterStep]
    pairs: list[CandidatePair]
    splits: dict[str, str]
    personalization: pd.DataFrame
    consensus: pd.DataFrame
    verdicts: pd.DataFrame
    users_eligible: int = 0  # users passing the first user filter (before any sampling)
    revision: str = ""

    @property
    def users(self) -> list[str]:
        return sorted({p.user_id for p in self.pairs})

    def stage_table(self) -> pd.DataFrame:
        """One row per stage: users and pairs left, and what the stage removed and why."""
        all_pairs = self.derivation.pairs
        first = self.steps[0] if self.steps else None
        rows = [{"stage": "pairs from raw records", "users": first.users_in if first else 0,
                 "pairs": all_pairs, "pairs removed": None, "why": ""}]
        for step in self.steps:
            why = "; ".join(f"{reason}: {n}" for reason, n in step.removed_by_reason.items())
            rows.append({"stage": step.name, "users": step.users_out, "pairs": step.pairs_out,
                         "pairs removed": step.pairs_removed, "why": why})
        return pd.DataFrame(rows)

    def rows(self, judges: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The constructed benchmark's rows: published column set + ``pair_id``.

        Construction columns come from our own decisions: the personalization
        answers, ``agreement`` (the share of the consensus judgments that picked the
        person's chosen reply: how far the judges agree with the person) and,
        for each of our judges and each of the five published judge names, the
        columns ``prediction_<judge>`` (the pair shown in its ``flip`` order) and
        ``prediction_flip_<judge>`` (the other order) as ``"First"`` / ``"Second"``,
        with the judge's reasoning; None where nothing was computed.
        """
        personal = self.personalization.set_index("pair_id") \
            if len(self.personalization) else None
        consensus = self.consensus.set_index("pair_id") if len(self.consensus) else None
        verdicts = {(r.pair_id, r.judge, r.order): r for r in self.verdicts.itertuples()} \
            if len(self.verdicts) else {}
        judge_names = list(dict.fromkeys([*PUBLISHED_JUDGES, *judges,
                                          *sorted(set(self.verdicts.get("judge", [])))]))
        out = []
        for pair in self.pairs:
            row = pair.to_row()
            row["split"] = self.splits[pair.pair_id]
            p = personal.loc[pair.pair_id] if personal is not None and \
                pair.pair_id in personal.index else None
            row["query_reasoning"] = None if p is None else p["query_reasoning"]
            row["personalizable_query"] = None if p is None else _opt_bool(
                p["personalizable_query"])
            row["response_reasoning"] = None if p is None else p["response_reasoning"]
            row["personalizable_responses"] = None if p is None else _opt_bool(
                p["personalizable_responses"])
            c = consensus.loc[pair.pair_id] if consensus is not None and \
                pair.pair_id in consensus.index else None
            share = None if c is None else c["share_chosen"]
            row["agreement"] = None if share is None or pd.isna(share) else float(share)
            base = flip_order(pair.flip)
            other = other_order(base)
            for judge in judge_names:
                for prefix, order in (("", base), ("flip_", other)):
                    v = verdicts.get((pair.pair_id, judge, order))
                    row[f"prediction_{prefix}{judge}"] = _slot_word(v, order)
                    row[f"reasoning_{prefix}{judge}"] = getattr(v, "reasoning", None) \
                        if v is not None else None
            out.append(row)
        return out


def _opt_bool(value: Any) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)


def _slot_word(verdict: Any, order: str) -> str | None:
    if verdict is None or verdict.picked is None or pd.isna(verdict.picked):
        return None
    chosen_first = order == "chosen_first"
    first = (verdict.picked == "chosen") == chosen_first
    return "First" if first else "Second"


def sample_users(pairs: Sequence[CandidatePair], max_users: int | None, seed: int
                 ) -> tuple[list[CandidatePair], FilterStep | None]:
    """The pairs of ``max_users`` users drawn (seeded) from the users sorted by id."""
    users = sorted({p.user_id for p in pairs})
    if max_users is None or max_users >= len(users):
        return list(pairs), None
    keep = set(random.Random(f"construction-sample|{seed}").sample(users, max_users))
    kept = [p for p in pairs if p.user_id in keep]
    reason = f"user not in the sample of {max_users} (llm_max_users)"
    return kept, FilterStep(f"sample of {max_users} users for the LLM filters", len(pairs),
                            len(kept), len(users), max_users, {reason: len(pairs) - len(kept)})


def construct_source(
    source: str,
    pairs: Sequence[CandidatePair],
    derivation: DerivationReport,
    config: ConstructionConfig,
    *,
    filter_client: FilterClient | None = None,
    judge_clients: Mapping[str, FilterClient] | None = None,
    published: Sequence[Any] | None = None,
    revision: str = "",
) -> ConstructionResult:
    """Run the filters and splits on one source's pairs (see the module docstring)."""
    steps: list[FilterStep] = []
    current, step = user_filter(pairs, config.min_pairs_per_user, "1. user filter")
    steps.append(step)
    eligible = step.users_out
    current, sampled = sample_users(current, config.llm_max_users, config.seed)
    if sampled is not None:
        steps.append(sampled)
    personalization = pd.DataFrame()
    if config.personalization:
        if filter_client is None:
            raise ValueError("the personalization filter needs an LLM client (filter_client)")
        current, personalization, step = personalization_filter(
            current, filter_client, require=config.personalization_require)
        steps.append(_renamed(step, "2. personalization filter"))
    verdicts = pd.DataFrame(columns=["pair_id", "judge", "order", "picked"])
    consensus = pd.DataFrame()
    if config.consensus_source != "off":
        if config.consensus_source == "llm":
            if not judge_clients:
                raise ValueError("consensus_source='llm' needs judge clients (judge_clients)")
            verdicts = llm_verdicts(current, judge_clients)
        else:
            if published is None:
                raise ValueError("consensus_source='recorded' needs the published benchmark "
                                 "(published)")
            from persona_judge.construction.compare import match_published

            matches = match_published(current, published)
            by_published = dict(zip(matches["published_pair_id"], matches["pair_id"],
                                    strict=True))
            rows = [p for p in published if p.pair_id in by_published]
            verdicts = recorded_verdicts(rows)
            verdicts["pair_id"] = verdicts["pair_id"].map(by_published)
        current, consensus, step = consensus_filter(
            current, verdicts, threshold=config.consensus_threshold,
            direction=config.consensus_direction)
        steps.append(_renamed(step, "3. consensus filter"))
    current, step = user_filter(current, config.min_pairs_per_user, "final user filter")
    steps.append(step)
    splits, set_aside = assign_splits(current, config.splits)
    if set_aside:
        kept = [p for p in current if p.pair_id in splits]
        steps.append(FilterStep("per-user splits", len(current), len(kept),
                                len({p.user_id for p in current}), len({p.user_id for p in kept}),
                                {f"user cannot be split into train/val/test "
                                 f"({len(set_aside)} users)": len(current) - len(kept)}))
        current = kept
    return ConstructionResult(source, config, derivation, steps, list(current), splits,
                              personalization, consensus, verdicts, eligible, revision)


def _renamed(step: FilterStep, name: str) -> FilterStep:
    return FilterStep(name, step.pairs_in, step.pairs_out, step.users_in, step.users_out,
                      step.removed_by_reason)
