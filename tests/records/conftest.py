"""Each record runs on its own: what a record reads, its test computes first if missing.

The summary chapter's record (``06_paper_comparison``) reads the six settings' saved
results that chapter 05 writes, and chapter 10's reward-model results (the study runs 10
before 06); chapter 10's record reads the personas of chapter 05's fits in its setting.
When those records ran earlier in the same session, their results are already in the
session's data folder; when 06 or 10 runs alone (or first), this hook computes what it
reads before its first cell, through the library, exactly as chapters 05 and 10 do in
smoke mode: the same users, settings, results key and folder (read from the records'
injected parameters), the scripted stand-in (with its own throw-away cache, as every
smoke chapter has, so no other record's counts move), a seeded run. So the records pass
in any order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

NEEDS_MAIN_RESULTS = "06_paper_comparison.ipynb"
REWARD_MODELS = "10_reward_models.ipynb"
_prepared: set[Path] = set()


def injected_parameters(record: Path) -> dict[str, Any]:
    """The parameters papermill injected into a record (the cell tagged so)."""
    notebook = json.loads(record.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            values: dict[str, Any] = {}
            exec("".join(cell["source"]), {}, values)  # our own record: plain assignments
            return values
    raise AssertionError(f"{record.name} has no injected-parameters cell")


def ensure_main_results(params: dict[str, Any]) -> list[Path]:
    """Chapter 05's saved results for every cell of ``params["grid"]`` (smoke), computed
    where missing; the folders, in grid order."""
    from persona_judge.baselines.smoke import smoke_responder
    from persona_judge.data.raw_prism import load_prism_survey
    from persona_judge.evaluation import main_results as mr
    from persona_judge.evaluation.grid import grid_cells
    from persona_judge.study.notebook import smoke_llm

    assert params["mode"] == "smoke", "records are smoke runs"
    shared = {k: v for k, v in params.items() if k != "grid"}
    folders = []
    for cell in grid_cells(params["grid"]):
        cell_params = {**shared, "dataset": cell.dataset, "model": cell.model}
        users = mr.results_users(cell_params)
        found = mr.find_results(cell_params, users)
        if found is None:
            official_code = mr.check_reference_arm(cell_params)
            survey = (load_prism_survey("smoke", revision=cell_params["survey_revision"])
                      if mr.uses_survey(cell.dataset) else None)
            with smoke_llm(cell.model, responder=smoke_responder, progress=False) as client:
                results = mr.run_main_results(
                    users, client, mr.method_config(cell_params), survey=survey,
                    survey_include=cell_params["survey_include"],
                    compare_theta=bool(cell_params["compare_theta"]),
                    compare_variant=bool(cell_params["compare_variant"]), progress=False,
                    reference_arm=official_code, max_workers=1)
            found = results.save(mr.results_folder(cell_params, users))
        folders.append(found)
    return folders


def ensure_reward_models(params: dict[str, Any]) -> Path | None:
    """Chapter 10's saved results (smoke: the tiny local model on CPU), computed where
    missing, exactly as the chapter computes them; the folder, or ``None`` without the
    ``[reward-models]`` extra (chapter 10 then shows a page that says so, and 06 "not run")."""
    from persona_judge.evaluation import main_results as mr
    from persona_judge.reward_models import study as rm
    from persona_judge.reward_models.settings import settings_from
    from persona_judge.study.notebook import load_users

    assert params["mode"] == "smoke", "records are smoke runs"
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    settings = settings_from(params["rm_settings"], params["mode"])
    chosen = rm.methods_from(params["methods"])
    test_users = mr.results_users(params)
    home = rm.results_home(params, test_users, settings, chosen)
    if (home / "judgments.csv").is_file():
        return home
    train_users = load_users(params["dataset"], params["mode"], None, params["seed"])
    personas, note = rm.personas_from_main_results(params, test_users)
    results = rm.run_reward_models(train_users, test_users, settings, seed=params["seed"],
                                   mode=params["mode"], personas=personas, persona_note=note,
                                   methods=chosen, progress=False)
    return rm.save_latest(results, home)


def pytest_runtest_setup(item: pytest.Item) -> None:
    record = Path(str(item.path))
    if record in _prepared or record.name not in (NEEDS_MAIN_RESULTS, REWARD_MODELS):
        return
    _prepared.add(record)
    if record.name == REWARD_MODELS:
        # chapter 10 reads the personas of chapter 05's fits in its own setting
        params = injected_parameters(record)
        ensure_main_results({**params, "grid": {"dataset": [params["dataset"]],
                                                "model": [params["model"]]}})
        return
    ensure_main_results(injected_parameters(record))
    # chapter 10 runs before 06 in the study (study.yaml): its rows are in 06's record
    ensure_reward_models(injected_parameters(record.parent / REWARD_MODELS))
