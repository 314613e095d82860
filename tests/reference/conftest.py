"""Fixtures for the reference arm: the smoke stand-in server and clients on one cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer
from persona_judge.method.smoke import smoke_responder

MODEL = "stand-in-judge"
FAST: dict[str, Any] = {"timeout": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05,
                        "max_retries": 1, "progress": False, "preflight": False}


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def responder() -> Callable[[dict[str, Any]], str]:
    return smoke_responder


@pytest.fixture
def server(responder: Callable[[dict[str, Any]], str]) -> Iterator[StandInServer]:
    with StandInServer(responder=responder) as srv:
        yield srv


@pytest.fixture
def make_client(server: StandInServer, tmp_path: Path) -> Iterator[Callable[..., LLMClient]]:
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        options = {**FAST, **overrides}
        cache = options.pop("cache_path", tmp_path / "cache.sqlite")
        if options.get("cache_mode") == "replay":
            client = client_from_env(MODEL, cache_path=cache, **options)
        else:
            client = client_from_env(MODEL, cache_path=cache, base_url=server.url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
