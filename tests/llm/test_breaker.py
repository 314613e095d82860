"""The circuit breaker: a run whose endpoint keeps failing stops with one message instead
of grinding on; isolated failures and rate limits do not trip it."""

from __future__ import annotations

import pytest
from llm_helpers import MODEL, judge_request, text_request

from persona_judge.llm import EndpointUnavailableError
from persona_judge.llm.breaker import CircuitBreaker
from persona_judge.llm.standin import Fault, StandInServer


def test_trips_on_consecutive_failures_not_before() -> None:
    breaker = CircuitBreaker(consecutive=3, failure_share=1.0, min_calls=100)
    assert not breaker.record_failure("e1") and not breaker.record_failure("e2")
    breaker.record_success()  # a success resets the streak
    assert not breaker.record_failure("e3") and not breaker.record_failure("e4")
    assert breaker.record_failure("e5")
    assert breaker.state().tripped == "3 calls in a row failed"
    assert breaker.last_error == "e5"


def test_trips_on_failure_share_only_after_min_calls() -> None:
    breaker = CircuitBreaker(consecutive=100, failure_share=0.25, min_calls=8)
    for _ in range(3):  # fail, succeed, succeed ...: 1/3 fail, never 100 in a row
        assert not breaker.record_failure("x")
        breaker.record_success()
        if breaker.state().finished >= 8:
            break
        breaker.record_success()
    state = breaker.state()
    assert state.finished == 8 and state.failed == 3 and not state.tripped
    assert breaker.record_failure("y")  # 4 of 9 > 25%
    assert breaker.state().tripped == "4 of 9 calls failed (more than 25%)"


def test_exactly_at_the_share_does_not_trip() -> None:
    breaker = CircuitBreaker(consecutive=100, failure_share=0.5, min_calls=4)
    breaker.record_success()
    breaker.record_failure("a")
    breaker.record_success()
    assert not breaker.record_failure("b")  # 2 of 4 is not more than 50%


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"consecutive": 0}, {"failure_share": 0}, {"failure_share": 1.5},
                   {"min_calls": 0}):
        with pytest.raises(ValueError):
            CircuitBreaker(**kwargs)


def test_endpoint_dying_mid_run_stops_the_batch(make_client, server: StandInServer) -> None:
    client = make_client(max_retries=1, max_concurrency=1, breaker_consecutive=3)
    client.chat(text_request(0))  # the endpoint works at first
    server.always = Fault("500")
    with pytest.raises(EndpointUnavailableError) as info:
        client.judge_many([judge_request(i) for i in range(20)])
    message = str(info.value)
    assert "stopped after 3 calls in a row failed" in message
    assert MODEL in message and server.url in message and "HTTP 500" in message
    # 3 failed calls x 2 attempts, then nothing more was sent
    assert server.requests_seen == 1 + 3 * 2
    assert client.stats.failures == 3
    with pytest.raises(EndpointUnavailableError):  # and the client stays stopped
        client.chat(text_request(99))
    assert server.requests_seen == 1 + 3 * 2


def test_isolated_failures_and_rate_limits_do_not_trip_it(
    make_client, server: StandInServer
) -> None:
    client = make_client(max_retries=1, max_concurrency=1, breaker_consecutive=2,
                         breaker_failure_share=0.5, breaker_min_calls=4)
    server.inject(*[Fault("500", match="Context #1\n")] * 2,
                  *[Fault("500", match="Context #5\n")] * 2,
                  *[Fault("429", retry_after=0.01, match=f"Context #{i}\n") for i in (2, 3, 4)])
    judgments = client.judge_many([judge_request(i) for i in range(8)])
    assert [j.failure_kind for j in judgments].count("call_failed") == 2
    assert not client.breaker.tripped
    assert client.stats.retries_by_cause == {"500": 2, "429": 3}
