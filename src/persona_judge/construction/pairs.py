"""Preference pairs derived from raw PRISM conversations and Chatbot Arena votes.

A :class:`CandidatePair` is one (context, chosen, rejected) of one user, in the
benchmark's row schema, with a ``pair_id`` that traces back to the raw record:

* PRISM ``prism/<conversation_id>/t<turn>/<chosen within_turn_id>><rejected within_turn_id>``;
* Chatbot Arena ``arena/<question_id>``.

How pairs are formed is a parameter (:class:`PairingConfig`); every record that
yields no pair is counted by reason in a :class:`DerivationReport`, never dropped
silently.

**PRISM.** Turn 0 shows two to four models' replies, each rated 1-100; the one the
person marked ``if_chosen`` (their best-rated) is the chosen reply. With
``prism_pairs="chosen_vs_others"`` (default) it is paired with every other
candidate of that turn; ``"all_scored"`` pairs every two candidates with
different scores (higher score chosen). Later turns are A/B choices between two
replies of the continuing model: one pair each, the ``if_chosen`` reply against
the other. **Equal scores**: ``prism_equal_scores="drop"`` (default) keeps a pair
only when the chosen reply also scored strictly higher; ``"use_choice"`` lets the
explicit ``if_chosen`` mark break the tie. **Multi-turn**: ``prism_turns="all"``
(default) turns every turn into pairs, with the conversation so far as context
(earlier user messages and the reply chosen at each earlier turn, which is the
one the conversation continued from); ``"first"`` keeps turn 0 only. Model
replies keep PRISM's real role ``"model"`` (``model_role``), as the published
benchmark does; ``turns`` counts the user messages up to and including the one
answered.

**Chatbot Arena.** A vote for ``model_a`` / ``model_b`` gives one pair: the last
reply of the winner's conversation against the loser's. **Ties** (``tie`` and
``tie (bothbad)``) say neither reply was preferred, so they give no pair (no
orientation exists; counted). **Multi-turn**: the vote judges whole
conversations whose earlier replies differ between the two sides, so no single
shared context exists: ``arena_turns="first"`` (default) keeps single-turn votes
only; ``"last"`` keeps multi-turn votes too, with the winner's earlier
conversation as context (an approximation that shows the chosen side's
history). Optional cleaning: ``arena_languages`` (default English only),
``arena_drop_flagged`` (default: drop votes flagged by OpenAI moderation or the
toxicity taggers), ``arena_anonymous_only`` (default False).

Which of the paper's choices these defaults match is not documented in the
paper; they are our choices, written down here and in chapter 00.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from persona_judge.data.raw_arena import ArenaVote
from persona_judge.data.raw_prism import PrismConversation, PrismEntry
from persona_judge.data.records import Turn, last_user_message

SOURCES = ("prism", "chatbot_arena")


@dataclass(frozen=True)
class CandidatePair:
    """One user's preference derived from a raw record, before any filter."""

    pair_id: str
    source: str
    user_id: str
    conversation_id: str
    context: tuple[Turn, ...]
    chosen: Turn
    rejected: Turn
    turns: int
    type: str
    flip: bool
    chosen_score: float | None = None
    rejected_score: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def query(self) -> str:
        """The last user message: what the two replies answer."""
        return last_user_message(self.context)

    def to_row(self) -> dict[str, Any]:
        """The pair in the benchmark's row schema (no split yet)."""
        return {
            "pair_id": self.pair_id,
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "context": [{"content": t.content, "role": t.role} for t in self.context],
            "chosen": {"content": self.chosen.content, "role": self.chosen.role},
            "rejected": {"content": self.rejected.content, "role": self.rejected.role},
            "turns": self.turns,
            "type": self.type,
            "flip": self.flip,
            "chosen_score": self.chosen_score,
            "rejected_score": self.rejected_score,
            "dataset": self.source,
        }


