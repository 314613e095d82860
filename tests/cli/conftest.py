"""Fixtures for the command-line tests: a clean environment, a stand-in endpoint, a runner."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from persona_judge.cli import main
from persona_judge.llm.standin import StandInServer
from persona_judge.method.smoke import smoke_responder


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInServer]:
    """A stand-in answering like the smoke model, configured as the real endpoint."""
    with StandInServer(responder=smoke_responder) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        yield server


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run(*argv) -> (exit status, stdout, stderr)`` of ``persona-judge``."""
    def invoke(*argv: object) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke
