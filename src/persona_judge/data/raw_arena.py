"""Chatbot Arena votes as released in ``lmsys/chatbot_arena_conversations``.

Each row is one vote: a person (``judge``, an anonymised voter id such as
``arena_user_973``; the only thing that makes per-user histories possible) chatted
with two anonymous models side by side and picked ``winner``: ``model_a``,
``model_b``, ``tie`` or ``tie (bothbad)``. ``conversation_a`` / ``conversation_b``
are the two full conversations in OpenAI message form (``{content, role}``,
roles ``user`` / ``assistant``); ``turn`` counts user turns (the vote is cast on
the whole conversation). ``language`` is a detected language name
(``"English"``), ``openai_moderation`` the moderation API's output
(``{categories, category_scores, flagged}``) and ``toxic_chat_tag`` two in-house
toxicity classifiers (``{"roberta-large": {flagged, probability},
"t5-large": {flagged, score}}``); ``anony`` says whether the models' names were
hidden. The files are ``data/train-*.parquet``; they are read with pyarrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona_judge.data.raw_sources import RawCopy, RawSourceError, raw_copy

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
COLUMNS = ("question_id", "model_a", "model_b", "winner", "judge", "conversation_a",
           "conversation_b", "turn", "anony", "language", "tstamp", "openai_moderation",
           "toxic_chat_tag")


@dataclass(frozen=True)
class ArenaMessage:
    role: str
    content: str


@dataclass(frozen=True)
class ArenaVote:
    """One Chatbot Arena vote (a row of the release), checked and typed."""

    question_id: str
    judge: str
    model_a: str
    model_b: str
    winner: str
    conversation_a: tuple[ArenaMessage, ...]
    conversation_b: tuple[ArenaMessage, ...]
    turn: int
    language: str
    anony: bool
    tstamp: float
    moderation_flagged: bool
    toxic_flagged: bool
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def flagged(self) -> bool:
        """Flagged by the OpenAI moderation API or by either toxicity tagger."""
        return self.moderation_flagged or self.toxic_flagged


def _messages(value: Any, where: str, name: str) -> tuple[ArenaMessage, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise RawSourceError(f"{where}: field '{name}': expected a non-empty list of messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str) \
                or not isinstance(message.get("content"), str):
            raise RawSourceError(f"{where}: field '{name}[{i}]': expected {{role, content}} "
                                 f"strings, got {message!r:.80}")
        out.append(ArenaMessage(message["role"], message["content"]))
    return tuple(out)


def _flag(value: Any) -> bool:
    return bool(value.get("flagged")) if isinstance(value, Mapping) else False


def vote_from_row(row: Mapping[str, Any], where: str) -> ArenaVote:
    """One release row as an :class:`ArenaVote`; raises naming the row and field."""
    for name in ("question_id", "judge", "winner"):
        if not isinstance(row.get(name), str) or not row[name]:
            raise RawSourceError(f"{where}: field '{name}' is missing or not a string")
    if row["winner"] not in WINNERS:
        raise RawSourceError(f"{where}: field 'winner': expected one of {', '.join(WINNERS)}, "
                             f"got {row['winner']!r}")
    turn = row.get("turn")
    if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
        raise RawSourceError(f"{where}: field 'turn': expected a positive integer, got {turn!r}")
    toxic = row.get("toxic_chat_tag") or {}
    return ArenaVote(
        question_id=row["question_id"], judge=row["judge"],
        model_a=str(row.get("model_a") or ""), model_b=str(row.get("model_b") or ""),
        winner=row["winner"],
        conversation_a=_messages(row.get("conversation_a"), where, "conversation_a"),
        conversation_b=_messages(row.get("conversation_b"), where, "conversation_b"),
        turn=turn, language=str(row.get("language") or ""), anony=bool(row.get("anony")),
        tstamp=float(row.get("tstamp") or 0.0),
        moderation_flagged=_flag(row.get("openai_moderation")),
        toxic_flagged=any(_flag(v) for v in toxic.values()) if isinstance(toxic, Mapping)
        else False,
        raw=dict(row))


def read_arena_votes(folder: Path) -> list[ArenaVote]:
    """Every vote in ``<folder>/data/*.parquet`` (files in name order, rows in file order)."""
    import pyarrow.parquet as pq

    files = sorted((Path(folder) / "data").glob("*.parquet"))
    if not files:
        raise RawSourceError(f"{folder}: no data/*.parquet files (an incomplete local copy? "
                             f"delete the folder to download again)")
    votes: list[ArenaVote] = []
    for path in files:
        table = pq.read_table(path)
        missing = [c for c in ("question_id", "judge", "winner", "conversation_a",
                               "conversation_b", "turn") if c not in table.column_names]
        if missing:
            raise RawSourceError(f"{path}: missing column(s) {', '.join(missing)}")
        for i, row in enumerate(table.to_pylist(), start=1):
            votes.append(vote_from_row(row, f"{path}, row {i}"))
    return votes


def load_arena_votes(mode: str = "real", *, revision: str | None = None,
                     copy: RawCopy | None = None) -> list[ArenaVote]:
    """The Chatbot Arena votes of the real (gated Hub) or smoke (fixture) copy."""
    copy = copy or raw_copy("chatbot_arena", mode, revision)  # type: ignore[arg-type]
    return read_arena_votes(copy.folder)
