"""A run killed with SIGKILL mid-batch resumes without repeating any finished call."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llm_helpers import judge_request, request_index

from persona_judge.llm.standin import StandInServer

HERE = Path(__file__).parent
N = 24


def _cached_indices(cache_path: Path) -> set[int]:
    conn = sqlite3.connect(cache_path)
    try:
        rows = conn.execute("SELECT labels_json FROM completions").fetchall()
    finally:
        conn.close()
    return {int(json.loads(r[0])["pair"].split("/c")[1]) for r in rows}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_mid_batch_then_resume(make_client, server: StandInServer, cache_path) -> None:
    server.latency = 0.1
    env = {**os.environ, "LLM_BASE_URL": server.url}
    worker = subprocess.Popen(
        [sys.executable, str(HERE / "llm_worker.py"), str(cache_path), str(N), "2"],
        cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while server.completed < 8:
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            assert time.monotonic() < deadline, "worker made no progress"
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(timeout=10)
        if worker.stdout:
            worker.stdout.close()
        if worker.stderr:
            worker.stderr.close()
    assert worker.returncode == -signal.SIGKILL

    first_run = [request_index(r.body) for r in server.requests]
    finished = _cached_indices(cache_path)
    # Killed mid-batch: some calls were committed, some were not.
    assert 6 <= len(finished) < N
    assert finished <= set(first_run)

    server.reset_counters()
    client = make_client(max_concurrency=4)
    judgments = client.judge_many([judge_request(i) for i in range(N)])
    second_run = [request_index(r.body) for r in server.requests]

    assert all(j.choice in ("A", "B") for j in judgments)
    assert not set(second_run) & finished, "a finished call was sent again"
    assert sorted(second_run) == sorted(set(range(N)) - finished)
    assert client.stats.cache_hits == len(finished)
    assert client.stats.calls == N - len(finished)
