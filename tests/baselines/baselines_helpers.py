"""Users whose texts say which pair and split they are, for the baselines' prompt tests."""

from __future__ import annotations

from persona_judge.data.records import Preference, Turn, UserSplit


def marked_pref(user: str, split: str, i: int, *, flip: bool | None = None) -> Preference:
    """A pair whose texts all carry ``<user>-<split>-<i>`` (so a prompt's content is traceable);
    the chosen reply is the short one (the smoke stand-in can learn it from lengths)."""
    tag = f"{user}-{split}-{i}"
    return Preference(user, f"conv-{tag}", (Turn("user", f"question MARK[{tag}]"),),
                      Turn("assistant", f"short CHOSEN[{tag}]"),
                      Turn("assistant", f"a much longer and wordier REJECTED[{tag}] reply"),
                      split, flip=flip)


def marked_user(user: str, n_train: int = 4, n_val: int = 2, n_test: int = 3) -> UserSplit:
    return UserSplit(user, *(tuple(marked_pref(user, s, i, flip=bool(i % 2)) for i in range(n))
                             for s, n in (("train", n_train), ("val", n_val), ("test", n_test))))
