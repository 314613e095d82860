"""Chapter 10 as one function: train the reward models, score every test pair, save.

:func:`run_reward_models` trains, on the pooled training pairs of every user of the dataset
(train + validation), a Bradley–Terry reward model, the same model with each user's
SynthesizeMe persona in its input, and GPO / VPL / PAL heads on the frozen backbone; then it
scores each evaluated user's test pairs. A pair is judged in both orders, like every judge of
the study: each order compares the reward of the reply in the first slot with the reward of
the reply in the second; the higher is the choice, and **equal rewards count wrong**. (A
reward model scores one reply at a time, so its two orders compare the same two numbers; the
protocol is kept so its judgments pair with the LLM judges'.)

Personas come from chapter 5's saved fits (:func:`personas_from_main_results`), never refitted.
:func:`preflight` says, before anything starts, what a real run needs (the extra, a GPU, the
estimated GPU-hours and memory); :func:`estimate_reward_models` is the chapter's estimator for
``persona-judge estimate``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.evaluation.predict import JudgmentRecord, records_frame
from persona_judge.method.judge import ORDERS, correct_letter
from persona_judge.reward_models.inputs import rm_messages, training_pairs
from persona_judge.reward_models.latent import LATENT_METHODS, UserPairs, train_and_score
from persona_judge.reward_models.settings import (
    GpuEstimate,
    RewardModelSettings,
    gpu_estimate,
    settings_from,
)

BT = "Bradley–Terry reward model (fine-tuned)"
BT_PERSONA = "Fine-tuned RM + personas"
METHODS = (BT, BT_PERSONA, *LATENT_METHODS)
#: Short names accepted in the chapter's ``methods`` parameter.
METHOD_KEYS = {"bt": BT, "bt_persona": BT_PERSONA, "gpo": "GPO", "vpl": "VPL", "pal": "PAL"}
NOT_RUN = "not run"


def methods_from(keys: Sequence[str]) -> list[str]:
    from persona_judge.errors import SettingsError

    unknown = [k for k in keys if k not in METHOD_KEYS]
    if unknown:
        raise SettingsError(f"unknown reward-model method(s) {unknown} (parameter methods); "
                            f"choose from {list(METHOD_KEYS)}")
    return [METHOD_KEYS[k] for k in keys]


# --- judgments -------------------------------------------------------------------------

def judge_with_rewards(method: str, user_id: str, pair_id: str, chosen: float, rejected: float,
                       *, carries: str = "", flag: str = "") -> list[JudgmentRecord]:
    """Both orders of one test pair from the two rewards; equal rewards are a tie (wrong)."""
    out = []
    for order in ORDERS:
        first, second = (chosen, rejected) if order == "chosen_first" else (rejected, chosen)
        choice = "A" if first > second else "B" if second > first else None
        out.append(JudgmentRecord(method, user_id, pair_id, order, choice,
                                  choice == correct_letter(order),
                                  None if choice else "tie: equal rewards", 1, 0, 0,
                                  carries, flag))
    return out


# --- personas from chapter 5 ----------------------------------------------------------

def personas_from_main_results(params: Mapping[str, Any], users: Sequence[UserSplit]
                               ) -> tuple[dict[str, str], str]:
    """``({user: persona}, note)`` from chapter 5's saved fits for these settings.

    The folder is found with chapter 5's own key (its parameters and users), so a fit with
    other settings is never used; nothing is refitted. No saved results: an empty mapping and
    a note saying so (the persona model is then not run).
    """
    from persona_judge.evaluation.main_results import MainResults, find_results

    folder = find_results(params, users)
    if folder is None:
        return {}, ("chapter 5 has no saved results for these settings (run "
                    "`persona-judge run --only 05_main_results` with the same settings first)")
    artifacts = MainResults.load(folder).artifacts
    personas = {u: a.persona for u, a in artifacts.items() if a.persona}
    return personas, (f"{len(personas)} of {len(users)} users' personas read from chapter 5's "
                      f"fits ({folder.name})")


# --- the run ---------------------------------------------------------------------------

@dataclass
class RewardModelResults:
    """Every test judgment of every method, how each was trained, and what did not run."""

    judgments: pd.DataFrame
    training: pd.DataFrame
    status: dict[str, str] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.judgments.to_csv(folder / "judgments.csv", index=False)
        self.training.to_csv(folder / "training.csv", index=False)
        (folder / "status.json").write_text(json.dumps(self.status, indent=1, ensure_ascii=False),
                                            encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> RewardModelResults:
        folder = Path(folder)
        judgments = pd.read_csv(folder / "judgments.csv", dtype={"user_id": str, "pair_id": str},
                                keep_default_na=False, na_values={"choice": [""]})
        judgments["correct"] = judgments["correct"].astype(bool)
        try:
            training = pd.read_csv(folder / "training.csv")
        except pd.errors.EmptyDataError:  # no model was trained (every method not run)
            training = pd.DataFrame()
        return cls(judgments, training,
                   json.loads((folder / "status.json").read_text(encoding="utf-8")))


def run_reward_models(train_users: Sequence[UserSplit], test_users: Sequence[UserSplit],
                      settings: RewardModelSettings, *, seed: int, mode: str,
                      personas: Mapping[str, str] | None = None, persona_note: str = "",
                      methods: Sequence[str] = METHODS, progress: bool = True,
                      root: Path | None = None,
                      on_method: Callable[[str], None] | None = None) -> RewardModelResults:
    """Train every method on ``train_users``' pooled train + validation pairs and judge
    ``test_users``' test pairs (module doc). A method that cannot run is "not run" with why."""
    from persona_judge.reward_models.train import checkpoint_folder, score, train_reward_model

    records: list[JudgmentRecord] = []
    rows: list[dict[str, Any]] = []
    status: dict[str, str] = {}
    for method in methods:
        if on_method:
            on_method(method)
        start = time.perf_counter()
        if method in (BT, BT_PERSONA):
            use = dict(personas or {}) if method == BT_PERSONA else {}
            if method == BT_PERSONA and not use:
                status[method] = f"{NOT_RUN}: no personas ({persona_note or 'none given'})"
                continue
            pairs = training_pairs(train_users, use, settings.persona_template)
            folder = checkpoint_folder(method, settings, pairs, seed, mode=mode, root=root)
            trained = train_reward_model(pairs, settings, seed=seed, folder=folder,
                                         progress=progress, what=method)
            inputs, keys = [], []
            for user in test_users:
                persona = use.get(user.user_id)
                for pref in user.test:
                    inputs += [rm_messages(pref, pref.chosen, persona, settings.persona_template),
                               rm_messages(pref, pref.rejected, persona,
                                           settings.persona_template)]
                    keys.append((user.user_id, pref.pair_id, persona))
            rewards = score(trained, inputs, settings=settings).reshape(-1, 2)
            for (user_id, pair_id, persona), (c, r) in zip(keys, rewards, strict=True):
                carries = "persona" if persona else "nothing"
                flag = "no persona for this user" if method == BT_PERSONA and not persona \
                    else ""
                records += judge_with_rewards(method, user_id, pair_id, float(c), float(r),
                                              carries=carries, flag=flag)
            rows.append({"method": method, "pairs": len(pairs),
                         "pairs with persona": sum(p.has_persona for p in pairs),
                         "steps": trained.steps, "final loss": trained.losses[-1],
                         "reused": trained.reused, "resumed from step": trained.resumed_from,
                         "seconds": time.perf_counter() - start, "folder": folder.name})
        else:
            scores = _latent(method, train_users, test_users, settings, seed=seed, mode=mode,
                             progress=progress, root=root)
            for user in test_users:
                for pref, (c, r) in zip(user.test, scores.get(user.user_id, []), strict=False):
                    records += judge_with_rewards(method, user.user_id, pref.pair_id,
                                                  float(c), float(r), carries="nothing")
            rows.append({"method": method, "pairs": sum(len(u.train) + len(u.val)
                                                        for u in train_users),
                         "pairs with persona": 0, "steps": settings.head_epochs,
                         "final loss": float("nan"), "reused": False, "resumed from step": 0,
                         "seconds": time.perf_counter() - start, "folder": ""})
        status[method] = "run"
    return RewardModelResults(records_frame(records), pd.DataFrame(rows), status)


