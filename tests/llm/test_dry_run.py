"""Dry runs: no network call, the same call counts as a real run, estimated cost,
and deterministic pseudo-random verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
from llm_helpers import MODEL, judge_request, text_request

from persona_judge.llm import ChatRequest, client_from_env, estimate_prompt_tokens
from persona_judge.llm.standin import StandInServer


def _workload(client) -> None:
    client.chat_many([text_request(i) for i in range(4)])
    client.judge_many([judge_request(i) for i in range(10)])
    client.judge(judge_request(3))  # repeated: a hit in both modes
    client.chat(text_request(0))


def test_dry_run_counts_equal_real_run_counts(
    make_client, server: StandInServer, tmp_path: Path
) -> None:
    real = make_client(cache_path=tmp_path / "real.sqlite")
    _workload(real)
    real_calls = server.requests_seen
    dry = make_client(cache_path=tmp_path / "dry.sqlite", dry_run=True)
    _workload(dry)
    assert server.requests_seen == real_calls == 14  # the dry run sent nothing
    assert dry.stats.calls == real.stats.calls == 14
    assert dry.stats.cache_hits == real.stats.cache_hits == 2
    assert not (tmp_path / "dry.sqlite").exists() or len(dry.cache) == 0


def test_dry_run_uses_the_cache_to_estimate_what_is_left(
    make_client, server: StandInServer, cache_path: Path
) -> None:
    make_client().chat_many([text_request(i) for i in range(3)])
    dry = make_client(dry_run=True)
    dry.chat_many([text_request(i) for i in range(5)])
    assert dry.stats.cache_hits == 3 and dry.stats.calls == 2
    assert server.requests_seen == 3


def test_dry_run_needs_no_endpoint_and_estimates_cost(tmp_path: Path) -> None:
    request = ChatRequest(
        [{"role": "system", "content": "s" * 400}, {"role": "user", "content": "u" * 1000}],
        "judge_pairwise@1",
        max_tokens=300,
    )
    with client_from_env(
        MODEL, cache_path=tmp_path / "c.sqlite", dry_run=True, progress=False
    ) as client:
        client.judge_many([request.resample(i) for i in range(10)])
        stats = client.stats
        assert stats.calls == 10
        # chars/4 + 4 per message: (100 + 4) + (250 + 4) = 358 prompt tokens per call
        assert estimate_prompt_tokens(request.messages) == 358
        assert stats.prompt_tokens == 3580 and stats.completion_tokens == 3000
        # Llama 3.3 70B Turbo at $0.88 / 1M tokens in and out
        assert stats.dollars == pytest.approx(6580 * 0.88 / 1e6)
        summary = client.summary()
        assert summary.startswith("DRY RUN") and "10 calls" in summary and "$0.0058" in summary


def test_dry_run_completion_length_is_configurable(tmp_path: Path) -> None:
    with client_from_env(
        MODEL, cache_path=tmp_path / "c.sqlite", dry_run=True, dry_run_completion_tokens=50,
        progress=False,
    ) as client:
        client.chat(text_request(1, max_tokens=1000))
        assert client.stats.completion_tokens == 50


def test_dry_run_verdicts_are_deterministic_and_mixed(tmp_path: Path) -> None:
    requests = [judge_request(i) for i in range(40)]
    runs = []
    for name in ("a", "b"):
        with client_from_env(
            MODEL, cache_path=tmp_path / f"{name}.sqlite", dry_run=True, progress=False
        ) as client:
            runs.append([j.choice for j in client.judge_many(requests)])
    assert runs[0] == runs[1]
    assert 10 <= runs[0].count("A") <= 30  # both choices occur: realistic paths
    assert None not in runs[0]


def test_unknown_model_price_is_reported_not_invented(tmp_path: Path) -> None:
    with client_from_env(
        "my-org/local-finetune", cache_path=tmp_path / "c.sqlite", dry_run=True, progress=False
    ) as client:
        client.chat(text_request(1))
        assert client.stats.dollars == 0 and not client.stats.price_known
        assert "price unknown for my-org/local-finetune" in client.summary()
