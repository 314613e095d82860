"""Users whose every pair carries a unique marker, and a client on the smoke stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer


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
