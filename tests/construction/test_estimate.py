"""The cost of a construction run, from a dry run: call counts follow the design, nothing is
sent, and answers already cached are free."""

from __future__ import annotations

import pytest

from persona_judge.construction.estimate import (
    chapter_settings,
    derive_pairs,
    estimate_construction,
    estimate_llm_stages,
)
from persona_judge.construction.filters import personalization_request, user_filter
from persona_judge.construction.pipeline import ConstructionConfig, sample_users
from persona_judge.construction.smoke import construction_responder
from persona_judge.llm import client_from_env
from persona_judge.llm.standin import StandInServer

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
CONFIG = ConstructionConfig(min_pairs_per_user=10, llm_max_users=3)


@pytest.fixture()
def no_endpoint(monkeypatch):
    for name in ("TOGETHER_API_KEY", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_dry_run_counts_one_call_per_pair_and_two_per_judge(tmp_path, no_endpoint):
    pairs, report, _ = derive_pairs("chatbot_arena", "smoke", CONFIG)
    table = estimate_llm_stages({"chatbot_arena": (pairs, report)}, CONFIG, model=MODEL,
                                consensus_models=[MODEL, "meta-llama/Llama-3.2-3B-Instruct-Turbo"],
                                cache_path=tmp_path / "cache.sqlite", mode="smoke")
    rows = table.set_index(["stage", "model"])
    sampled = rows.loc[("personalization filter", MODEL), "pairs"]
    assert rows.loc[("personalization filter", MODEL), "calls"] == sampled > 0
    # the dry run keeps every pair, so each judge sees every sampled pair in both orders
    for judge in (MODEL, "meta-llama/Llama-3.2-3B-Instruct-Turbo"):
        assert rows.loc[("consensus filter", judge), "pairs"] == sampled
        assert rows.loc[("consensus filter", judge), "calls"] == 2 * sampled
    total = table[table["stage"] == "total"].iloc[0]
    assert total["calls"] == 5 * sampled and total["prompt tokens"] > 0
    assert total["dollars"] > 0  # both models are priced in llm/prices.yaml
    assert total["completion tokens"] == sampled * 400 + 4 * sampled * 400  # max_tokens each


def test_cached_answers_are_free_and_nothing_is_sent(tmp_path, monkeypatch):
    pairs, report, _ = derive_pairs("chatbot_arena", "smoke", CONFIG)
    config = ConstructionConfig(min_pairs_per_user=10, llm_max_users=3, consensus_source="off")
    sampled, _ = sample_users(user_filter(pairs, 10)[0], 3, config.seed)
    cache = tmp_path / "cache.sqlite"
    with StandInServer(responder=construction_responder) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
        first = estimate_llm_stages({"chatbot_arena": (pairs, report)}, config, model=MODEL,
                                    consensus_models=[], cache_path=cache)
        assert server.requests_seen == 0
        # Three pairs answered for real, as an interrupted run would have left them.
        with client_from_env(MODEL, cache_path=cache, progress=False, preflight=False) as real:
            real.chat_many([personalization_request(p) for p in sampled[:3]])
        assert server.requests_seen == 3
        again = estimate_llm_stages({"chatbot_arena": (pairs, report)}, config, model=MODEL,
                                    consensus_models=[], cache_path=cache)
        assert server.requests_seen == 3  # the dry run sent nothing
    assert (first.loc[0, "calls"], first.loc[0, "cache hits"]) == (len(sampled), 0)
    assert (again.loc[0, "calls"], again.loc[0, "cache hits"]) == (len(sampled) - 3, 3)


def test_estimate_from_study_settings(tmp_path, no_endpoint):
    study = {"mode": "smoke", "model": MODEL, "seed": 0, "notebooks": [
        {"name": "01_benchmark"},
        {"name": "00_benchmark_construction", "parameters": {
            "sources": ["prism"], "min_pairs_per_user": 10, "llm_max_users": 2,
            "consensus_models": [MODEL], "consensus_source": "llm"}}]}
    assert chapter_settings(study, {"llm_max_users": 1})["llm_max_users"] == 1
    table = estimate_construction(study, cache_path=tmp_path / "c.sqlite", completion_tokens=50)
    assert list(table["source"]) == ["prism", "prism", "all"]
    personal = table.iloc[0]
    assert table.iloc[1]["calls"] == 2 * personal["calls"]
    assert table.iloc[2]["completion tokens"] == 3 * personal["calls"] * 50
    recorded = estimate_construction(study, overrides={"consensus_source": "recorded"},
                                     cache_path=tmp_path / "c.sqlite")
    assert list(recorded["stage"]) == ["personalization filter", "total"]
