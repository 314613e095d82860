"""Small users and preferences for the further studies' tests."""

from __future__ import annotations

from typing import Any

from persona_judge.data.records import Preference, Turn, UserSplit


def pref(user: str, name: str, split: str, *, chosen: str = "", rejected: str = "",
         flip: bool | None = None) -> Preference:
    """A preference of ``user`` whose conversation is ``conv-<name>``."""
    return Preference(
        user_id=user, conversation_id=name,
        context=(Turn("user", f"Question conv-{name}: what should I do?"),),
        chosen=Turn("assistant", f"Chosen reply for {name}. {chosen}".strip()),
        rejected=Turn("assistant", f"Rejected reply for {name}, longer. {rejected}".strip()),
        split=split, dataset="unit-test", flip=flip)


def make_user(user: str, n_train: int, n_val: int, n_test: int) -> UserSplit:
    return UserSplit(user, tuple(pref(user, f"{user}-t{i}", "train") for i in range(n_train)),
                     tuple(pref(user, f"{user}-v{i}", "val") for i in range(n_val)),
                     tuple(pref(user, f"{user}-x{i}", "test") for i in range(n_test)))


def user_text(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