@dataclass(frozen=True)
class PairingConfig:
    """How raw records become pairs (see the module docstring for each choice)."""

    prism_pairs: Literal["chosen_vs_others", "all_scored"] = "chosen_vs_others"
    prism_equal_scores: Literal["drop", "use_choice"] = "drop"
    prism_turns: Literal["all", "first"] = "all"
    model_role: str = "model"
    arena_turns: Literal["first", "last"] = "first"
    arena_languages: tuple[str, ...] | None = ("English",)
    arena_drop_flagged: bool = True
    arena_anonymous_only: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {"prism_pairs": ("chosen_vs_others", "all_scored"),
                  "prism_equal_scores": ("drop", "use_choice"),
                  "prism_turns": ("all", "first"), "arena_turns": ("first", "last")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"pairing setting {name}={getattr(self, name)!r}; expected one "
                                 f"of {', '.join(allowed)}")
        if self.arena_languages is not None:
            object.__setattr__(self, "arena_languages", tuple(self.arena_languages))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["arena_languages"] = list(self.arena_languages) if self.arena_languages else None
        return out


@dataclass
class DerivationReport:
    """What pair derivation produced from one source, and why records gave no pair."""

    source: str
    records: int = 0
    pairs: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def table(self) -> list[dict[str, Any]]:
        return [{"source": self.source, "reason": r, "count": n}
                for r, n in self.skipped.most_common()]


def flip_for(pair_id: str, seed: int) -> bool:
    """A seeded coin per pair: True shows the chosen reply second where one order is needed."""
    return hashlib.sha256(f"flip|{seed}|{pair_id}".encode()).digest()[0] & 1 == 1


# -- PRISM ----------------------------------------------------------------------------------
def _prism_turn_pairs(turn: int, models: list[PrismEntry], config: PairingConfig,
                      report: DerivationReport) -> list[tuple[PrismEntry, PrismEntry]]:
    chosen = [m for m in models if m.if_chosen]
    if len(chosen) != 1:
        report.skip("PRISM turn without exactly one chosen reply")
        return []
    best = chosen[0]
    if turn == 0 and config.prism_pairs == "all_scored":
        candidates = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
        out = []
        for a, b in candidates:
            if a.score is None or b.score is None:
                report.skip("PRISM pair with a missing score")
            elif a.score == b.score and (config.prism_equal_scores == "drop"
                                         or best not in (a, b)):
                report.skip("PRISM pair with equal scores")
            elif a.score == b.score:
                out.append((best, b if a is best else a))
            else:
                out.append((a, b) if a.score > b.score else (b, a))
        return out
    out = []
    for other in models:
        if other is best:
            continue
        if best.score is None or other.score is None:
            report.skip("PRISM pair with a missing score")
        elif best.score < other.score:
            report.skip("PRISM pair where the chosen reply scored lower")
        elif best.score == other.score and config.prism_equal_scores == "drop":
            report.skip("PRISM pair with equal scores")
        else:
            out.append((best, other))
    return out


