"""The six-setting summary: each cell's saved results found by its settings, laid out by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from persona_judge.data.benchmark import DataUnavailableError
from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.errors import PersonaJudgeError
from persona_judge.evaluation import grid as summary
from persona_judge.evaluation.main_results import (
    DEFAULT,
    DEMOGRAPHICS,
    FULL,
    MEMORY,
    MainResults,
    find_results,
    results_folder,
)
from persona_judge.evaluation.paper import MAIN_SETTING

B8, B70 = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo"
SHARED = {"mode": "smoke", "max_users": None, "smoke_max_users": 4, "seed": 0,
          "n_candidates": 10, "m_candidates": 10, "algorithm": "faithful",
          "trace_context": "labelled", "persona_instruction": "persona_synthesis@v1",
          "survey_include": ["demographics"], "survey_revision": None, "compare_theta": False,
          "variant": "public", "theta_program": "llama70b", "compare_variant": False,
          "reference_arm": False}


def _users(dataset: str) -> list[UserSplit]:
    """Two users with one test pair each (the summary's interval resamples users)."""
    return [UserSplit(f"{dataset}-u{i}", (), (), (
        Preference(f"{dataset}-u{i}", f"c{i}", (Turn("user", f"q{i}"),),
                   Turn("assistant", "yes"), Turn("assistant", "no"), "test"),))
        for i in range(2)]


def _judgments(users: list[UserSplit], correct: dict[str, list[bool]]) -> pd.DataFrame:
    rows = []
    for method, flags in correct.items():
        keys = [(p, o) for u in users for p in u.test
                for o in ("chosen_first", "rejected_first")]
        for (pref, order), ok in zip(keys, flags, strict=True):
            rows.append({"method": method, "user_id": pref.user_id, "pair_id": pref.pair_id,
                         "order": order, "choice": "A", "correct": ok, "failure": None,
                         "attempts": 1, "prompt_tokens": 1, "completion_tokens": 1,
                         "carries": "", "flag": ""})
    return pd.DataFrame(rows)


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    users = {"chatbot_arena": _users("chatbot_arena"), "prism": _users("prism")}
    spend = pd.DataFrame([{"stage": "total", "calls": 0}])
    arena = _judgments(users["chatbot_arena"], {DEFAULT: [True, True, True, False],
                                                MEMORY: [True, False, False, False],
                                                FULL: [True, True, True, True]})
    prism = _judgments(users["prism"], {DEFAULT: [False, False, True, True],
                                        DEMOGRAPHICS: [True, False, True, False],
                                        FULL: [True, True, True, False]})
    for dataset, model, frame in (("chatbot_arena", B70, arena), ("prism", B8, prism)):
        params = {**SHARED, "dataset": dataset, "model": model}
        MainResults({}, frame, spend).save(results_folder(params, users[dataset]))
    return users


def test_each_cell_is_found_by_its_settings_and_missing_cells_are_not_run(saved) -> None:
    grid = {"dataset": ["chatbot_arena", "prism"], "model": [B8, B70]}
    long = summary.gather_grid(grid, SHARED, lambda d: saved[d], n_resamples=200)
    status = long.drop_duplicates(["dataset", "model"]).set_index(["dataset", "model"])["status"]
    assert status.to_dict() == {("chatbot_arena", B8): "not run", ("chatbot_arena", B70): "run",
                                ("prism", B8): "run", ("prism", B70): "not run"}
    acc = long.dropna(subset=["method"]).set_index(["dataset", "method"])["accuracy"]
    assert acc[("chatbot_arena", DEFAULT)] == pytest.approx(75.0)
    assert acc[("chatbot_arena", MEMORY)] == pytest.approx(25.0)
    assert acc[("prism", DEMOGRAPHICS)] == pytest.approx(50.0)
    # other settings are other results: another seed finds nothing
    assert find_results({**SHARED, "seed": 1, "dataset": "prism", "model": B8},
                        saved["prism"]) is None
    # a cell whose users differ (e.g. other data) is not this run either
    assert find_results({**SHARED, "dataset": "prism", "model": B8},
                        saved["chatbot_arena"]) is None


def test_the_summary_table_by_hand(saved) -> None:
    grid = {"dataset": ["chatbot_arena", "prism"], "model": [B8, B70]}
    long = summary.gather_grid(grid, SHARED, lambda d: saved[d], n_resamples=200)
    table = summary.with_paper(long)
    arena70 = table[(table["dataset"] == "chatbot_arena") & (table["judge"] == "Llama-3.3-70B")] \
        .set_index("method")
    assert arena70.loc[DEFAULT, "paper"] == 56.69
    assert arena70.loc[DEFAULT, "delta"] == pytest.approx(75.0 - 56.69)
    lo, hi = arena70.loc[DEFAULT, ["ci_low", "ci_high"]]
    # the interval resamples users: u0 got both orders right, u1 one of two -> 50 ... 100
    assert (lo, hi) == (50.0, 100.0)
    assert set(long.dropna(subset=["method"])["ci_unit"]) == {"user"}
    assert arena70.loc[DEFAULT, "paper inside CI"] is bool(lo <= 56.69 <= hi) is True
    assert arena70.loc[MEMORY, "paper inside CI"] is False  # 25 [0, 50] vs 57.57
    assert arena70.loc["GPO", "status"] == "not run" and arena70.loc["GPO", "paper"] == 58.10
    assert arena70.loc[FULL, "delta"] == pytest.approx(100.0 - 61.97)
    # a cell that did not run lists its dataset's methods as "not run" (PRISM: Demographics)
    prism70 = table[(table["dataset"] == "prism") & (table["judge"] == "Llama-3.3-70B")]
    assert set(prism70["method"]) == {DEFAULT, DEMOGRAPHICS, FULL}
    assert (prism70["status"] == "not run").all()
    arena8 = table[(table["dataset"] == "chatbot_arena") & (table["judge"] == "Llama-3.1-8B")]
    assert set(arena8["method"]) == {DEFAULT, MEMORY, FULL}
    # the paper's layout: rows = methods, columns = judges
    layout = summary.paper_layout(table, "chatbot_arena",
                                  lambda r: r["status"] if pd.isna(r["paper"]) else "P")
    assert list(layout.columns) == ["method", "Llama-3.1-8B", "Llama-3.3-70B"]
    cells = layout.set_index("method")
    assert cells.loc[MEMORY, "Llama-3.3-70B"] == "P" and cells.loc[MEMORY, "Llama-3.1-8B"] == \
        "not run"
    assert cells.loc["GPO", "Llama-3.1-8B"] == "–"  # the paper has no 8B number, nothing ran
    assert list(cells.index[:3]) == [DEFAULT, MEMORY, "GPO"]  # the study's method order


def test_headline_is_the_paper_main_setting(saved) -> None:
    grid = {"dataset": ["chatbot_arena"], "model": [B70]}
    table = summary.with_paper(summary.gather_grid(grid, SHARED, lambda d: saved[d],
                                                   n_resamples=200))
    main = summary.headline(table)
    assert list(main["method"][:4]) == [DEFAULT, MEMORY, "GPO", "SynthesizeMe (persona only)"]
    assert set(main.loc[main["status"] == "run", "method"]) == {DEFAULT, MEMORY, FULL}
    # a grid without the main setting still shows the paper's rows, as not run
    other = summary.with_paper(summary.gather_grid(
        {"dataset": ["prism"], "model": [B8]}, SHARED, lambda d: saved[d], n_resamples=200))
    fallback = summary.headline(other)
    assert len(fallback) == 7 and (fallback["status"] == "not run").all()
    assert set(fallback["judge"]) == {MAIN_SETTING[1]}


def test_a_dataset_that_cannot_be_loaded_makes_its_cells_not_run(saved) -> None:
    def load(dataset: str):
        if dataset == "prism":
            raise DataUnavailableError("prism is not on disk; run persona-judge download")
        return saved[dataset]

    long = summary.gather_grid({"dataset": ["chatbot_arena", "prism"], "model": [B70]}, SHARED,
                               load, n_resamples=100)
    prism = long[long["dataset"] == "prism"].iloc[0]
    assert prism["status"] == "not run" and "not on disk" in prism["why"]


def test_settings_missing_from_the_summary_are_named(saved) -> None:
    with pytest.raises(PersonaJudgeError, match="survey_include"):
        summary.gather_grid({"dataset": ["prism"], "model": [B8]},
                            {k: v for k, v in SHARED.items() if k != "survey_include"},
                            lambda d: saved[d])


def test_nothing_ran_still_gives_the_papers_table_and_a_figure(tmp_path: Path,
                                                              monkeypatch) -> None:
    """A real run without an endpoint: every setting "not run", the paper's numbers shown."""
    from persona_judge.evaluation.figures import plot_grid

    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    grid = {"dataset": ["chatbot_arena", "prism"], "model": [B8, B70]}
    long = summary.gather_grid(grid, SHARED, _users, n_resamples=50)
    assert (long["status"] == "not run").all()
    table = summary.with_paper(long)
    assert set(table["status"]) == {"not run"}
    assert set(table["method"]) == {DEFAULT, MEMORY, "GPO", FULL, "SynthesizeMe (persona only)",
                                    "Bradley–Terry reward model (fine-tuned)",
                                    "Fine-tuned RM + personas"}
    main = summary.headline(table)
    assert len(main) == 7 and main["paper"].notna().all()
    layout = summary.paper_layout(table, "chatbot_arena", lambda r: r["status"])
    assert list(layout.columns) == ["method", "Llama-3.3-70B"]
    fig = plot_grid(table, smoke=True)
    assert len(fig.axes) == 1  # only the dataset with something to show: the paper's numbers
