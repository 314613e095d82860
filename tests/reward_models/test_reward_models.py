"""The reward models: the tiny Llama trained and scored on CPU through the real training code."""

from dataclasses import replace

import numpy as np
import pytest

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.reward_models import backbone
from persona_judge.reward_models.backbone import RewardModelsUnavailableError, render
from persona_judge.reward_models.inputs import rm_messages, training_pairs
from persona_judge.reward_models.latent import UserPairs, train_and_score
from persona_judge.reward_models.settings import SMOKE, gpu_estimate, settings_from
from persona_judge.reward_models.study import (
    BT,
    BT_PERSONA,
    judge_with_rewards,
    preflight,
    run_reward_models,
)
from persona_judge.reward_models.train import score, train_reward_model


@pytest.fixture(scope="module")
def users():
    from persona_judge.study.notebook import load_users

    return load_users("chatbot_arena", "smoke", None, 0)


def _pref(user, i, chosen, rejected, split="train"):
    return Preference(user, f"c{i}", (Turn("user", f"question {i} about cooking"),),
                      Turn("assistant", chosen), Turn("assistant", rejected), split)


# --- judgments: both orders, ties wrong --------------------------------------------------

def test_both_orders_are_judged_from_the_two_rewards():
    right = judge_with_rewards(BT, "u1", "p1", 2.0, 1.0)
    wrong = judge_with_rewards(BT, "u1", "p1", 0.5, 1.0)
    assert [r.order for r in right] == ["chosen_first", "rejected_first"]
    assert [r.choice for r in right] == ["A", "B"] and all(r.correct for r in right)
    assert [r.choice for r in wrong] == ["B", "A"] and not any(r.correct for r in wrong)


def test_equal_rewards_count_wrong_in_both_orders():
    tie = judge_with_rewards(BT, "u1", "p1", 1.5, 1.5)
    assert [r.choice for r in tie] == [None, None]
    assert not any(r.correct for r in tie)
    assert all("tie" in r.failure for r in tie)


# --- the persona is in the input -------------------------------------------------------

def test_two_users_with_different_personas_get_different_inputs():
    a = UserSplit("ua", (_pref("ua", 1, "short", "long"),), (), ())
    b = UserSplit("ub", (_pref("ub", 1, "short", "long"),), (), ())
    pairs = training_pairs([a, b], {"ua": "Loves brevity.", "ub": "Wants every detail."})
    texts = {p.user_id: " ".join(m["content"] for m in p.chosen) for p in pairs}
    assert "Loves brevity." in texts["ua"] and "Wants every detail." not in texts["ua"]
    assert "Wants every detail." in texts["ub"] and "Loves brevity." not in texts["ub"]
    # the same pair without personas: identical inputs, and no system message
    plain = training_pairs([a, b])
    assert plain[0].chosen == plain[1].chosen
    assert all(m["role"] != "system" for m in plain[0].chosen)
    # rendered through the tokenizer, the two personas give different token ids
    tokenizer = backbone.tiny_tokenizer(texts.values())
    ids = {u: tokenizer(render(tokenizer, p.chosen))["input_ids"]
           for u, p in zip(texts, pairs, strict=True)}
    assert ids["ua"] != ids["ub"]


def test_a_user_without_a_persona_is_trained_without_one():
    a = UserSplit("ua", (_pref("ua", 1, "x", "y"),), (_pref("ua", 2, "x", "y", "val"),), ())
    b = UserSplit("ub", (_pref("ub", 1, "x", "y"),), (), ())
    pairs = training_pairs([a, b], {"ua": "A persona."})
    assert [p.has_persona for p in pairs] == [True, True, False]  # train + val pooled


# --- training through the real code ----------------------------------------------------

def _rewards(trained, users, personas=None):
    inputs = [rm_messages(p, r, (personas or {}).get(u.user_id))
              for u in users for p in u.test for r in (p.chosen, p.rejected)]
    return score(trained, inputs, settings=SMOKE)