def prism_pairs(conversations: Iterable[PrismConversation], config: PairingConfig
                ) -> tuple[list[CandidatePair], DerivationReport]:
    """Every pair the conversations yield under ``config``, and the skip counts."""
    report = DerivationReport("prism")
    pairs: list[CandidatePair] = []
    role = config.model_role
    for conversation in conversations:
        report.records += 1
        context: list[Turn] = []
        for turn, entries in conversation.turns().items():
            users = [e for e in entries if e.role == "user"]
            models = [e for e in entries if e.role == "model"]
            if len(users) != 1:
                report.skip("PRISM turn without exactly one user message")
                break
            context.append(Turn("user", users[0].content))
            if turn > 0 and config.prism_turns == "first":
                report.skip("PRISM later turn (prism_turns='first')")
                continue
            for win, lose in _prism_turn_pairs(turn, models, config, report):
                if win.is_empty or lose.is_empty:
                    report.skip("PRISM pair with an empty reply")
                    continue
                if win.content.strip() == lose.content.strip():
                    report.skip("PRISM pair of identical replies")
                    continue
                pair_id = (f"prism/{conversation.conversation_id}/t{turn}/"
                           f"{win.within_turn_id}>{lose.within_turn_id}")
                pairs.append(CandidatePair(
                    pair_id=pair_id, source="prism", user_id=conversation.user_id,
                    conversation_id=conversation.conversation_id, context=tuple(context),
                    chosen=Turn(role, win.content), rejected=Turn(role, lose.content),
                    turns=sum(t.role == "user" for t in context),
                    type=conversation.conversation_type,
                    flip=flip_for(pair_id, config.seed), chosen_score=win.score,
                    rejected_score=lose.score,
                    raw={"conversation_id": conversation.conversation_id, "turn": turn,
                         "chosen_within_turn_id": win.within_turn_id,
                         "rejected_within_turn_id": lose.within_turn_id,
                         "chosen_model": win.model_name, "rejected_model": lose.model_name}))
            continued = [m for m in models if m.if_chosen]
            if not continued:
                report.skip("PRISM conversation cut short: no chosen reply to continue from")
                break
            context.append(Turn(role, continued[0].content))
    report.pairs = len(pairs)
    return pairs, report


# -- Chatbot Arena ------------------------------------------------------------------------------
def _arena_context(messages: Sequence[Any]) -> tuple[Turn, ...]:
    return tuple(Turn(m.role, m.content) for m in messages)


def arena_pairs(votes: Iterable[ArenaVote], config: PairingConfig
                ) -> tuple[list[CandidatePair], DerivationReport]:
    """Every pair the votes yield under ``config``, and the skip counts."""
    report = DerivationReport("chatbot_arena")
    pairs: list[CandidatePair] = []
    seen: set[str] = set()
    for vote in votes:
        report.records += 1
        if vote.question_id in seen:
            report.skip("Arena duplicate question_id")
            continue
        seen.add(vote.question_id)
        if vote.winner not in ("model_a", "model_b"):
            report.skip(f"Arena {vote.winner}")
            continue
        if config.arena_languages is not None and vote.language not in config.arena_languages:
            report.skip("Arena language not kept")
            continue
        if config.arena_drop_flagged and vote.flagged:
            report.skip("Arena flagged by moderation or toxicity tagger")
            continue
        if config.arena_anonymous_only and not vote.anony:
            report.skip("Arena non-anonymous battle")
            continue
        if vote.turn > 1 and config.arena_turns == "first":
            report.skip("Arena multi-turn vote (arena_turns='first')")
            continue
        win, lose = ((vote.conversation_a, vote.conversation_b) if vote.winner == "model_a"
                     else (vote.conversation_b, vote.conversation_a))
        if win[-1].role != "assistant" or lose[-1].role != "assistant":
            report.skip("Arena conversation not ending with a reply")
            continue
        if not win[-1].content.strip() or not lose[-1].content.strip():
            report.skip("Arena empty reply")
            continue
        if win[-1].content.strip() == lose[-1].content.strip():
            report.skip("Arena identical replies")
            continue
        context = _arena_context(win[:-1])
        pair_id = f"arena/{vote.question_id}"
        pairs.append(CandidatePair(
            pair_id=pair_id, source="chatbot_arena", user_id=vote.judge,
            conversation_id=vote.question_id, context=context,
            chosen=Turn("assistant", win[-1].content), rejected=Turn("assistant", lose[-1].content),
            turns=sum(t.role == "user" for t in context), type="chatbot arena",
            flip=flip_for(pair_id, config.seed),
            raw={"question_id": vote.question_id, "winner": vote.winner,
                 "chosen_model": vote.model_a if vote.winner == "model_a" else vote.model_b,
                 "rejected_model": vote.model_b if vote.winner == "model_a" else vote.model_a,
                 "language": vote.language, "tstamp": vote.tstamp}))
    report.pairs = len(pairs)
    return pairs, report
