"""Smoke runs talk to the local stand-in only, never carry a key there, take the chapter's own
scripted answers when given, and pass the study's llm_settings on to the client."""

import pytest

from persona_judge.errors import SettingsError
from persona_judge.llm import ChatRequest, NoEndpointError, standin
from persona_judge.study import notebook


@pytest.fixture
def servers(monkeypatch):
    made = []

    class WatchedServer(standin.StandInServer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(standin, "StandInServer", WatchedServer)
    return made


def hello() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "hello"}], template="t@1")


def test_smoke_client_sends_no_key_at_all(monkeypatch, servers):
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-real-looking-key-0123456789abcdef")
    monkeypatch.setenv("LLM_API_KEY", "sk-local-key-0123456789")
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    with notebook.smoke_llm("m") as client:
        result = client.chat(hello())
        assert result.error is None and result.text
        assert client.backend == "openai-compatible"
        assert "no key sent" in client.summary()
    (server,) = servers
    assert server.requests_seen == 2  # the preflight and the call
    assert server.authorizations == [None, None]  # no Authorization header at all


def test_open_llm_takes_a_responder_and_llm_settings(servers):
    client = notebook.open_llm("smoke", "m", responder=lambda body: "scripted by the chapter",
                               max_retries=1, timeout=9.0, structured_output="off")
    assert client.chat(hello()).text == "scripted by the chapter"
    assert (client.config.max_retries, client.config.timeout) == (1, 9.0)
    assert client.config.structured_output == "off"
    client.close()


def test_a_bad_llm_setting_names_itself():
    with pytest.raises(SettingsError, match="unknown LLM setting.*timout"):
        notebook.open_llm("smoke", "m", timout=3)
    with pytest.raises(SettingsError, match="max_retries must be int"):
        notebook.open_llm("smoke", "m", max_retries="many")
    with pytest.raises(SettingsError, match="mode must be 'real', 'smoke' or 'local'"):
        notebook.open_llm("fake", "m")


def test_real_client_without_an_endpoint_says_how_to_configure_one(monkeypatch):
    for name in ("TOGETHER_API_KEY", "LLM_BASE_URL", "LLM_API_KEY", "TOGETHER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(NoEndpointError, match="TOGETHER_API_KEY .* LLM_BASE_URL .* smoke mode"):
        notebook.real_llm("m")
