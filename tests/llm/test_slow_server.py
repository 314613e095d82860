"""A server slower than the timeout: the one copy of a request is waited for with growing
patience and never sent again while the server may still be working on it; a server slower
than that patience fails the call with a message naming the setting to raise."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from llm_helpers import judge_request, text_request

from persona_judge.llm import ClientConfig
from persona_judge.llm.client import answer_patience
from persona_judge.llm.standin import StandInServer


def slow_except_preflight(seconds: float) -> Callable[[dict[str, Any]], float]:
    """A latency: ``seconds`` per answer, the tiny preflight at once (slow on real prompts)."""
    def latency(body: dict[str, Any]) -> float:
        text = json.dumps(body["messages"])
        return 0.0 if "Connectivity check" in text or "Which reply is shorter?" in text \
            else seconds
    return latency


def sent_once(server: StandInServer) -> bool:
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in server.requests)
    return set(bodies.values()) == {1}


def test_patience_grows_per_timeout_retry() -> None:
    assert answer_patience(ClientConfig()) == 120 + 240 + 480
    assert answer_patience(ClientConfig(timeout=1, max_timeout_retries=0)) == 1
    assert answer_patience(ClientConfig(timeout=2, max_timeout_retries=3,
                                        timeout_growth=1.5)) == 2 * (1 + 1.5 + 2.25 + 3.375)


@pytest.mark.parametrize(("seconds", "timeout", "n"), [(1.2, 0.5, 3), (0.9, 0.3, 5)])
def test_a_slow_answer_is_waited_for_and_never_sent_twice(
    make_client, server: StandInServer, seconds: float, timeout: float, n: int
) -> None:
    server.latency = slow_except_preflight(seconds)
    # before: each timed-out request was sent again while the server still worked on it
    client = make_client(timeout=timeout, max_concurrency=4)
    judgments = client.judge_many([judge_request(i) for i in range(n)])
    results = client.chat_many([text_request(i) for i in range(2)])
    assert all(j.choice in ("A", "B") for j in judgments)
    assert all(r.error is None for r in results)
    # a copy the client gave up on keeps the server busy until its answer is written
    assert server.max_copies_in_flight == 1
    assert sent_once(server) and server.requests_seen == n + 2
    assert client.stats.failures == 0 and client.stats.retries == 0
    assert client.stats.slow_answers == n + 2
    assert client.stats.slowest_answer >= seconds
    assert f"{n + 2} answers slower than timeout={timeout:g} s" in client.summary()
    assert len(client.cache) == n + 2


@pytest.mark.parametrize(("timeout", "max_timeout_retries"), [(0.4, 1), (0.6, 0)])
def test_a_server_slower_than_the_patience_fails_naming_the_setting(
    make_client, server: StandInServer, timeout: float, max_timeout_retries: int
) -> None:
    server.latency = slow_except_preflight(3.0)
    client = make_client(timeout=timeout, max_timeout_retries=max_timeout_retries)
    started = time.monotonic()
    result = client.chat(text_request(7))
    assert time.monotonic() - started >= timeout * (1 + 2 * max_timeout_retries)
    assert result.error is not None and result.error.startswith("timeout: ")
    assert "--timeout" in result.error and "llm_settings.timeout" in result.error
    assert f"now {timeout:g} s" in result.error and "not sent again" in result.error
    assert server.max_copies_in_flight == 1 and server.requests_seen == 1
    assert client.stats.failures == 1
