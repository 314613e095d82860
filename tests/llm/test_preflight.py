"""The preflight: a dead or broken endpoint stops the run before any real call, fast and
clearly; a healthy one costs one tiny request per run, and a warm rerun costs nothing."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request, text_request

from persona_judge.llm import (
    ClientConfig,
    EndpointConfigError,
    EndpointUnavailableError,
    client_from_env,
    preflight_worst_case,
)
from persona_judge.llm.standin import Fault, SilentServer, StandInServer

QUICK = {"progress": False, "backoff_initial": 0.01, "backoff_max": 0.05}


def closed_port_url() -> str:
    """A local URL nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def make(url: str, tmp_path: Path, **options) -> object:
    return client_from_env(MODEL, cache_path=tmp_path / "c.sqlite", base_url=url,
                           backend="openai-compatible", **{**QUICK, **options})


def test_default_settings_report_a_dead_endpoint_within_30_seconds() -> None:
    config = ClientConfig()
    assert preflight_worst_case(config) == 25.0  # max(2 * 5 + 2, 5 + 20)
    assert preflight_worst_case(config) < 30
    # the bound follows the settings it is made of
    assert preflight_worst_case(ClientConfig(preflight_timeout=40)) == 45.0
    assert preflight_worst_case(ClientConfig(timeout=3)) == 2 * 3 + 2


def test_closed_port_with_default_settings_stops_at_once(tmp_path: Path) -> None:
    url = closed_port_url()
    client = make(url, tmp_path)  # every timing setting at its default
    with client, pytest.raises(EndpointUnavailableError) as info:
        client.judge_many([judge_request(i) for i in range(5)])
    # stops at once: two preflight attempts, no call (how long that takes is a benchmark's)
    message = str(info.value)
    assert url in message and MODEL in message and "curl" in message
    assert "connection" in message and "failed 2 times" in message
    assert client.stats.calls == 0 and client.stats.preflight_calls == 2


def test_server_answering_400_to_everything_stops_before_any_call(tmp_path: Path) -> None:
    with StandInServer(always=Fault("status", status=400)) as server:
        client = make(server.url, tmp_path)
        with client, pytest.raises(EndpointUnavailableError, match="refused a minimal chat "
                                   r"request \(last error: HTTP 400: HTTP 400 \(injected\)"):
            client.judge_many([judge_request(i) for i in range(5)])
        # json_schema and json_object refused, then the plain request: nothing else
        assert server.requests_seen == 3
        assert client.stats.calls == 0


def test_server_answering_500_to_everything_stops_before_any_call(tmp_path: Path) -> None:
    with StandInServer(always="500") as server:
        client = make(server.url, tmp_path)
        with client, pytest.raises(EndpointUnavailableError, match="failed 2 times.*HTTP 500"):
            client.chat(text_request(1))
        # each form asked twice (a 500 may be a blip), then the plain check twice
        assert server.requests_seen == 2 + 2 + 2
        assert client.stats.calls == 0


def test_server_that_never_answers_is_reported_after_the_preflight_timeout(
    tmp_path: Path,
) -> None:
    with SilentServer() as silent:
        client = make(silent.url, tmp_path, preflight_timeout=0.5, timeout=60)
        started = time.monotonic()
        with client, pytest.raises(EndpointUnavailableError, match=r"did not answer a "
                                   r"64-token request within 0.5 s"):
            client.judge(judge_request(0))
        elapsed = time.monotonic() - started
    # one attempt (a timeout is not retried), reported after the preflight timeout, not the
    # 60 s read timeout (the message names 0.5 s); no upper bound on the wall clock here
    assert elapsed >= 0.5
    assert silent.connections == 1
    assert client.stats.calls == 0


def test_a_failed_preflight_is_remembered_and_never_repeated(tmp_path: Path) -> None:
    with StandInServer(always="500") as server:
        client = make(server.url, tmp_path)
        with client:
            with pytest.raises(EndpointUnavailableError):
                client.chat(text_request(1))
            seen = server.requests_seen
            with pytest.raises(EndpointUnavailableError):
                client.chat(text_request(2))
            assert server.requests_seen == seen  # nothing sent: no wait to be had
            assert client.breaker.tripped


def test_healthy_endpoint_costs_one_preflight_and_a_warm_rerun_nothing(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server.url, tmp_path) as client:
            client.chat_many([text_request(i) for i in range(4)])
            assert client.stats.preflight_calls == 1 and client.stats.calls == 4
            assert server.requests_seen == 1 + 4
            assert "4 calls (+1 preflight)" in client.summary()
        server.reset_counters()
        with make(server.url, tmp_path) as again:
            again.chat_many([text_request(i) for i in range(4)])
            assert again.stats.cache_hits == 4
        assert server.requests_seen == 0  # not even a preflight