def _latent(method: str, train_users: Sequence[UserSplit], test_users: Sequence[UserSplit],
            settings: RewardModelSettings, *, seed: int, mode: str, progress: bool,
            root: Path | None) -> Mapping[str, np.ndarray]:
    """Embed every reply once with the frozen base model (cached), then train the head."""
    from persona_judge import paths
    from persona_judge.reward_models.backbone import build_backbone
    from persona_judge.reward_models.train import TrainedRewardModel, embed, reward_models_dir

    test_ids = {u.user_id for u in test_users}
    everyone = list(train_users) + [u for u in test_users
                                    if u.user_id not in {t.user_id for t in train_users}]
    inputs: list[list[dict[str, str]]] = []
    index: dict[tuple[str, str, str], int] = {}

    def row(user: str, pref: Any, which: str) -> int:
        key = (user, pref.pair_id, which)
        if key not in index:
            index[key] = len(inputs)
            inputs.append(rm_messages(pref, getattr(pref, which)))
        return index[key]

    users = []
    for user in everyone:
        train = tuple((row(user.user_id, p, "chosen"), row(user.user_id, p, "rejected"))
                      for p in (*user.train, *user.val))
        test = tuple((row(user.user_id, p, "chosen"), row(user.user_id, p, "rejected"))
                     for p in user.test) if user.user_id in test_ids else ()
        users.append(UserPairs(user.user_id, train, test))
    key = {"mode": mode, "model": settings.base_model, "tiny": settings.tiny, "seed": seed,
           "n_inputs": len(inputs),
           "data": _hash_inputs(inputs), "max_length": settings.max_length}
    folder = paths.run_dir("embeddings", key, root=root or reward_models_dir())
    cached = folder / "embeddings.npy"
    if cached.is_file():
        embeddings = np.load(cached)
    else:
        texts = [m["content"] for msgs in inputs for m in msgs]
        model, tokenizer = build_backbone(settings, seed=seed, tokenizer_texts=texts)
        embeddings = embed(TrainedRewardModel(model, tokenizer, folder, 0), inputs,
                           settings=settings)
        np.save(cached, embeddings)
    return train_and_score(method, embeddings, users, settings, seed=seed, progress=progress)


