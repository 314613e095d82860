"""Bounded concurrency as the server sees it, order preservation, and rate limits."""

from __future__ import annotations

import threading
import time

import pytest
from llm_helpers import judge_request, request_index, text_request

from persona_judge.llm.limits import SlidingWindowLimiter
from persona_judge.llm.standin import StandInServer


@pytest.mark.parametrize("limit", [1, 4, 7])
def test_server_sees_exactly_the_concurrency_limit(
    make_client, server: StandInServer, limit: int
) -> None:
    server.latency = 0.08
    client = make_client(max_concurrency=limit)
    results = client.chat_many([text_request(i) for i in range(2 * limit + 2)])
    assert all(r.error is None for r in results)
    assert server.max_in_flight == limit


def test_limit_holds_across_threads_sharing_a_client(make_client, server: StandInServer) -> None:
    server.latency = 0.08
    client = make_client(max_concurrency=3)
    batches = [[text_request(10 * t + i) for i in range(4)] for t in range(3)]
    threads = [threading.Thread(target=client.chat_many, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.requests_seen == 12
    assert server.max_in_flight == 3


def test_order_is_preserved_and_duplicates_are_asked_once(
    make_client, server: StandInServer
) -> None:
    # Later requests answer sooner, so completion order differs from input order.
    def responder(body: dict) -> str:
        i = request_index(body)
        time.sleep(0.01 * (8 - i))
        return f"answer {i}"

    server.responder = responder
    client = make_client(max_concurrency=8)
    requests = [text_request(i) for i in range(8)] + [text_request(3), text_request(5)]
    results = client.chat_many(requests)
    assert [r.text for r in results] == [f"answer {i}" for i in range(8)] + ["answer 3", "answer 5"]
    assert server.requests_seen == 8
    assert results[3] is not results[8]  # each position gets its own object


def test_sliding_window_limiter_never_exceeds_its_limit() -> None:
    limiter = SlidingWindowLimiter(limit=3, window=0.25)
    stamps: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        limiter.acquire(1)
        with lock:
            stamps.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    # 8 admissions at 3 per 0.25 s need at least two full windows.
    assert stamps[-1] - started >= 0.5 - 0.01
    for i in range(len(stamps) - 3):
        assert stamps[i + 3] - stamps[i] >= 0.25 - 0.01


def test_oversized_amount_is_admitted_alone() -> None:
    limiter = SlidingWindowLimiter(limit=100, window=0.2)
    assert limiter.acquire(500) < 0.01  # empty window: admitted at once
    assert limiter.acquire(10) >= 0.15  # must wait for the big one to leave


def test_client_rpm_limit_spaces_requests_at_the_server(make_client, server) -> None:
    client = make_client(max_concurrency=8, rpm=2, rate_window=0.3)
    client.chat_many([text_request(i) for i in range(5)])
    times = sorted(r.received_at for r in server.requests)
    assert len(times) == 5
    for i in range(len(times) - 2):
        assert times[i + 2] - times[i] >= 0.3 - 0.02


def test_client_tpm_limit_counts_estimated_tokens(make_client, server) -> None:
    # Each request is estimated at prompt chars/4 + max_tokens; ~110 tokens here.
    client = make_client(max_concurrency=8, tpm=250, rate_window=0.3)
    started = time.monotonic()
    client.chat_many([judge_request(i, max_tokens=64) for i in range(4)])
    # 2 fit in a window, so 4 need a second window.
    assert time.monotonic() - started >= 0.3 - 0.02
    assert server.requests_seen == 4
