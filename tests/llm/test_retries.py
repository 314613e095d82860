"""Retries with backoff on 429 (Retry-After), 5xx, timeouts, dropped connections and
malformed bodies; failures reported with their cause while the batch continues."""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

import pytest
from llm_helpers import judge_request, text_request

from persona_judge.llm import EndpointConfigError, RequestRejectedError, client_from_env
from persona_judge.llm.endpoint import is_retryable_status, retry_after_seconds
from persona_judge.llm.standin import Fault, StandInServer

NOW = dt.datetime(2026, 10, 21, 7, 28, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),          # milliseconds
        ({"Retry-After": "2"}, 2.0),                # seconds
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),  # the precise one wins
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT"}, 30.0),  # an HTTP date
        ({"Retry-After": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),   # a date in the past
        ({"Retry-After": "-3"}, 0.0),
        ({"retry-after-ms": "soon", "Retry-After": "4"}, 4.0),  # unreadable ms: seconds
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_units(headers: dict, seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == seconds


def test_which_statuses_are_retried() -> None:
    retried = {s for s in range(400, 600) if is_retryable_status(s)}
    assert retried == {408, 409, 429} | set(range(500, 600))


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits the client announced before each retry (its log, not the wall clock)."""
    return [float(m.group(1)) for r in caplog.records
            if (m := re.search(r"waiting ([0-9.]+)s", r.getMessage()))]


def test_retry_after_ms_is_read_as_milliseconds(make_client, server: StandInServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # misread as seconds, the wait would be the 5 s cap
    client = make_client(max_retry_after=5)
    server.inject(Fault("429", headers=(("retry-after-ms", "300"),)))
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="persona_judge.llm"):
        assert client.chat(text_request(1)).error is None
    assert time.monotonic() - started >= 0.3
    assert client.stats.retries_by_cause == {"429": 1} and server.requests_seen == 2
    assert _waits(caplog) == [0.3]


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(make_client, server: StandInServer, status: int) -> None:
    client = make_client()
    server.inject(Fault("status", status=status))
    assert client.chat(text_request(1)).error is None
    assert client.stats.retries_by_cause == {str(status): 1} and server.requests_seen == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, RequestRejectedError), (413, RequestRejectedError), (422, RequestRejectedError),
     (401, EndpointConfigError), (403, EndpointConfigError), (404, EndpointConfigError)],
)
def test_other_client_errors_stop_at_once(
    make_client, server: StandInServer, status: int, error: type
) -> None:
    client = make_client()
    server.inject(Fault("status", status=status))
    with pytest.raises(error, match=f"HTTP {status}"):
        client.chat(text_request(1))
    assert server.requests_seen == 1 and client.stats.retries == 0


def test_429_honours_retry_after(make_client, server: StandInServer) -> None:
    client = make_client()  # backoff is 0.01 s, so only Retry-After explains a long wait
    server.inject(Fault("429", retry_after=0.4))
    started = time.monotonic()
    result = client.chat(text_request(1))
    elapsed = time.monotonic() - started
    assert result.error is None and result.text
    assert elapsed >= 0.4
    assert server.requests_seen == 2
    assert client.stats.retries_by_cause == {"429": 1}
    assert client.stats.attempts == 2 and client.stats.calls == 1


def test_retry_after_is_capped(make_client, server: StandInServer,
                               caplog: pytest.LogCaptureFixture) -> None:
    client = make_client(max_retry_after=0.05)
    server.inject(Fault("429", retry_after=30))
    with caplog.at_level(logging.INFO, logger="persona_judge.llm"):
        assert client.chat(text_request(1)).error is None
    assert client.stats.retries_by_cause == {"429": 1} and server.requests_seen == 2
    assert _waits(caplog) == [0.05]  # the cap, not the 30 s asked


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        (Fault("500"), "500"),
        (Fault("status", status=503), "503"),
        (Fault("429"), "429"),  # no Retry-After: plain backoff
        (Fault("drop"), "connection"),
        (Fault("malformed"), "malformed"),
    ],
)
def test_transient_faults_are_retried(
    make_client, server: StandInServer, fault: Fault, cause: str
) -> None:
    client = make_client(timeout=0.3)
    server.inject(fault, fault)  # fails twice, succeeds on the third attempt
    result = client.chat(text_request(1))
    assert result.error is None and result.text.startswith("Scripted stand-in reply")
    assert client.stats.retries_by_cause == {cause: 2}
    assert client.stats.failures == 0
    assert server.requests_seen == 3
    assert len(client.cache) == 1


def test_backoff_grows_between_retries(make_client, server: StandInServer) -> None:
    client = make_client(backoff_initial=0.05, backoff_max=1.0, max_retries=3)
    server.inject("500", "500", "500")
    client.chat(text_request(1))
    times = [r.received_at for r in server.requests]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # waits are 0.05 * 2**k plus jitter in [0, 0.05]; a constant backoff would fail this
    assert len(gaps) == 3
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2


def test_exhausted_retries_report_the_cause_and_the_batch_continues(
    make_client, server: StandInServer
) -> None:
    client = make_client(max_retries=2)
    target = "Context #1\n"
    server.inject(*[Fault("500", match=target)] * 3)
    results = client.chat_many([judge_request(i) for i in range(4)])
    assert [r.error is None for r in results] == [True, False, True, True]
    failed = results[1]
    assert failed.text == "" and failed.error is not None
    assert "500" in failed.error and "gave up after 3 attempts" in failed.error
    assert client.stats.failures == 1 and client.stats.fallbacks == 1
    assert server.requests_seen == 3 + 3
    assert "1 failures, 1 fallbacks" in client.summary()


def test_judge_with_a_failed_call_falls_back_to_no_choice(
    make_client, server: StandInServer
) -> None:
    client = make_client(max_retries=1)
    server.inject(*[Fault("drop", match="Context #2\n")] * 2)
    judgments = client.judge_many([judge_request(i) for i in range(3)])
    assert [j.choice is None for j in judgments] == [False, False, True]
    failed = judgments[2]
    assert failed.failure is not None and failed.failure.startswith("call failed: connection")
    assert failed.attempts == 1  # a failed call is not resampled
    assert client.stats.fallbacks == 1 and client.stats.resamples == 0


def test_client_error_stops_at_once_with_the_servers_reason(
    make_client, server: StandInServer
) -> None:
    client = make_client()
    server.inject(Fault("status", status=400))
    with pytest.raises(RequestRejectedError, match=r"HTTP 400: HTTP 400 \(injected\).*"
                       r"step=persona") as info:
        client.chat(text_request(1))
    assert info.value.status == 400
    assert server.requests_seen == 1 and client.stats.retries == 0


def test_rejected_key_stops_the_run(tmp_path, monkeypatch) -> None:
    with StandInServer(require_key="tgp-fake-right") as srv:
        monkeypatch.setenv("TOGETHER_API_KEY", "tgp-fake-wrong")
        client = client_from_env(
            "m", cache_path=tmp_path / "c.sqlite", base_url=srv.url, progress=False
        )
        with client, pytest.raises(EndpointConfigError, match="TOGETHER_API_KEY.*HTTP 401"):
            client.judge_many([judge_request(i) for i in range(3)])
        assert srv.requests_seen <= 3
        assert srv.authorizations[0] == "Bearer tgp-fake-wrong"
