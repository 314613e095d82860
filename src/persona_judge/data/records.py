"""Typed records for the study's data: one pairwise preference, one user's splits.

Every loader (the Hugging Face benchmark, the fixture copies, a person's own
preferences file) produces these records and nothing else, so that the method,
the baselines and the evaluation never see a loader's quirks. Records are plain,
frozen dataclasses that round-trip through ``to_dict`` / ``from_dict`` (JSON-safe).

Two facts about the real PersonalRewardBench shape these records:

* **Roles.** PRISM stores the model's turns with role ``"model"``; Chatbot Arena
  and a person's own file use ``"assistant"``. A :class:`Turn` always carries the
  study's role (``"model"`` becomes ``"assistant"``, see :data:`ROLE_ALIASES`) and
  keeps the role as published in ``source_role`` (not part of equality), so a
  record can be written back in the published form.
* **A preference is not a conversation.** One PRISM conversation yields several
  pairs (the same context, different chosen / rejected replies), so
  ``user_id/conversation_id`` does not identify a pair. Every :class:`Preference`
  has a stored ``pair_id``, unique within a dataset (the loaders check it) and
  stable across runs: ``<user_id>/<conversation_id>/<10 hex digits>``, the digits
  being the start of the SHA-256 of the canonical JSON of the context and the
  two replies (:func:`content_pair_id`). The id is **opaque**: key traces, demos,
  validation orders and judgments by it, never parse it or rebuild it from parts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("train", "val", "test")
ROLES = ("system", "user", "assistant")
# Published roles that mean one of ROLES: PRISM's model turns say "model".
ROLE_ALIASES = {"model": "assistant"}


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: who spoke (in the study's roles) and what they said.

    ``source_role`` is the role as the source wrote it when that differs from
    ``role`` (PRISM's ``"model"``); it is kept for writing records back and is not
    part of equality: a PRISM turn equals the same turn written with ``"assistant"``.
    """

    role: str
    content: str
    source_role: str | None = field(default=None, compare=False)

    @classmethod
    def from_source(cls, role: str, content: str) -> Turn:
        """A turn from a published role, mapping aliases (``model`` → ``assistant``)."""
        mapped = ROLE_ALIASES.get(role, role)
        return cls(mapped, content, role if mapped != role else None)

    @property
    def published_role(self) -> str:
        return self.source_role or self.role

    def to_dict(self) -> dict[str, str]:
        out = {"role": self.role, "content": self.content}
        if self.source_role is not None:
            out["source_role"] = self.source_role
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Turn:
        """Inverse of ``to_dict``; a published ``{role, content}`` maps its role too."""
        if data.get("source_role") is not None:
            return cls(str(data["role"]), str(data["content"]), str(data["source_role"]))
        return cls.from_source(str(data["role"]), str(data["content"]))


def flip_order(flip: bool) -> str:
    """The display order a row's ``flip`` value means: ``"chosen_first"`` when True.

    The benchmark does not document its ``flip`` column; this is the public code's reading:
    its PRISM example (``examples/prism.ipynb`` in SALT-NLP/SynthesizeMe) shows a row with
    ``flip: True`` turned into a demonstration whose first completion is the chosen reply.
    ``prediction_<judge>`` holds the verdict for the pair shown in this order, and
    ``prediction_flip_<judge>`` the verdict for the other order. Every reader and writer of
    the column (method, fixtures, construction, recorded judges) goes through here.
    """
    return "chosen_first" if flip else "rejected_first"


def other_order(order: str) -> str:
    """The reverse of a display order."""
    return "rejected_first" if order == "chosen_first" else "chosen_first"


def last_user_message(context: Iterable[Turn]) -> str:
    """The last user message of a conversation: what a pair of replies answers."""
    for turn in reversed(tuple(context)):
        if turn.role == "user":
            return turn.content
    return ""


def content_pair_id(user_id: str, conversation_id: str, context: Iterable[Turn], chosen: Turn,
                    rejected: Turn) -> str:
    """The derived pair id: ``<user>/<conversation>/<10 hex of sha256(canonical content)>``.

    The hash covers the context and both replies in the study's roles, so the
    id does not change when a source writes ``model`` for ``assistant``; user and
    conversation are in the prefix only to keep ids readable in tables and logs.
    """
    canonical = json.dumps(
        {"context": [[t.role, t.content] for t in context],
         "chosen": [chosen.role, chosen.content],
         "rejected": [rejected.role, rejected.content]},
        ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:10]
    return f"{user_id}/{conversation_id}/{digest}"


@dataclass(frozen=True)
class Preference:
    """One user's choice between two responses to the same conversation context.

    ``extra`` keeps the benchmark's construction and judge columns (scores,
    filter reasoning, the five judges' recorded predictions, ...) when the source
    has them, so that the default-judge baseline and the consensus filter can be
    recomputed without new calls; ``validation`` checks their types.

    ``pair_id`` is stored; when not given it is derived from the content
    (:func:`content_pair_id`), so records built by hand in tests get one too.
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
    pair_id: str = ""

    def __post_init__(self) -> None:
        if not self.pair_id:
            object.__setattr__(self, "pair_id", content_pair_id(
                self.user_id, self.conversation_id, self.context, self.chosen, self.rejected))

    @property
    def query(self) -> str:
        """The last user message of the context: what the responses answer."""
        return last_user_message(self.context)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pair_id": self.pair_id,
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
        return cls(
            user_id=str(row["user_id"]),
            conversation_id=str(row["conversation_id"]),
            context=tuple(Turn.from_dict(t) for t in row["context"]),
            chosen=Turn.from_dict(row["chosen"]),
            rejected=Turn.from_dict(row["rejected"]),
            split=str(row["split"]),
            dataset=str(row.get("dataset") or ""),
            type=str(row.get("type") or ""),
            turns=None if row.get("turns") is None else int(row["turns"]),
            flip=None if row.get("flip") is None else bool(row["flip"]),
            extra={k: v for k, v in row.items() if k not in _RECORD_FIELDS},
            pair_id=str(row.get("pair_id") or ""),
        )


_RECORD_FIELDS = frozenset({"pair_id", "user_id", "conversation_id", "context", "chosen",
                            "rejected", "split", "dataset", "type", "turns", "flip"})


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
    user has the splits a study needs: ``validation.check_user_splits`` does that
    and names the user.
    """
    buckets: dict[str, dict[str, list[Preference]]] = {}
    for pref in preferences:
        buckets.setdefault(pref.user_id, {s: [] for s in SPLITS})[pref.split].append(pref)
    return {
        uid: UserSplit(uid, tuple(b["train"]), tuple(b["val"]), tuple(b["test"]))
        for uid, b in buckets.items()
    }
