"""Chapter 06 picks up chapter 10's saved results beside a cell's chapter-05 results."""

import pandas as pd
import pytest

from persona_judge import paths
from persona_judge.evaluation.grid import append_reward_models
from persona_judge.evaluation.predict import records_frame
from persona_judge.reward_models.study import (
    BT,
    RESULTS_SUBFOLDER,
    RewardModelResults,
    judge_with_rewards,
    latest_results,
    save_latest,
)


def _long(folder_name):
    return pd.DataFrame([{
        "dataset": "chatbot_arena", "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "setting": "Chatbot Arena, Llama-3.3-70B", "judge": "Llama-3.3-70B", "status": "run",
        "why": "", "folder": folder_name, "method": "default judge", "accuracy": 50.0,
        "ci_low": 40.0, "ci_high": 60.0, "n_users": 2, "n_judgments": 8}])


def _results(outcomes):
    """Judgments of BT for users u0..: each user's pairs right (True) or wrong (False)."""
    records = []
    for u, pairs in enumerate(outcomes):
        for p, right in enumerate(pairs):
            records += judge_with_rewards(BT, f"u{u}", f"p{p}", 1.0 if right else 0.0, 0.5)
    return RewardModelResults(records_frame(records), pd.DataFrame(), {BT: "run"})


def test_rows_are_appended_with_a_user_level_interval(tmp_path):
    main = paths.runs_dir() / "main_results-test-rm-rows"
    (main / RESULTS_SUBFOLDER / "rm-a").mkdir(parents=True)
    # user 0: all right; user 1: all wrong; user 2: half
    save_latest(_results([[True] * 4, [False] * 4, [True, False]]),
                main / RESULTS_SUBFOLDER / "rm-a")
    assert latest_results(main) is not None
    out = append_reward_models(_long(main.name), n_resamples=2000, seed=1)
    row = out[out["method"] == BT].iloc[0]
    assert row["accuracy"] == pytest.approx(100 * 10 / 20)   # 5 of 10 pairs, both orders
    assert row["n_users"] == 3 and row["n_judgments"] == 20
    # resampling users (3 of them, accuracies 100 / 0 / 50) gives a wide interval; resampling
    # pairs would not reach 0 or 100
    assert row["ci_low"] <= 10 and row["ci_high"] >= 90
    assert len(out) == 2 and (out["folder"] == main.name).all()


def test_a_cell_without_reward_models_is_left_alone(tmp_path):
    long = _long("main_results-with-nothing-beside")
    assert append_reward_models(long).equals(long)
