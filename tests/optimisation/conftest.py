"""Fixtures for the Θ search's tests: a scripted stand-in server and fast clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from persona_judge.llm import LLMClient, client_from_env
from persona_judge.llm.standin import StandInServer

# preflight off: the tests count the search's own requests at the server.
FAST: dict[str, Any] = {"timeout": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05,
                        "max_retries": 1, "progress": False, "preflight": False}


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., tuple[LLMClient, StandInServer]]]:
    """``make(responder, cache=..., **options)`` -> (client, its own stand-in server)."""
    opened: list[Any] = []

    def make(responder: Callable[[dict[str, Any]], str], *, model: str = "stand-in",
             cache: Path | None = None, **options: Any) -> tuple[LLMClient, StandInServer]:
        server = StandInServer(responder=responder).start()
        client = client_from_env(model, cache_path=cache or tmp_path / "cache.sqlite",
                                 base_url=server.url, **{**FAST, **options})
        opened.append((client, server))
        return client, server

    yield make
    for client, server in opened:
        client.close()
        server.stop()
