"""``persona-judge estimate`` prices every cell of the grid and the whole study, sending nothing."""

from __future__ import annotations

import pytest

from persona_judge.cli import main
from persona_judge.study import estimate
from persona_judge.study.config import load_config

TINY = ["-p", "mode=smoke", "-p", "max_users=1", "-p", "n_candidates=1", "-p", "m_candidates=1"]


@pytest.fixture(autouse=True)
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "LLM_BASE_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_every_cell_and_the_whole_grid_are_priced(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", *TINY, "--completion-tokens", "50", "--only",
                 "05_main_results"]) == 0
    out = capsys.readouterr().out
    for dataset in ("chatbot_arena", "prism"):
        for model in ("Llama-3.2-3B-Instruct-Turbo", "Meta-Llama-3.1-8B-Instruct-Turbo",
                      "Llama-3.3-70B-Instruct-Turbo"):
            assert f"== 05_main_results [dataset={dataset}, model=meta-llama/{model}]" in out
    assert "whole study" in out and "6 run(s)" in out and "calls at most" in out
    assert "evaluate Demographics" in out and "nothing was sent" in out


def test_the_whole_study_is_the_sum_of_its_cells() -> None:
    overrides = {"mode": "smoke", "max_users": 1, "n_candidates": 1, "m_candidates": 1,
                 "dataset": "prism"}
    estimates = estimate.estimate_study(load_config(overrides=overrides), overrides,
                                        only=["05_main_results"],
                                        options=estimate.EstimateOptions(completion_tokens=10))
    assert [e.run.cell["dataset"] for e in estimates] == ["prism"] * 3  # -p narrows the grid
    table = estimate.grid_table(estimates)
    whole = table.iloc[-1]
    for column in ("calls", "calls at most", "prompt_tokens", "dollars"):
        assert whole[column] == pytest.approx(sum(e.total[column] for e in estimates))
    # same users, same prompts: the 70B judge costs more than the 3B one (prices.yaml)
    dollars = {e.run.cell["model"].rsplit("/", 1)[-1]: e.total["dollars"] for e in estimates}
    assert dollars["Llama-3.3-70B-Instruct-Turbo"] > dollars["Llama-3.2-3B-Instruct-Turbo"] > 0
    stages = estimate.stage_table(estimates).set_index("stage")
    assert stages.loc["evaluate Memory", "calls"] == sum(
        e.spend.set_index("stage").loc["evaluate Memory", "calls"] for e in estimates)


def test_a_chapter_without_an_estimator_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["estimate", *TINY, "--only", "01_benchmark"]) == 2
    err = capsys.readouterr().err
    assert "no chapter to estimate" in err and "05_main_results" in err
    assert estimate.estimator("01_benchmark") is None
    assert estimate.estimator("05_main_results") is not None


def client_style_estimator(params, client):
    """An estimator of the second form: it is handed a dry-run client."""
    from persona_judge.llm import ChatRequest

    assert client.dry_run and client.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    client.chat(ChatRequest(({"role": "user", "content": "x" * 400},), "probe@v1",
                            max_tokens=10))
    import pandas as pd

    stats = client.stats
    return pd.DataFrame([{"stage": "probe", "calls": stats.calls, "cache_hits": 0,
                          "prompt_tokens": stats.prompt_tokens, "completion_tokens": 10,
                          "dollars": stats.dollars},
                         {"stage": "total", "calls": stats.calls, "cache_hits": 0,
                          "prompt_tokens": stats.prompt_tokens, "completion_tokens": 10,
                          "dollars": stats.dollars}])


def test_an_estimator_that_takes_a_client_gets_a_dry_run_one(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(estimate.ESTIMATORS, "01_benchmark",
                        "test_estimate_command:client_style_estimator")
    overrides = {"mode": "smoke", "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}
    estimates = estimate.estimate_study(load_config(overrides=overrides), overrides,
                                        only=["01_benchmark"],
                                        options=estimate.EstimateOptions(
                                            cache_path=tmp_path / "c.sqlite"))
    assert len(estimates) == 1
    total = estimates[0].total
    assert total["calls"] == 1 and total["prompt_tokens"] == 100 + 4 and total["dollars"] > 0
    assert total.isna()["calls at most"]  # this estimator gives no bound: shown as "–"
    assert "–" in estimate.format_table(estimate.grid_table(estimates))


def test_a_chapter_whose_settings_do_not_fit_is_named_and_the_others_are_priced(
        capsys: pytest.CaptureFixture[str]) -> None:
    # one user is too few for the alignment study (it needs three), not for the others
    assert main(["estimate", *TINY, "--only", "05_main_results", "--only",
                 "08_persona_alignment"]) == 0
    out = capsys.readouterr().out
    assert "not estimated: the alignment study needs at least 3 users" in out
    assert "whole study (without 1 run(s) not estimated)" in out
    assert "evaluate Demographics" in out
