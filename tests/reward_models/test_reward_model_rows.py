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


# --- personas come from chapter 05's saved fits, for exactly its settings ---------------

PARAMS = {"mode": "smoke", "dataset": "chatbot_arena",
          "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "max_users": None,
          "smoke_max_users": 3, "seed": 0, "n_candidates": 10, "m_candidates": 10,
          "algorithm": "faithful", "trace_context": "labelled",
          "persona_instruction": "persona_synthesis@v1",
          "survey_include": ["demographics", "stated_prefs", "self_description"],
          "survey_revision": None, "compare_theta": False, "variant": "public",
          "theta_program": "llama70b", "compare_variant": False, "reference_arm": False}


def _artifact(user_id, persona):
    from persona_judge.method.artifact import SynthesizeMeArtifact

    return SynthesizeMeArtifact(
        user_id=user_id, model="m", seed=0, settings={}, templates={
            "judge_default": "judge_default@v1", "judge_personalized": "judge_personalized@v1"},
        components=("persona", "demos"), val_orders={}, traces=[], bootstrap_candidates=[],
        bootstrap_winner=0, persona=persona, persona_source_pairs=[], demo_candidates=[],
        demo_winner=0, demo_set=[])


def test_personas_are_read_from_chapter_05s_saved_fits_of_the_same_settings():
    from persona_judge.evaluation.main_results import MainResults, results_folder, results_users
    from persona_judge.reward_models.study import personas_from_main_results

    users = results_users(PARAMS)
    assert personas_from_main_results(PARAMS, users)[0] == {}   # chapter 05 has not run
    assert "chapter 5 has no saved results" in personas_from_main_results(PARAMS, users)[1]
    arts = {u.user_id: _artifact(u.user_id, f"persona of {u.user_id}" if i else None)
            for i, u in enumerate(users)}
    MainResults(arts, records_frame([]), pd.DataFrame([{"stage": "total", "calls": 0}])).save(
        results_folder(PARAMS, users))
    personas, note = personas_from_main_results(PARAMS, users)
    assert personas == {u.user_id: f"persona of {u.user_id}" for u in users[1:]}
    assert f"{len(users) - 1} of {len(users)}" in note
    # another seed is another chapter-05 run: its fits are not used
    assert personas_from_main_results({**PARAMS, "seed": 1}, results_users(
        {**PARAMS, "seed": 1}))[0] == {}


def test_a_checkpoint_is_keyed_by_method_seed_settings_and_training_data(tmp_path):
    from dataclasses import replace

    from persona_judge.data.records import Preference, Turn, UserSplit
    from persona_judge.reward_models.inputs import training_pairs
    from persona_judge.reward_models.settings import SMOKE
    from persona_judge.reward_models.train import checkpoint_folder

    pref = Preference("u", "c", (Turn("user", "hi"),), Turn("assistant", "a"),
                      Turn("assistant", "b"), "train")
    users = [UserSplit("u", (pref,), (), ())]
    plain, with_persona = training_pairs(users), training_pairs(users, {"u": "P."})
    other_persona = training_pairs(users, {"u": "Q."})
    key = dict(mode="smoke", root=tmp_path)
    base = checkpoint_folder(BT, SMOKE, plain, 0, **key)
    assert checkpoint_folder(BT, SMOKE, plain, 0, **key) == base
    others = [checkpoint_folder(BT, SMOKE, plain, 1, **key),
              checkpoint_folder("other", SMOKE, plain, 0, **key),
              checkpoint_folder(BT, replace(SMOKE, learning_rate=1e-3), plain, 0, **key),
              checkpoint_folder(BT, SMOKE, with_persona, 0, **key),
              checkpoint_folder(BT, SMOKE, other_persona, 0, **key)]
    assert len({base, *others}) == 6