def test_the_preflight_carries_the_options_every_call_will_send(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server.url, tmp_path, repetition_penalty=1.1, structured_output="off") as c:
            c.chat(text_request(1))
        preflight, call = (r.body for r in server.requests)
    # a server that refused seed or repetition_penalty would refuse the preflight
    assert preflight["seed"] == 0 and preflight["repetition_penalty"] == 1.1
    assert preflight["max_tokens"] == 8 and "response_format" not in preflight
    assert call["seed"] == 0 and call["repetition_penalty"] == 1.1


def test_rejected_key_and_unknown_model_stop_at_the_preflight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StandInServer(model_ids=["served-model"]) as server:
        with make(server.url, tmp_path) as client:
            with pytest.raises(EndpointConfigError, match=f"404 for model '{MODEL}'"):
                client.chat(text_request(1))
        assert server.requests_seen == 1
    with StandInServer(require_key="right") as server:
        monkeypatch.setenv("LLM_API_KEY", "wrong")
        with make(server.url, tmp_path / "k") as client:
            with pytest.raises(EndpointConfigError, match="LLM_API_KEY.*HTTP 401"):
                client.chat(text_request(1))
        assert server.requests_seen == 1


def test_a_forced_form_the_server_refuses_stops_at_the_preflight(tmp_path: Path) -> None:
    with StandInServer(accept_formats=["json_object"], refuse_status=422) as server:
        with make(server.url, tmp_path, structured_output="json_schema") as client:
            with pytest.raises(EndpointConfigError, match="refused structured_output="
                               "json_schema .*HTTP 422.*set structured_output to auto"):
                client.judge(judge_request(0))
        assert server.requests_seen == 1


def test_rate_limited_preflight_waits_as_asked_then_proceeds(tmp_path: Path) -> None:
    with StandInServer() as server:
        server.inject(Fault("429", retry_after=0.3))
        with make(server.url, tmp_path, structured_output="off") as client:
            started = time.monotonic()
            assert client.chat(text_request(1)).error is None
            assert time.monotonic() - started >= 0.3
        assert client.stats.preflight_calls == 2 and server.requests_seen == 3


def test_preflight_off_sends_nothing_extra(tmp_path: Path) -> None:
    with StandInServer() as server:
        with make(server.url, tmp_path, preflight=False) as client:
            client.judge(judge_request(0))
        assert server.requests_seen == 1
        assert "response_format" not in server.requests[0].body  # auto without a probe: off


@pytest.mark.parametrize("form", ["off", "auto"])
def test_preflight_honours_retry_after_like_every_other_call(tmp_path: Path, form: str) -> None:
    # before: two tries within ~2 s, then "not usable ... kept rate-limiting"
    with StandInServer() as server:
        server.inject(*[Fault("429", retry_after=1)] * 3)
        with make(server.url, tmp_path, structured_output=form) as client:
            assert client.chat(text_request(1)).error is None
            assert client.stats.preflight_calls == 4  # auto: the json_schema probe, accepted
            assert client.stats.preflight_waited == 3
        times = [r.received_at for r in server.requests]
        gaps = [b - a for a, b in zip(times[:4], times[1:4], strict=False)]
        assert len(gaps) == 3 and min(gaps) >= 0.95  # each wait as long as the server asked
        assert server.requests_seen == 4 + 1
        assert ("response_format" in server.requests[0].body) == (form == "auto")
        assert client.stats.calls == 1


def test_preflight_waits_for_rate_limits_only_up_to_its_maximum(tmp_path: Path) -> None:
    with StandInServer(always=Fault("429", retry_after=1)) as server:
        with make(server.url, tmp_path, preflight_max_wait=2.5) as client:
            with pytest.raises(EndpointUnavailableError) as info:
                client.chat(text_request(1))
        message = str(info.value)
        assert "kept rate-limiting (HTTP 429) the preflight: waited 2 s" in message
        assert "preflight_max_wait=2.5 s" in message
        assert server.requests_seen == 3 and client.stats.calls == 0
    with StandInServer(always=Fault("429", retry_after=600)) as server:
        with make(server.url, tmp_path / "long") as client:  # default maximum: 120 s
            with pytest.raises(EndpointUnavailableError, match=r"it asked to wait 600 s more "
                               r"\(Retry-After\), more than preflight_max_wait=120 s"):
                client.chat(text_request(1))
        assert server.requests_seen == 1  # asked for more than allowed: not waited at all
