"""Users whose taste is reply length, for tests that need a method to be able to learn.

Every text names its user, split and index, so a swapped pairing shows in what a model is
sent; ``likes`` ("shorter" or "longer") says which reply each pair's user chose, and the
order alternates (``flip``) so that position alone predicts nothing. Importable from any
test (pytest puts this folder, which holds the root conftest, on the path).
"""

from persona_judge.data.records import Preference, Turn, UserSplit


def pref(user: str, split: str, i: int, *, likes: str) -> Preference:
    """A pair whose texts name user, split and index; ``likes`` says which reply is chosen."""
    tag = f"{user}-{split}-{i}"
    short = Turn("assistant", f"short reply {tag}")
    long = Turn("assistant", f"a much longer and far wordier reply, written out, {tag}")
    chosen, rejected = (short, long) if likes == "shorter" else (long, short)
    return Preference(user, f"conv-{tag}", (Turn("user", f"question {tag}"),), chosen,
                      rejected, split, flip=bool(i % 2))


def user(name: str, likes: str, n_train: int = 4, n_val: int = 2, n_test: int = 1) -> UserSplit:
    return UserSplit(name, *(tuple(pref(name, s, i, likes=likes) for i in range(n))
                             for s, n in (("train", n_train), ("val", n_val), ("test", n_test))))
