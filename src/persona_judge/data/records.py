"""Typed records for the study's data: one pairwise preference, one user's splits.

Every loader (the Hugging Face benchmark, the fixture copies, a person's own
preferences file) produces these records and nothing else, so that the method,
the baselines and the evaluation never see a loader's quirks. Records are plain,
frozen dataclasses that round-trip through ``to_dict`` / ``from_dict`` (JSON-safe).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("train", "val", "test")
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: who spoke and what they said."""

    role: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Preference:
    """One user's choice between two responses to the same conversation context.

    ``extra`` keeps the benchmark's construction columns (judge predictions,
    scores, filter reasoning, ...) when the source has them, so that the default
    judge baseline and the consensus filter can be recomputed without new calls.
    """

    user_id: str
    conversation_id: str
    context: tuple[Turn, ...]
    chosen: Turn
    rejected: Turn
    split: str
    dataset: str = ""
    type: str = ""
    turns: int | None = None
    flip: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def pair_id(self) -> str:
        """A stable id for this preference within the study (user + conversation)."""
        return f"{self.user_id}/{self.conversation_id}"

    @property
    def query(self) -> str:
        """The last user message of the context: what the responses answer."""
        for turn in reversed(self.context):
            if turn.role == "user":
                return turn.content
        return ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "user_id": self.user_id,
            "conversation_id": self.conversation_id,
            "context": [t.to_dict() for t in self.context],
            "chosen": self.chosen.to_dict(),
            "rejected": self.rejected.to_dict(),
            "split": self.split,
            "dataset": self.dataset,
            "type": self.type,
            "turns": self.turns,
            "flip": self.flip,
        }
        out.update({k: v for k, v in self.extra.items() if k not in out})
        return out

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Preference:
        """Build a record from an already-validated row (see ``validation``)."""
        known = {"user_id", "conversation_id", "context", "chosen", "rejected", "split",
                 "dataset", "type", "turns", "flip"}
        return cls(
            user_id=str(row["user_id"]),
            conversation_id=str(row["conversation_id"]),
            context=tuple(Turn(str(t["role"]), str(t["content"])) for t in row["context"]),
            chosen=Turn(str(row["chosen"]["role"]), str(row["chosen"]["content"])),
            rejected=Turn(str(row["rejected"]["role"]), str(row["rejected"]["content"])),
            split=str(row["split"]),
            dataset=str(row.get("dataset") or ""),
            type=str(row.get("type") or ""),
            turns=None if row.get("turns") is None else int(row["turns"]),
            flip=None if row.get("flip") is None else bool(row["flip"]),
            extra={k: v for k, v in row.items() if k not in known},
        )


@dataclass(frozen=True)
class UserSplit:
    """One user's preferences, divided into the benchmark's own train/val/test splits."""

    user_id: str
    train: tuple[Preference, ...]
    val: tuple[Preference, ...]
    test: tuple[Preference, ...]

    @property
    def n_preferences(self) -> int:
        return len(self.train) + len(self.val) + len(self.test)

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "train": [p.to_dict() for p in self.train],
            "val": [p.to_dict() for p in self.val],
            "test": [p.to_dict() for p in self.test],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserSplit:
        return cls(
            user_id=str(data["user_id"]),
            **{s: tuple(Preference.from_dict(r) for r in data[s]) for s in SPLITS},
        )


def group_by_user(preferences: Iterable[Preference]) -> dict[str, UserSplit]:
    """Group preferences into per-user splits, keeping each user's original order.

    Users are returned in order of first appearance. No check is made here that a
    user has validation or test data: ``validation.check_user_splits`` does that
    and names the user.
    """
    buckets: dict[str, dict[str, list[Preference]]] = {}
    for pref in preferences:
        buckets.setdefault(pref.user_id, {s: [] for s in SPLITS})[pref.split].append(pref)
    return {
        uid: UserSplit(uid, tuple(b["train"]), tuple(b["val"]), tuple(b["test"]))
        for uid, b in buckets.items()
    }
