"""Users whose every pair carries a unique marker, and a client on the smoke stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer


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


@pytest.fixture(autouse=True)
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[StandInServer]:
    from persona_judge.baselines.smoke import smoke_responder

    with StandInServer(responder=smoke_responder) as srv:
        yield srv


@pytest.fixture
def client(server: StandInServer, tmp_path: Path) -> Iterator[LLMClient]:
    made = client_from_env("stand-in", cache_path=tmp_path / "cache.sqlite", base_url=server.url,
                           progress=False, preflight=False, timeout=5.0, max_retries=1)
    yield made
    made.close()
