"""The public persona instruction Θ: fetched once from a (local stand-in) HTTP server, cached on
disk under the data folder, wrapped in our framing, and a clear error when the fetch fails."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from scripted import pref, user_split

from persona_judge.errors import PersonaJudgeError
from persona_judge.method import theta
from persona_judge.method.persona import persona_request
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user
from persona_judge.method.templates import load_template

STAND_IN_INSTRUCTION = "Stand-in instruction: describe this user's tastes in 50$ words."
PROGRAM = {"synthesize.predict": {"demos": [], "signature": {
    "instructions": STAND_IN_INSTRUCTION, "fields": []}}, "metadata": {"dependency_versions": {}}}


class _Files:
    def __init__(self) -> None:
        self.body = json.dumps(PROGRAM).encode()
        self.status = 200
        self.hits = 0


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[_Files]:
    files = _Files()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            files.hits += 1
            self.send_response(files.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(files.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(theta.URL_ENV, f"http://127.0.0.1:{server.server_port}/llama70b.json")
    yield files
    server.shutdown()
    server.server_close()


def test_pinned_url_names_a_commit() -> None:
    assert theta.PUBLIC_COMMIT in theta.PUBLIC_URL and len(theta.PUBLIC_COMMIT) == 40
    assert theta.PUBLIC_URL.endswith("synthesizeme/prompts/llama70b.json")


def test_fetched_once_cached_under_the_data_folder(http_server: _Files, tmp_path: Path) -> None:
    path = Path(theta.resolve_instruction("public"))
    assert path.is_relative_to(tmp_path / "data" / "reference")
    assert http_server.hits == 1
    template = load_template(str(path))
    assert template.id.startswith(f"persona_synthesis_public@{theta.PUBLIC_COMMIT[:7]}-")
    assert template.render("system").startswith(STAND_IN_INSTRUCTION)  # "$" kept literally
    request = persona_request([(pref("u", "t1", "train"), None)], str(path))
    assert request.messages[0]["content"].startswith(STAND_IN_INSTRUCTION)
    assert "conv-t1" in request.messages[1]["content"] and request.template == template.id
    assert theta.resolve_instruction("public") == str(path) and http_server.hits == 1
    assert theta.resolve_instruction("persona_synthesis@v1") == "persona_synthesis@v1"


def test_a_fit_with_the_public_theta_records_it(http_server: _Files, server, client) -> None:
    art = fit_user(user_split("u", [pref("u", "t1", "train", chosen="[right]")],
                              [pref("u", "v1", "val")]), client,
                   SynthesizeMeConfig(persona_instruction="public", variant="ours"))
    assert art.templates["persona_synthesis"].startswith("persona_synthesis_public@")
    assert art.settings["persona_instruction"] == "public"
    persona_calls = [r.body for r in server.requests if "Past judgements of one user" in
                     r.body["messages"][-1]["content"]]
    assert persona_calls[0]["messages"][0]["content"].startswith(STAND_IN_INSTRUCTION)


@pytest.mark.parametrize("status,body,match", [
    (404, b"Not Found", "Could not fetch the public persona program"),
    (200, b"<html>not json</html>", "Could not fetch"),
    (200, json.dumps({"judge.predict": {}}).encode(), "no 'synthesize' predictor"),
])
def test_failures_are_clear_errors(http_server: _Files, status: int, body: bytes,
                                   match: str) -> None:
    http_server.status, http_server.body = status, body
    with pytest.raises(PersonaJudgeError, match=match) as info:
        theta.resolve_instruction("public")
    if status == 404:
        assert "127.0.0.1" in str(info.value) and theta.URL_ENV in str(info.value)
    assert not (theta.theta_dir() / "llama70b.json.part").exists()


def test_unreachable_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    monkeypatch.setenv(theta.URL_ENV, "http://127.0.0.1:9/llama70b.json")
    with pytest.raises(theta.ThetaFetchError, match="persona_synthesis@v1"):
        theta.fetch_public_program(timeout=2.0)
