"""Fixtures for the method tests: a stand-in server with a scripted, content-aware judge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scripted import ScriptedJudge

from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer

MODEL = "stand-in-judge"
# preflight off: these tests count the method's own requests at the server (the
# client's preflight and structured-output probe are tested in tests/llm).
FAST: dict[str, Any] = {"timeout": 2.0, "backoff_initial": 0.01, "backoff_max": 0.05,
                        "max_retries": 2, "progress": False, "preflight": False}


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def judge() -> ScriptedJudge:
    return ScriptedJudge()


@pytest.fixture
def server(judge: ScriptedJudge) -> Iterator[StandInServer]:
    with StandInServer(responder=judge) as srv:
        yield srv


@pytest.fixture
def make_client(server: StandInServer, tmp_path: Path) -> Iterator[Callable[..., LLMClient]]:
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        options = {**FAST, **overrides}
        client = client_from_env(MODEL, cache_path=options.pop("cache_path",
                                                               tmp_path / "cache.sqlite"),
                                 base_url=server.url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., LLMClient]) -> LLMClient:
    return make_client()
