"""Chapter 11's library: the estimate prices the chapter (and a finished run at nothing), the
notebook's defaults are the estimator's, the smoke "released" Θ never touches the data folder,
and the statistics are paired within each dataset and judge."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest

from persona_judge.analyses.common import METHOD_SETTINGS
from persona_judge.errors import SettingsError
from persona_judge.evaluation.report import comparisons_table, pooled_accuracy
from persona_judge.llm import client_from_env
from persona_judge.method import theta
from persona_judge.method.templates import load_template
from persona_judge.optimisation import theta_study as ts
from persona_judge.optimisation.smoke import theta_responder
from persona_judge.paths import project_root
from persona_judge.study.estimate import estimator
from persona_judge.study.notebook import smoke_llm

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
JUDGE = "org/Judge-8B"
SETTINGS = {"mode": "smoke", "model": MODEL, "n_candidates": 2, "m_candidates": 2,
            "judges": [JUDGE], "seed": 0,
            "smoke_design": {"train_users": 2, "eval_users": 2, "max_candidates": 2,
                             "rounds": 1, "miprov2_candidates": 3, "miprov2_trials": 2,
                             "miprov2_demos": 1}}
#: the MIPROv2 arm runs in smoke runs when the [reference] extra is installed
HAS_EXTRA = not ts.miprov2_arm({"mode": "smoke", "miprov2": None})[1]


@pytest.fixture(autouse=True)
def data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # fixtures are generated into the data folder; a fresh one per test keeps the checkout clean
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def _dry(cache: Path):
    return client_from_env(MODEL, cache_path=cache, dry_run=True, backend="openai-compatible",
                           progress=False)


def test_the_chapter_has_an_estimator_that_prices_it_and_a_finished_run_at_nothing(
        tmp_path: Path) -> None:
    assert estimator("11_theta_optimisation") is ts.estimate_theta
    cold = _dry(tmp_path / "cold.sqlite")
    try:
        table = ts.estimate_theta(SETTINGS, cold)
    finally:
        cold.close()
    stages, total = table.iloc[:-1], table.iloc[-1]
    assert total["stage"] == "total" and total["calls"] == stages["calls"].sum() > 0
    assert total["dollars"] > 0 and set(stages["model"]) == {MODEL, JUDGE}
    search = stages[stages["stage"] == "optimise Θ on training users"].iloc[0]
    assert 0 < search["calls"] <= search["calls at most"]
    for dataset in ("prism", "chatbot_arena"):
        judged = stages[stages["stage"] == f"{dataset}: judge test pairs"]
        users = ts.theta_users(SETTINGS).evaluation[dataset]
        # every Θ (four with MIPROv2), both orders of every test pair, for each of the two
        # judges users who can be fitted; a pair repeated within a user is one request
        n_test = sum(len({(p.context, p.chosen, p.rejected) for p in u.test})
                     for u in users if u.train)
        assert list(judged["calls"]) == [(4 if HAS_EXTRA else 3) * 2 * n_test] * 2
    if HAS_EXTRA:
        mipro = stages[stages["stage"] == ts.MIPROV2_STAGE].iloc[0]
        assert 0 < mipro["calls"] <= mipro["calls at most"]

    # run the chapter for real (smoke stand-in) into a cache; the estimate then costs nothing
    warm = tmp_path / "warm.sqlite"
    design = ts.design_from_settings(SETTINGS)
    users = ts.theta_users(SETTINGS, design)
    contexts = [smoke_llm(m, cache_path=warm, responder=theta_responder)
                for m in (MODEL, JUDGE)]
    clients = {m: c.__enter__() for m, c in zip((MODEL, JUDGE), contexts, strict=True)}
    try:
        released = ts.released_theta("smoke", tmp_path / "released")
        results = ts.run_theta_study(users, clients, MODEL,
                                     ts.theta_config(SETTINGS, components=design.components),
                                     design, tmp_path / "run", released=released,
                                     max_workers=1)
    finally:
        for c in contexts:
            c.__exit__(None, None, None)
    assert set(results.judgments["method"]) == set(design.thetas)
    assert (ts.MIPROV2 in design.thetas) == HAS_EXTRA and len(design.thetas) == 3 + HAS_EXTRA
    assert set(results.judgments["judge"]) == {MODEL, JUDGE}
    trained = {u.user_id for u in users.train}
    assert trained == set(results.search.train_users)
    assert not trained & set(results.judgments.query("dataset == 'prism'")["user_id"])
    if HAS_EXTRA:
        # MIPROv2 ran on the search's training users, and its Θ was judged on the
        # evaluation users only, in both orders, by every judge
        assert set(results.miprov2.train_users) <= trained
        assert not set(results.miprov2.train_users) & set(results.judgments["user_id"])
        mipro = results.judgments[results.judgments["method"] == ts.MIPROV2]
        assert set(mipro["judge"]) == {MODEL, JUDGE}
        for dataset, evaluated in users.evaluation.items():
            ids = set(mipro[mipro["dataset"] == dataset]["user_id"])
            assert ids and ids <= {u.user_id for u in evaluated}
        assert len(mipro) == len(results.judgments[results.judgments["method"] == ts.OURS])
        assert Path(results.thetas[ts.MIPROV2]).read_text().startswith("=== system ===\n")
        assert not results.miprov2.table().empty
    # the released stand-in was served locally and ran: it differs from the Θ file on disk;
    # it is the method's released-program Θ (instruction, framing, worked demonstrations)
    released_theta = load_template(results.thetas[ts.RELEASED])
    assert released_theta.render("system").split("\n\n")[0] == ts.SMOKE_RELEASED_INSTRUCTION
    assert Path(results.thetas[ts.RELEASED]).read_text(encoding="utf-8") == \
        theta.program_template_text(ts.smoke_released_program(), "served")
    assert released_theta.has_section("shot_input") and released_theta.has_section("shot_output")
    # our Θ is ours (the study's null persona_instruction), and every arm ran the same variant
    assert results.thetas[ts.OURS] == "persona_synthesis@v1"
    assert results.search.settings["method"]["variant"] == ts.DESIGN_DEFAULTS["variant"]
    again = _dry(warm)
    try:
        priced = ts.estimate_theta(SETTINGS, again)
    finally:
        again.close()
    # the estimate reuses the warm cache except the released Θ, which an estimate never
    # fetches (its stand-in text differs from the smoke run's)
    assert priced.iloc[-1]["cache_hits"] > 0
    search_row = priced[priced["stage"] == "optimise Θ on training users"].iloc[0]
    assert search_row["calls"] == 0
    if HAS_EXTRA:
        # MIPROv2's dry run answers DSPy with stand-ins even on cache hits (reference.lm), so
        # a finished MIPROv2 is not priced at nothing; it stays within its bound
        mipro_row = priced[priced["stage"] == ts.MIPROV2_STAGE].iloc[0]
        assert mipro_row["calls"] <= mipro_row["calls at most"]


def test_the_notebook_defaults_are_the_estimators() -> None:
    declared = papermill.inspect_notebook(
        str(project_root() / "notebooks" / "11_theta_optimisation.ipynb"))
    for name, value in {**METHOD_SETTINGS, **ts.DESIGN_DEFAULTS}.items():
        assert name in declared, name
        assert ast.literal_eval(declared[name]["default"]) == value, name
    assert "smoke_design" in declared and "llm_settings" in declared


def test_the_miprov2_arm_is_on_in_smoke_runs_with_the_extra_and_never_with_variant_ours(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from persona_judge.reference import extra

    smoke = {"mode": "smoke", "model": MODEL}
    assert ts.design_from_settings({"model": MODEL}).miprov2 is None  # real: off by default
    assert ts.design_from_settings({**smoke, "miprov2": False}).miprov2 is None
    ours = ts.design_from_settings({**smoke, "miprov2": True, "variant": "ours"})
    assert ours.miprov2 is None and "public variant" in ours.miprov2_note
    assert ts.MIPROV2 not in ours.thetas
    with pytest.raises(SettingsError, match="miprov2 must be true, false or null"):
        ts.design_from_settings({**smoke, "miprov2": "yes"})
    if HAS_EXTRA:
        on = ts.design_from_settings(smoke).miprov2
        assert on is not None and (on.num_candidates, on.num_trials,
                                   on.max_bootstrapped_demos) == (3, 4, 2)
    monkeypatch.setattr(extra, "reference_extra_missing", lambda: ["dspy"])
    missing = ts.design_from_settings(smoke)
    assert missing.miprov2 is None and "[reference]" in missing.miprov2_note
    with pytest.raises(extra.ReferenceExtraMissingError, match="miprov2"):
        ts.design_from_settings({**smoke, "miprov2": True})


def test_the_smoke_released_theta_never_lands_in_the_data_folder(tmp_path: Path,
                                                                  data_folder: Path) -> None:
    path = Path(ts.released_theta("smoke", tmp_path / "served"))
    assert path.is_relative_to(tmp_path / "served")
    assert not theta.theta_dir().exists()  # where the real download would be kept
    assert load_template(str(path)).id.startswith("persona_synthesis_public@")


def _judgments(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in ("prism", "chatbot_arena"):
        for judge in ("big", "small"):
            for u in range(5):
                for p in range(3):
                    for order in ("chosen_first", "rejected_first"):
                        for method, rate in ((ts.OURS, 0.5), (ts.RELEASED, 0.6),
                                             (ts.OPTIMISED, 0.8)):
                            rows.append({"dataset": dataset, "judge": judge, "method": method,
                                         "user_id": f"u{u}", "pair_id": f"p{p}",
                                         "order": order, "correct": rng.random() < rate})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1])
def test_statistics_are_per_dataset_and_judge_and_resample_users(seed: int) -> None:
    judgments = _judgments(seed)
    design = ts.design_from_settings({"model": MODEL})
    per_theta = ts.accuracy_by_theta(judgments, n_resamples=500, seed=seed)
    comparisons = ts.theta_comparisons(judgments, design, n_resamples=500, seed=seed)
    assert len(per_theta) == 2 * 2 * 3 and len(comparisons) == 2 * 2 * 3
    assert set(per_theta["ci_unit"]) == {"user"} and set(comparisons["ci_unit"]) == {"user"}
    group = judgments.query("dataset == 'chatbot_arena' and judge == 'small'")
    expected = pooled_accuracy(group, unit="user", n_resamples=500, seed=seed)
    got = per_theta.query("dataset == 'chatbot_arena' and judge == 'small'")
    assert np.allclose(got[["accuracy", "ci_low", "ci_high"]].to_numpy(),
                       expected[["accuracy", "ci_low", "ci_high"]].to_numpy())
    family = comparisons_table(group, design.comparisons(), unit="user", n_resamples=500,
                               seed=seed)
    mine = comparisons.query("dataset == 'chatbot_arena' and judge == 'small'")
    assert np.allclose(mine["difference"], family["difference"])
    assert np.allclose(mine["p (user, Holm)"], family["p (user, Holm)"])
    row = mine[(mine["method_a"] == ts.OPTIMISED) & (mine["method_b"] == ts.OURS)].iloc[0]
    a = group[group["method"] == ts.OPTIMISED]["correct"].mean()
    b = group[group["method"] == ts.OURS]["correct"].mean()
    assert row["difference"] == pytest.approx(100 * (a - b))


def test_persona_judge_estimate_prices_chapter_11_from_study_yaml(capsys) -> None:
    from persona_judge.cli import main

    assert main(["estimate", "--only", "11_theta_optimisation", "-p", "mode=smoke"]) == 0
    printed = capsys.readouterr().out
    assert "not estimated" not in printed
    assert "optimise Θ on training users" in printed and "chatbot_arena: judge test pairs" \
        in printed


def test_a_smoke_estimate_prices_the_released_size_whatever_was_downloaded(
        tmp_path: Path, data_folder: Path) -> None:
    """A smoke (or test) session may have left a synthetic program in the download folder;
    a smoke estimate, priced as if real, must not depend on it (records pass in any order).
    A real estimate uses a real download when there is one."""
    from persona_judge.method.smoke import smoke_theta_program

    downloaded = theta.theta_dir() / "llama70b.json"
    downloaded.parent.mkdir(parents=True)
    downloaded.write_text(json.dumps(smoke_theta_program()), encoding="utf-8")
    smoke = Path(ts._dry_run_released(tmp_path, "llama70b", MODEL, smoke=True))
    real = Path(ts._dry_run_released(tmp_path, "llama70b", MODEL, smoke=False))
    assert smoke.name == "released_standin.txt" and real.parent == theta.theta_dir()
    # the stand-in has the released program's size (about 21.7k prompt tokens)
    assert len(smoke.read_text(encoding="utf-8")) / 4 > 15_000 > len(real.read_text()) / 4