def _hash_inputs(inputs: Sequence[Sequence[dict[str, str]]]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


# --- before a real run -----------------------------------------------------------------

def estimate_for(train_users: Sequence[UserSplit], test_users: Sequence[UserSplit],
                 settings: RewardModelSettings, *, n_models: int = 2) -> GpuEstimate:
    """The GPU estimate for these users (characters of every input, persona not counted)."""
    def chars(pref: Any) -> int:
        context = sum(len(t.content) for t in pref.context)
        return 2 * context + len(pref.chosen.content) + len(pref.rejected.content)

    train = sum(chars(p) for u in train_users for p in (*u.train, *u.val))
    test = sum(chars(p) for u in test_users for p in u.test)
    return gpu_estimate(settings, train, test, n_models=n_models)


def preflight(mode: str, estimate: GpuEstimate, settings: RewardModelSettings) -> str:
    """What this run needs, said before anything starts; a real run without a GPU stops.

    Raises :class:`~persona_judge.reward_models.backbone.RewardModelsUnavailableError` when
    the extra is missing (naming it) or, in a real run, when no GPU is found.
    """
    from persona_judge.reward_models.backbone import (
        RewardModelsUnavailableError,
        gpu_status,
        require_extra,
    )

    require_extra()
    gpu = gpu_status()
    need = (f"base model {settings.base_model} ({estimate.assumptions}): about "
            f"{estimate.gpu_hours:.3g} GPU-hours and {estimate.memory_gb:.0f} GB of GPU memory")
    if mode == "real" and gpu == "none":
        raise RewardModelsUnavailableError(
            f"a real run of the reward models needs a GPU and none was found (torch sees no "
            f"CUDA device); it needs {need}. Run it on a GPU machine, or run "
            "`make study MODE=smoke` for the tiny model on CPU")
    return (f"Extra [reward-models] installed; GPU: {gpu}. A real run needs {need}."
            if mode == "real" else
            f"Smoke run: the tiny model on {'GPU' if gpu != 'none' else 'CPU'}. For scale, a "
            f"real run needs {need}.")


def estimate_reward_models(params: Mapping[str, Any], options: Any = None) -> pd.DataFrame:
    """Chapter 10's estimator (``persona-judge estimate``): no LLM call; GPU time priced.

    One row per trained model with ``gpu_hours`` and dollars at ``gpu_dollars_per_hour``;
    the chapter makes no LLM calls (the personas are chapter 5's).
    """
    from persona_judge.study.notebook import load_users

    mode = str(params.get("mode", "real"))
    settings = settings_from(params.get("rm_settings"), "real")  # priced as if real
    train_users = load_users(str(params["dataset"]), mode, None, int(params.get("seed", 0)))
    estimate = estimate_for(train_users, train_users, settings, n_models=1)
    price = float(params.get("gpu_dollars_per_hour", 2.0))
    chosen = methods_from(params.get("methods") or list(METHOD_KEYS))
    # the latent heads need one forward pass per reply (embeddings, shared by all three)
    forward = 2 * (estimate.train_tokens / settings.epochs + estimate.score_tokens)
    per_model = (4 if settings.finetuning == "lora" else 6) * estimate.train_tokens \
        + 2 * estimate.score_tokens
    stages = [(f"train + score {m}", estimate.gpu_hours) for m in chosen if m in (BT, BT_PERSONA)]
    if any(m in LATENT_METHODS for m in chosen):
        stages.append(("embed every reply once (GPO, VPL, PAL heads: negligible)",
                       estimate.gpu_hours * forward / max(per_model, 1)))
    rows = [{"stage": f"{name} (GPU)", "calls": 0, "calls at most": 0, "cache_hits": 0,
             "prompt_tokens": 0, "completion_tokens": 0, "gpu_hours": hours,
             "dollars": hours * price} for name, hours in stages]
    frame = pd.DataFrame(rows)
    total = {"stage": "total", **frame.drop(columns="stage").sum().to_dict()}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    frame.attrs.update(memory_gb=estimate.memory_gb, assumptions=estimate.assumptions)
    return frame


__all__ = ["BT", "BT_PERSONA", "METHODS", "RewardModelResults", "estimate_for",
           "estimate_reward_models", "judge_with_rewards", "personas_from_main_results",
           "preflight", "run_reward_models", "settings_from"]


# --- where chapter 10 keeps its results, and chapter 6's rows -------------------------

RESULTS_SUBFOLDER = "reward_models"


def results_home(params: Mapping[str, Any], test_users: Sequence[UserSplit],
                 settings: RewardModelSettings, methods: Sequence[str]) -> Path:
    """Chapter 10's results folder: inside chapter 5's results of the same settings (so the
    summary chapter finds them beside SynthesizeMe's), else a folder of its own."""
    from persona_judge import paths
    from persona_judge.evaluation.main_results import find_results

    key = {"settings": settings.to_dict(), "seed": int(params.get("seed", 0)),
           "methods": list(methods)}
    main = find_results(params, test_users)
    if main is None:
        return paths.run_dir(RESULTS_SUBFOLDER, {**key, "mode": params.get("mode"),
                                                 "dataset": params.get("dataset"),
                                                 "model": params.get("model"),
                                                 "users": sorted(u.user_id for u in test_users)})
    return paths.run_dir("rm", key, root=main / RESULTS_SUBFOLDER)


def save_latest(results: RewardModelResults, folder: Path) -> Path:
    """Save, and mark this folder as the latest reward-model run of its chapter-05 results."""
    results.save(folder)
    (folder.parent / "latest.json").write_text(json.dumps({"folder": folder.name}),
                                               encoding="utf-8")
    return folder


def latest_results(main_folder: str | Path) -> RewardModelResults | None:
    """The latest chapter-10 results saved beside chapter 5's results in ``main_folder``."""
    pointer = Path(main_folder) / RESULTS_SUBFOLDER / "latest.json"
    if not pointer.is_file():
        return None
    name = json.loads(pointer.read_text(encoding="utf-8"))["folder"]
    folder = pointer.parent / name
    return RewardModelResults.load(folder) if (folder / "judgments.csv").is_file() else None
