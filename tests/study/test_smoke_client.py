"""Smoke runs talk to the local stand-in only, and never carry a real key there."""

import pytest

from persona_judge.llm import ChatRequest, standin
from persona_judge.study import notebook


def test_smoke_client_never_sends_the_together_key_to_the_stand_in(monkeypatch):
    servers = []

    class WatchedServer(standin.StandInServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(standin, "StandInServer", WatchedServer)
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-real-looking-key-0123456789abcdef")
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLM_API_KEY", raising=False)
    with notebook.smoke_llm("m") as client:
        result = client.chat(ChatRequest(messages=[{"role": "user", "content": "hello"}],
                                         template="t@1"))
        assert result.error is None and result.text
        assert client.backend == "openai-compatible"
    (server,) = servers
    assert server.requests_seen == 1
    # the keyless backend sends a placeholder, never the environment's Together key
    assert server.authorizations and all(
        "tgp-real-looking-key" not in (a or "") for a in server.authorizations)


def test_real_client_without_an_endpoint_says_how_to_configure_one(monkeypatch):
    for name in ("TOGETHER_API_KEY", "LLM_BASE_URL", "LLM_API_KEY", "TOGETHER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="TOGETHER_API_KEY .* LLM_BASE_URL .* smoke mode"):
        notebook.real_llm("m")
