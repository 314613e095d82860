"""Chapter 06 finds chapter 05's results only if both run with the same settings: check that
study.yaml gives every 05 cell and 06 the same values for everything that keys the results."""

from __future__ import annotations

from persona_judge.evaluation.main_results import RESULT_PARAMETERS
from persona_judge.study import config as study_config


def _runs():
    config = study_config.load_config(overrides={"mode": "smoke"})
    chapters = {c.name: c for c in study_config.chapters(config)}
    return config, chapters["05_main_results"], chapters["06_paper_comparison"]


def test_both_chapters_declare_every_result_setting() -> None:
    _, results, summary = _runs()
    assert set(RESULT_PARAMETERS) <= study_config.declared_parameters(results.source)
    declared = study_config.declared_parameters(summary.source)
    assert set(RESULT_PARAMETERS) - {"dataset", "model"} <= declared
    assert "grid" in declared


def test_every_cell_of_05_is_what_06_looks_for() -> None:
    config, results, summary = _runs()
    for overrides in ({}, {"max_users": 3, "seed": 2}):  # -p values reach both chapters
        gathered = study_config.notebook_parameters(summary, config, overrides)
        cells = study_config.expand(results, overrides)
        assert len(cells) == 6
        assert [dict(c.cell) for c in cells] == [
            {"dataset": d, "model": m} for d in gathered["grid"]["dataset"]
            for m in gathered["grid"]["model"]]
        for cell in cells:
            ran = study_config.notebook_parameters(cell, config, overrides)
            for key in RESULT_PARAMETERS:
                expected = cell.cell[key] if key in cell.cell else gathered[key]
                assert ran[key] == expected, (cell.label, key)