def test_training_fits_the_pooled_pairs_and_scores_the_test_pairs(users, tmp_path):
    from persona_judge.reward_models.backbone import build_backbone
    from persona_judge.reward_models.train import TrainedRewardModel

    pairs = training_pairs(users)
    trained = train_reward_model(pairs, SMOKE, seed=0, folder=tmp_path / "m", progress=False)
    assert trained.steps == SMOKE.epochs * -(-len(pairs) // SMOKE.batch_size)
    assert len(trained.losses) == trained.steps
    # the Bradley–Terry loss over the training pairs is lower after training than before
    model, tokenizer = build_backbone(SMOKE, seed=0, tokenizer=trained.tokenizer)
    untrained = TrainedRewardModel(model, tokenizer, tmp_path, 0)
    train_inputs = [m for p in pairs for m in (p.chosen, p.rejected)]

    def bt_loss(m):
        r = score(m, train_inputs, settings=SMOKE).reshape(-1, 2)
        return float(np.mean(np.logaddexp(0, -(r[:, 0] - r[:, 1]))))

    assert bt_loss(trained) < bt_loss(untrained)
    test = _rewards(trained, users[:3])
    assert len(test) == 2 * sum(len(u.test) for u in users[:3])


def test_seeds_matter_and_a_seed_repeats(users, tmp_path):
    pairs = training_pairs(users)
    runs = {name: train_reward_model(pairs, SMOKE, seed=seed, folder=tmp_path / name,
                                     progress=False)
            for name, seed in (("s0", 0), ("s0-again", 0), ("s1", 1))}
    r = {name: _rewards(t, users[:3]) for name, t in runs.items()}
    np.testing.assert_allclose(r["s0"], r["s0-again"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(r["s0"], r["s1"])


def test_a_rerun_reuses_the_checkpoint_and_an_interrupted_run_resumes(users, tmp_path):
    pairs = training_pairs(users)
    whole = train_reward_model(pairs, SMOKE, seed=3, folder=tmp_path / "whole", progress=False)
    again = train_reward_model(pairs, SMOKE, seed=3, folder=tmp_path / "whole", progress=False)
    assert again.reused and not whole.reused and again.steps == whole.steps
    np.testing.assert_allclose(_rewards(again, users[:3]), _rewards(whole, users[:3]),
                               rtol=1e-5, atol=1e-6)
    cut = train_reward_model(pairs, SMOKE, seed=3, folder=tmp_path / "cut", progress=False,
                             stop_after=5)
    assert not cut.finished and cut.steps == 5
    resumed = train_reward_model(pairs, SMOKE, seed=3, folder=tmp_path / "cut", progress=False)
    assert resumed.resumed_from == 5 and resumed.steps == whole.steps
    assert resumed.losses[:5] == cut.losses
    np.testing.assert_allclose(_rewards(resumed, users[:3]), _rewards(whole, users[:3]),
                               rtol=1e-4, atol=1e-5)


def test_the_persona_model_reads_each_users_persona_at_test_time(users, tmp_path):
    personas = {u.user_id: f"persona number {i} of this person" for i, u in enumerate(users)}
    result = run_reward_models(users, users[:2], SMOKE, seed=0, mode="smoke",
                               personas=personas, methods=(BT, BT_PERSONA), progress=False,
                               root=tmp_path)
    j = result.judgments
    assert set(j["method"]) == {BT, BT_PERSONA}
    n_test = sum(len(u.test) for u in users[:2])
    assert (j.groupby("method").size() == 2 * n_test).all()
    assert set(j[j["method"] == BT_PERSONA]["carries"]) == {"persona"}
    assert result.training.set_index("method").loc[BT_PERSONA, "pairs with persona"] == \
        sum(len(u.train) + len(u.val) for u in users)
    # a rerun trains nothing: both models come from their checkpoints
    again = run_reward_models(users, users[:2], SMOKE, seed=0, mode="smoke", personas=personas,
                              methods=(BT, BT_PERSONA), progress=False, root=tmp_path)
    assert again.training["reused"].all()
    assert (again.judgments["correct"].to_numpy() == j["correct"].to_numpy()).all()


def test_the_persona_model_without_personas_is_not_run_and_says_why(users, tmp_path):
    result = run_reward_models(users, users[:2], SMOKE, seed=0, mode="smoke", personas={},
                               persona_note="chapter 5 has no saved results",
                               methods=(BT_PERSONA,), progress=False, root=tmp_path)
    assert result.status[BT_PERSONA].startswith("not run") and "chapter 5" in \
        result.status[BT_PERSONA]
    assert result.judgments.empty


# --- GPO / VPL / PAL -------------------------------------------------------------------

def _two_taste_world(seed):
    """Replies are 8-d vectors; half the users prefer a large first coordinate, half a small
    one: a pooled model is at chance (50%), a personalized one can learn both."""
    rng = np.random.default_rng(seed)
    emb, users = [], []
    for u in range(12):
        sign = 1 if u % 2 else -1
        def pair(sign=sign):
            a, b = rng.normal(size=8), rng.normal(size=8)
            chosen, rejected = (a, b) if sign * a[0] > sign * b[0] else (b, a)
            emb.extend([chosen, rejected])
            return (len(emb) - 2, len(emb) - 1)
        users.append(UserPairs(f"u{u}", tuple(pair() for _ in range(16)),
                               tuple(pair() for _ in range(6))))
    return np.asarray(emb), users


@pytest.mark.parametrize("method", ["PAL", "VPL", "GPO"])
@pytest.mark.parametrize("seed", [0, 1])
def test_latent_methods_learn_each_users_taste(method, seed):
    emb, users = _two_taste_world(seed)
    settings = replace(SMOKE, head_epochs=60, latent_dim=16)
    scores = train_and_score(method, emb, users, settings, seed=seed)
    assert set(scores) == {u.user_id for u in users}
    correct = np.concatenate([s[:, 0] > s[:, 1] for s in scores.values()])
    assert correct.mean() > 0.7, f"{method} seed {seed}: {correct.mean():.2f}"


def test_every_method_runs_in_a_smoke_run(users, tmp_path):
    personas = {u.user_id: "likes plain answers" for u in users}
    result = run_reward_models(users, users[:3], SMOKE, seed=0, mode="smoke",
                               personas=personas, progress=False, root=tmp_path)
    assert set(result.status.values()) == {"run"}
    assert set(result.judgments["method"]) == {BT, BT_PERSONA, "GPO", "VPL", "PAL"}
    saved = result.save(tmp_path / "saved")
    loaded = type(result).load(saved)
    assert (loaded.judgments["correct"] == result.judgments["correct"]).all()


# --- before a run ----------------------------------------------------------------------

def test_a_real_run_without_a_gpu_stops_before_anything_and_names_what_it_needs():
    estimate = gpu_estimate(settings_from({}, "real"), 4_000_000, 1_000_000)
    with pytest.raises(RewardModelsUnavailableError, match="needs a GPU.*GPU-hours"):
        preflight("real", estimate, settings_from({}, "real"))
    assert "Smoke run" in preflight("smoke", estimate, SMOKE)


def test_a_missing_extra_is_named(monkeypatch):
    real_import = backbone.importlib.import_module

    def no_peft(name, *args):
        if name == "peft":
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(backbone.importlib, "import_module", no_peft)
    with pytest.raises(RewardModelsUnavailableError, match=r"\[reward-models\].*peft"):
        backbone.require_extra()


def test_gpu_estimate_by_hand():
    settings = settings_from({"epochs": 1}, "real")   # Llama-3.1-8B, LoRA
    e = gpu_estimate(settings, train_chars=4_000_000, score_chars=400_000, n_models=1)
    flops = 4 * 8.03e9 * 1_000_000 + 2 * 8.03e9 * 100_000
    assert e.gpu_hours == pytest.approx(flops / (312e12 * 0.35) / 3600)
    assert e.memory_gb == pytest.approx(8.03e9 * 2 * 1.2 / 1e9)


def test_smoke_settings_never_load_a_real_model():
    assert settings_from({"base_model": "meta-llama/Llama-3.1-8B-Instruct"}, "smoke").is_tiny
    with pytest.raises(Exception, match="unknown reward-model setting"):
        settings_from({"learning_rat": 1}, "real")
