"""The API key reaches the server as the bearer token and nowhere else: not the cache,
logs, stdout/stderr, stats, summaries, reprs or error messages."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request, text_request

import persona_judge.llm.standin as standin_module
from persona_judge.llm import (
    EndpointConfigError,
    ReplayMissError,
    RequestRejectedError,
    client_from_env,
    describe_endpoint,
)
from persona_judge.llm.standin import Fault, StandInServer


def _files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_fake_key_never_leaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    key = "tgp-fake-" + secrets.token_hex(20)
    monkeypatch.setenv("TOGETHER_API_KEY", key)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()

    # Everything at DEBUG, including the together SDK's and httpx's own loggers.
    handler = logging.FileHandler(artifacts / "run.log")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    messages: list[str] = []
    try:
        with StandInServer(require_key=key) as server:
            client = client_from_env(
                MODEL, cache_path=artifacts / "cache.sqlite", base_url=server.url,
                timeout=1.5, backoff_initial=0.01, max_retries=1, progress=True,
            )
            assert client.backend == "together"
            server.inject(
                Fault("429", retry_after=0.01), "unparseable", Fault("timeout", seconds=2.0),
                *[Fault("500", match="Context #4\n")] * 2,
            )
            with client:
                judgments = client.judge_many([judge_request(i) for i in range(6)])
                results = client.chat_many([text_request(i) for i in range(3)])
                messages += [j.failure or "" for j in judgments] + [r.error or "" for r in results]
                messages += [client.summary(), repr(client), repr(client.config)]
                messages += [describe_endpoint(), repr(client.endpoint)]
                print(client.summary())
                (artifacts / "stats.json").write_text(json.dumps(client.stats.to_dict()))
            assert any(j.failure and "500" in j.failure for j in judgments)  # errors were made

            replay = client_from_env(MODEL, cache_path=artifacts / "cache.sqlite",
                                     cache_mode="replay", base_url=server.url)
            with replay, pytest.raises(ReplayMissError) as miss:
                replay.chat(text_request(99))
            messages.append(str(miss.value))

            authorizations = list(server.authorizations)
            bodies = list(server.received_bytes)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()

    captured = capfd.readouterr()
    (artifacts / "stdout.txt").write_text(captured.out)
    (artifacts / "stderr.txt").write_text(captured.err)
    (artifacts / "messages.txt").write_text("\n".join(messages))

    # The server did receive the key, as the bearer token, on every request ...
    assert authorizations and set(authorizations) == {f"Bearer {key}"}
    # ... and in nothing else that was sent.
    assert not any(key.encode() in body for body in bodies)
    # The scan looks at real content: the cache, the log, stdout/stderr, the stats.
    assert (artifacts / "cache.sqlite").stat().st_size > 0
    assert "HTTP Request: POST" in (artifacts / "run.log").read_text()
    assert "LLM run" in captured.out and "LLM judgments" in captured.err
    assert json.loads((artifacts / "stats.json").read_text())["calls"] >= 9

    assert _files_containing(artifacts, key.encode()) == []
    # The scan itself works: a planted copy is found.
    (artifacts / "planted.txt").write_text(f"oops {key}")
    assert _files_containing(artifacts, key.encode()) == [artifacts / "planted.txt"]


def test_rejected_key_error_names_the_variable_not_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "tgp-fake-" + secrets.token_hex(20)
    monkeypatch.setenv("TOGETHER_API_KEY", key)

    with StandInServer(require_key="something-else") as server:
        with client_from_env(
            MODEL, cache_path=tmp_path / "c.sqlite", base_url=server.url, progress=False
        ) as client:
            with pytest.raises(EndpointConfigError) as info:
                client.chat(text_request(1))
    assert "TOGETHER_API_KEY" in str(info.value)
    assert key not in str(info.value) and key not in repr(info.value)


def test_redaction_covers_servers_that_echo_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A misbehaving proxy that puts the Authorization header in its error body.
    key = "tgp-fake-" + secrets.token_hex(20)
    monkeypatch.setenv("TOGETHER_API_KEY", key)
    with StandInServer() as server:
        client = client_from_env(
            MODEL, cache_path=tmp_path / "c.sqlite", base_url=server.url, progress=False,
            max_retries=0, preflight=False,
        )
        with client:
            server.inject(Fault("status", status=400))
            # Make the server's error message echo the Authorization header it got.
            real_error = standin_module._Handler._error

            def echo_error(self, status, message, kind, headers=None):
                real_error(self, status, f"bad request from {self.headers['Authorization']}",
                           kind, headers)

            monkeypatch.setattr(standin_module._Handler, "_error", echo_error)
            with pytest.raises(RequestRejectedError) as info:
                client.chat(text_request(1))
    assert "[redacted]" in str(info.value)
    assert key not in str(info.value) and key not in info.value.reason
