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
    # never above the limit; whether the peak reaches it depends on the machine's load
    # (benchmarks/ measures that), so it is not asserted here
    assert 1 <= server.max_in_flight <= limit
    assert server.requests_seen == 2 * limit + 2


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
    assert 1 <= server.max_in_flight <= 3


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


def test_threads_asking_the_same_request_at_once_pay_for_it_once(
    make_client, server: StandInServer
) -> None:
    """The official code's parallel searches ask identical requests from several threads:
    one copy goes out, its twins wait and read the cache, so the counts never depend on
    timing (and a twin is never paid for)."""
    server.latency = 0.15
    client = make_client(max_concurrency=8)
    start = threading.Barrier(12)
    texts: list[tuple[int, str]] = []

    def ask(i: int) -> None:
        start.wait()
        texts.append((i, client.chat(text_request(i)).text))

    threads = [threading.Thread(target=ask, args=(1 + t % 2,)) for t in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.requests_seen == 2
    assert client.stats.calls == 2 and client.stats.cache_hits == 10
    for i in (1, 2):  # every twin got the answer to its own request
        assert len({text for j, text in texts if j == i}) == 1
    assert {text for j, text in texts if j == 1} != {text for j, text in texts if j == 2}


class FakeClock:
    """A clock that only moves when the limiter waits: admissions become exact numbers."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, cond: threading.Condition, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def fake_limiter(limit: int, window: float) -> tuple[SlidingWindowLimiter, FakeClock]:
    clock = FakeClock()
    return SlidingWindowLimiter(limit, window, clock=clock, wait=clock.wait,
                                keep_history=True), clock


def test_sliding_window_limiter_admits_exactly_limit_per_window() -> None:
    limiter, clock = fake_limiter(limit=3, window=10.0)
    for _ in range(8):
        limiter.acquire(1)
    assert [t for t, _ in limiter.history] == [0, 0, 0, 10, 10, 10, 20, 20]
    assert clock.waits == [10.0, 10.0]


def test_limiter_waits_for_the_oldest_admission_to_leave_the_window() -> None:
    limiter, clock = fake_limiter(limit=2, window=10.0)
    limiter.acquire(1)
    clock.now = 4.0
    limiter.acquire(1)
    clock.now = 5.0
    assert limiter.acquire(1) == 5.0  # waited until 10, when the first one left
    assert [t for t, _ in limiter.history] == [0, 4, 10]
    assert limiter.in_window == 2


def test_oversized_amount_is_admitted_alone() -> None:
    limiter, clock = fake_limiter(limit=100, window=1.0)
    assert limiter.acquire(500) == 0.0  # empty window: admitted at once
    assert limiter.acquire(10) == 1.0   # must wait for the big one to leave
    assert limiter.acquire(90) == 0.0   # 10 + 90 fit together


def test_token_limit_counts_amounts() -> None:
    limiter, _ = fake_limiter(limit=250, window=60.0)
    for amount in (110, 110, 110, 110):
        limiter.acquire(amount)
    assert [t for t, _ in limiter.history] == [0, 0, 60, 60]


def _assert_within_limit(history: list[tuple[float, int]], limit: int, window: float) -> None:
    for i, (start, _) in enumerate(history):
        inside = sum(a for t, a in history[i:] if t < start + window)
        assert inside <= limit, (start, inside)


def test_client_rpm_limit_holds_on_the_clients_clock(make_client, server) -> None:
    # The promise is about admission times on the limiter's clock, so this cannot flake
    # under load (the server's receive times can: requests queue in the network).
    client = make_client(max_concurrency=8, rpm=2, rate_window=0.3)
    started = time.monotonic()
    client.chat_many([text_request(i) for i in range(5)])
    history = client.limiters["rpm"].history
    assert len(history) == 5 and server.requests_seen == 5
    _assert_within_limit(history, 2, 0.3)
    assert time.monotonic() - started >= 0.6  # 5 requests at 2 per window: 3 windows


def test_client_tpm_limit_counts_estimated_tokens(make_client, server) -> None:
    # Each request is estimated at prompt chars/4 + max_tokens; ~110 tokens here.
    client = make_client(max_concurrency=8, tpm=250, rate_window=0.3)
    client.chat_many([judge_request(i, max_tokens=64) for i in range(4)])
    history = client.limiters["tpm"].history
    assert [a for _, a in history] == [history[0][1]] * 4 and 100 < history[0][1] < 125
    _assert_within_limit(history, 250, 0.3)
    assert server.requests_seen == 4
