"""The chapters' estimators dry-run exactly the chapters' calls; notebook defaults agree."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import papermill
import pytest

from persona_judge.analyses import alignment, scaling, transfer
from persona_judge.analyses.common import METHOD_SETTINGS, method_config
from persona_judge.analyses.smoke import analyses_responder
from persona_judge.llm import client_from_env
from persona_judge.paths import project_root
from persona_judge.study.notebook import smoke_llm

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
SCALING = {"mode": "smoke", "dataset": "prism", "model": MODEL, "n_candidates": 2,
           "m_candidates": 2,
           "smoke_design": {"max_users": 2, "min_preferences": 6, "k_grid": [1, 3, 6],
                            "seeds_per_k": 2}}
ALIGNMENT = {"mode": "smoke", "model": MODEL, "n_candidates": 2, "m_candidates": 2,
             "smoke_design": {"max_users": 5, "n_shuffles": 1}}
TRANSFER = {"mode": "smoke", "dataset": "chatbot_arena", "model": MODEL, "n_candidates": 2,
            "m_candidates": 2, "judges": ["org/Judge-3B"], "smoke_design": {"max_users": 3}}


def _dry(cache: Path):
    # The smoke runs spoke to an OpenAI-compatible stand-in: price against the same backend.
    return client_from_env(MODEL, cache_path=cache, dry_run=True, backend="openai-compatible",
                           progress=False)


def _run_for_real(name: str, settings: dict, cache: Path) -> None:
    config = method_config({**METHOD_SETTINGS, **settings})
    if name == "scaling":
        users, _ = scaling.scaling_users(settings)
        with smoke_llm(MODEL, cache_path=cache, responder=analyses_responder) as client:
            scaling.run_scaling(users, client, config, scaling.design_from_settings(settings),
                                max_workers=1)
    elif name == "alignment":
        users, surveys, _ = alignment.alignment_users(settings)
        with smoke_llm(MODEL, cache_path=cache, responder=analyses_responder) as client:
            alignment.run_alignment(users, surveys, client, config,
                                    alignment.design_from_settings(settings), max_workers=1)
    else:
        design = transfer.design_from_settings(settings)
        users, _ = transfer.transfer_users(settings)
        contexts = [smoke_llm(m, cache_path=cache, responder=analyses_responder)
                    for m in design.models]
        clients = {m: c.__enter__() for m, c in zip(design.models, contexts, strict=True)}
        try:
            transfer.run_transfer(users, clients, config, design, max_workers=1)
        finally:
            for c in contexts:
                c.__exit__(None, None, None)


ESTIMATORS = {"scaling": (scaling.estimate_scaling, SCALING),
              "alignment": (alignment.estimate_alignment, ALIGNMENT),
              "transfer": (transfer.estimate_transfer, TRANSFER)}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_an_estimate_prices_the_chapter_and_a_finished_run_at_nothing(name, tmp_path):
    estimate, settings = ESTIMATORS[name]
    cold = _dry(tmp_path / "cold.sqlite")
    try:
        table = estimate(settings, cold)
    finally:
        cold.close()
    stages, total = table.iloc[:-1], table.iloc[-1]
    assert total["stage"] == "total" and total["calls"] == stages["calls"].sum() > 0
    assert total["prompt_tokens"] > 0 and total["dollars"] > 0  # the 70B price is known
    if name == "transfer":  # every model is priced, each by its own sibling client
        assert set(stages["model"]) == {MODEL, "org/Judge-3B"}
    warm_cache = tmp_path / "warm.sqlite"
    _run_for_real(name, settings, warm_cache)
    warm = _dry(warm_cache)
    try:
        again = estimate(settings, warm)
    finally:
        warm.close()
    assert again.iloc[-1]["calls"] == 0 and again.iloc[-1]["cache_hits"] > 0


def test_the_scaling_estimate_counts_exactly_the_test_judgments_of_every_cell(tmp_path):
    client = _dry(tmp_path / "c.sqlite")
    try:
        table = scaling.estimate_scaling(SCALING, client).set_index("stage")
    finally:
        client.close()
    users, _ = scaling.scaling_users(SCALING)
    cells = scaling.scaling_cells(users, scaling.design_from_settings(SCALING))
    assert table.at["judge test pairs: Memory", "calls"] == sum(2 * len(c.split.test)
                                                                for c in cells)
    assert table.at["judge test pairs: default judge", "calls"] == sum(2 * len(u.test)
                                                                       for u in users)


@pytest.mark.parametrize(("notebook", "defaults"), [
    ("07_scaling_with_preferences", scaling.DESIGN_DEFAULTS),
    ("08_persona_alignment", alignment.DESIGN_DEFAULTS),
    ("09_persona_transfer", transfer.DESIGN_DEFAULTS)])
def test_the_estimators_defaults_are_the_chapters(notebook, defaults):
    declared = papermill.inspect_notebook(str(project_root() / "notebooks" / f"{notebook}.ipynb"))
    for name, value in {**METHOD_SETTINGS, **defaults}.items():
        if name in declared:
            assert ast.literal_eval(declared[name]["default"]) == value, (notebook, name)
    assert "smoke_design" in declared and "llm_settings" in declared


@pytest.mark.parametrize("name", ["scaling", "transfer"])
def test_an_estimate_fits_one_user_at_a_time_so_its_counts_do_not_depend_on_threads(
        name, tmp_path, monkeypatch):
    # with fits in flight together, a request two fits share is a call or a cache hit
    # depending on which thread gets there first: the chapter's record of its estimate
    # flaked. One at a time, the counts are the same on every run.
    module = {"scaling": scaling, "transfer": transfer}[name]
    runner = {"scaling": "run_scaling", "transfer": "run_transfer"}[name]
    real = getattr(module, runner)
    workers: list[int] = []

    def recording(*args, max_workers: int = 4, **kwargs):
        workers.append(max_workers)
        return real(*args, max_workers=max_workers, **kwargs)

    monkeypatch.setattr(module, runner, recording)
    estimate, settings = ESTIMATORS[name]
    tables = []
    for attempt in range(2):
        client = _dry(tmp_path / f"cold-{attempt}.sqlite")
        try:
            tables.append(estimate(settings, client))
        finally:
            client.close()
    assert workers == [1, 1]
    pd.testing.assert_frame_equal(tables[0], tables[1])
