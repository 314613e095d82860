"""Endpoint selection from the environment, base-URL forms, and requests/keys."""

from __future__ import annotations

import httpx
import pytest
from llm_helpers import MODEL, judge_request

from persona_judge.errors import SettingsError
from persona_judge.llm import (
    ChatRequest,
    EndpointConfigError,
    NoEndpointError,
    client_from_env,
    describe_endpoint,
    endpoint_configured,
    normalise_base_url,
    request_key,
    resolve_endpoint,
)
from persona_judge.llm.standin import StandInServer


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://localhost:8000/v1", "http://localhost:8000"),
        ("http://localhost:8000/v1/", "http://localhost:8000"),
        ("https://gw.example.org/proxy/v1", "https://gw.example.org/proxy"),
        ("  https://api.together.ai ", "https://api.together.ai"),
    ],
)
def test_base_url_is_server_root_without_v1(given: str, expected: str) -> None:
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize("bad", ["localhost:8000", "ftp://host", "http://", ""])
def test_bad_base_url_is_rejected_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        normalise_base_url(bad)


def test_nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_endpoint() is None
    assert not endpoint_configured()
    assert "TOGETHER_API_KEY" in describe_endpoint() and "LLM_BASE_URL" in describe_endpoint()


def test_together_selected_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-fake-selection")
    endpoint = resolve_endpoint()
    assert endpoint is not None and endpoint.backend == "together"
    assert endpoint.base_url == "https://api.together.ai"
    assert endpoint_configured()
    text = describe_endpoint()
    assert text.startswith("Together") and "tgp-fake-selection" not in text


def test_llm_base_url_wins_over_together_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-fake-selection")
    monkeypatch.setenv("LLM_BASE_URL", "http://gpu-box:8000/v1")
    endpoint = resolve_endpoint()
    assert endpoint is not None
    assert (endpoint.backend, endpoint.base_url) == ("openai-compatible", "http://gpu-box:8000")
    assert "no key" in describe_endpoint()
    monkeypatch.setenv("LLM_API_KEY", "sk-local-secret")
    assert "key from LLM_API_KEY" in describe_endpoint()
    assert "sk-local-secret" not in describe_endpoint()


def test_explicit_base_url_overrides_the_selected_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-fake-selection")
    endpoint = resolve_endpoint(base_url="http://127.0.0.1:9999/v1")
    assert endpoint is not None
    assert (endpoint.backend, endpoint.base_url) == ("together", "http://127.0.0.1:9999")
    monkeypatch.delenv("TOGETHER_API_KEY")
    endpoint = resolve_endpoint(base_url="http://127.0.0.1:9999")
    assert endpoint is not None and endpoint.backend == "openai-compatible"


def test_userinfo_in_url_is_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_BASE_URL", "http://bob:hunter2@gpu-box:8000/v1?token=abc")
    text = describe_endpoint()
    assert "gpu-box:8000" in text and "hunter2" not in text and "abc" not in text


def test_real_call_without_endpoint_explains_what_to_set(tmp_path) -> None:
    with pytest.raises(NoEndpointError, match="TOGETHER_API_KEY.*LLM_BASE_URL.*dry_run"):
        client_from_env(MODEL, cache_path=tmp_path / "c.sqlite")


def test_unknown_option_lists_the_valid_ones(tmp_path) -> None:
    with pytest.raises(SettingsError, match="max_concurency.*max_concurrency"):
        client_from_env(MODEL, cache_path=tmp_path / "c.sqlite", dry_run=True, max_concurency=3)


def test_sdk_with_v1_in_base_url_reaches_the_right_path(
    server: StandInServer, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OpenAI-client habit (".../v1") must not become /v1/v1/chat/completions.
    monkeypatch.setenv("LLM_BASE_URL", server.openai_base_url)
    with client_from_env(MODEL, cache_path=tmp_path / "c.sqlite", progress=False) as client:
        result = client.chat(judge_request(0))
    assert result.error is None and result.text
    # the preflight and the call itself, both at the right path
    assert [r.path for r in server.requests] == ["/v1/chat/completions"] * 2
    assert server.requests[0].body["model"] == MODEL


def test_standin_lists_models_and_rejects_unknown_ones(tmp_path, monkeypatch) -> None:
    with StandInServer(model_ids=[MODEL]) as srv:
        listing = httpx.get(srv.openai_base_url + "/models").json()
        assert [m["id"] for m in listing["data"]] == [MODEL]
        monkeypatch.setenv("LLM_BASE_URL", srv.url)
        with client_from_env("no/such-model", cache_path=tmp_path / "c.sqlite") as client:
            with pytest.raises(EndpointConfigError, match="no/such-model.*without /v1"):
                client.chat(judge_request(0))
        assert srv.requests_seen == 1  # a 404 is not retried


def test_request_normalisation_and_key_composition() -> None:
    base = judge_request(1)
    same = ChatRequest(
        messages=list(base.messages), template=base.template, temperature=0, labels={"x": "y"}
    )
    key = request_key(base, backend="together", model=MODEL)
    # Labels and list-vs-tuple and 0-vs-0.0 do not change the key.
    assert request_key(same, backend="together", model=MODEL) == key
    variants = [
        request_key(base.resample(1), backend="together", model=MODEL),
        request_key(base, backend="openai-compatible", model=MODEL),
        request_key(base, backend="together", model="meta-llama/Llama-3.2-3B-Instruct-Turbo"),
        request_key(
            ChatRequest(base.messages, "judge_pairwise@2"), backend="together", model=MODEL
        ),
        request_key(
            ChatRequest(base.messages, base.template, temperature=0.7),
            backend="together", model=MODEL,
        ),
        request_key(
            ChatRequest(base.messages, base.template, max_tokens=64),
            backend="together", model=MODEL,
        ),
        request_key(
            ChatRequest(base.messages, base.template, top_p=0.9), backend="together", model=MODEL
        ),
    ]
    assert len({key, *variants}) == len(variants) + 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"template": "judge"}, "name@version"),
        ({"messages": []}, "at least one message"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "role 'robot'"),
        ({"messages": [{"role": "user", "content": 3}]}, "must be a string"),
        ({"temperature": -1}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_requests_name_the_problem(kwargs: dict, message: str) -> None:
    fields = {"messages": [{"role": "user", "content": "hi"}], "template": "t@1", **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        ChatRequest(**fields)


def test_requests_and_results_are_plain_serializable_objects() -> None:
    import pickle
    from dataclasses import asdict

    request = judge_request(4)
    assert pickle.loads(pickle.dumps(request)) == request
    assert asdict(request)["labels"] == {"user": "u1", "pair": "u1/c4"}
    labels = {"user": "u1"}
    copy = ChatRequest([{"role": "user", "content": "x"}], "t@1", labels=labels)
    labels["user"] = "changed"
    assert copy.labels == {"user": "u1"}


def test_closed_client_refuses_calls(tmp_path) -> None:
    client = client_from_env(MODEL, cache_path=tmp_path / "c.sqlite", dry_run=True)
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        client.chat(judge_request(0))
