"""Fixtures for the LLM client tests: a stand-in server, a clean environment, fast configs.

Every test drives the real ``together`` SDK over HTTP against
:class:`~persona_judge.llm.standin.StandInServer` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llm_helpers import FAST, MODEL

from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer

_ENDPOINT_VARS = (
    "TOGETHER_API_KEY",
    "TOGETHER_BASE_URL",
    "TOGETHER_CUSTOM_HEADERS",
    "TOGETHER_PROJECT_ID",
    "LLM_BASE_URL",
    "LLM_API_KEY",
)


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see (or use) a real endpoint configured on the machine."""
    for name in _ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer() as srv:
        yield srv


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "llm_cache.sqlite"


@pytest.fixture
def make_client(
    server: StandInServer, cache_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., LLMClient]]:
    """Build clients against the stand-in via LLM_BASE_URL; all are closed afterwards."""
    monkeypatch.setenv("LLM_BASE_URL", server.url)
    made: list[LLMClient] = []

    def make(**overrides: Any) -> LLMClient:
        options = {**FAST, **overrides}
        model = options.pop("model", MODEL)
        path = options.pop("cache_path", cache_path)
        client = client_from_env(model, cache_path=path, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
