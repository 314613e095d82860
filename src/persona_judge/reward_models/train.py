"""Train a Bradley–Terry reward model on pooled pairs, with checkpoints, resume and reuse.

:func:`train_reward_model` fine-tunes the backbone (:mod:`~persona_judge.reward_models.backbone`)
with the Bradley–Terry loss ``−log σ(r(chosen) − r(rejected))`` over the pooled training pairs,
``epochs`` passes in an order drawn from the seed, AdamW with linear warm-up and decay.
``accelerate`` places the model (CPU, one GPU, or several: ``accelerate launch`` splits each
batch across processes). A tqdm bar shows the steps.

Everything lives in one folder per (method, settings, training data, seed)
(:func:`checkpoint_folder`, under ``data/reward_models/``):

* ``checkpoint.pt`` every ``save_every`` steps: trainable weights, optimizer, scheduler,
  random state and losses so far. An interrupted run resumes from it (``resumed_from``) and
  ends with the same weights as an uninterrupted one;
* ``final/`` when training ends: the trainable weights (LoRA adapters and score head, or all
  weights), the tokenizer and ``done.json``. A rerun loads it and trains nothing (``reused``).

:func:`score` gives the reward of many inputs (messages) in batches, without gradients.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from persona_judge import paths
from persona_judge.reward_models.backbone import build_backbone, render
from persona_judge.reward_models.inputs import TrainingPair, fingerprint
from persona_judge.reward_models.settings import RewardModelSettings

CHECKPOINT = "checkpoint.pt"
FINAL = "final"


def reward_models_dir() -> Path:
    """Trained reward models and their checkpoints (inside the git-ignored data folder)."""
    return paths.data_dir() / "reward_models"


def checkpoint_folder(method: str, settings: RewardModelSettings, pairs: Sequence[TrainingPair],
                      seed: int, *, mode: str, root: Path | None = None) -> Path:
    """The folder of one trained model: keyed by method, settings, training data and seed."""
    key = {"mode": mode, "method": method, "model": settings.base_model,
           "settings": settings.to_dict(), "seed": seed, "n_pairs": len(pairs),
           "data": fingerprint(pairs)}
    return paths.run_dir("reward_model", key, root=root or reward_models_dir())


@dataclass
class TrainedRewardModel:
    """A trained reward model, where it lives, and how its training went."""

    model: Any
    tokenizer: Any
    folder: Path
    steps: int
    losses: list[float] = field(default_factory=list)
    reused: bool = False           # loaded from ``final/``: nothing was trained
    resumed_from: int = 0          # the step a checkpoint resumed from (0: from scratch)
    finished: bool = True          # False when ``stop_after`` interrupted the run


def _trainable_state(model: Any) -> dict[str, Any]:
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_trainable(model: Any, state: dict[str, Any]) -> None:
    import torch

    named = dict(model.named_parameters())
    missing = [n for n in state if n not in named]
    if missing:
        raise RuntimeError(f"checkpoint weights {missing[:3]} do not fit the model")
    with torch.no_grad():
        for name, value in state.items():
            named[name].copy_(value.to(named[name].device, named[name].dtype))


def _texts(tokenizer: Any, pairs: Sequence[TrainingPair]) -> list[str]:
    return [render(tokenizer, m) for p in pairs for m in (p.chosen, p.rejected)]


def _order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def _rewards(model: Any, tokenizer: Any, texts: list[str], max_length: int, device: Any) -> Any:
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                      max_length=max_length).to(device)
    return model(**batch).logits.squeeze(-1).float()


def train_reward_model(pairs: Sequence[TrainingPair], settings: RewardModelSettings, *,
                       seed: int, folder: str | Path, progress: bool = True,
                       stop_after: int | None = None, what: str = "reward model"
                       ) -> TrainedRewardModel:
    """Train (or reuse, or resume) a Bradley–Terry reward model on ``pairs`` (module doc).

    ``stop_after`` stops after that many optimizer steps of this call, leaving a checkpoint
    (what an interruption leaves; used by the tests).
    """
    import torch
    import torch.nn.functional as F
    from accelerate import Accelerator
    from tqdm.auto import tqdm
    from transformers import PreTrainedTokenizerFast, get_linear_schedule_with_warmup

    folder = Path(folder)
    final = folder / FINAL
    if (final / "done.json").is_file():
        done = json.loads((final / "done.json").read_text(encoding="utf-8"))
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(final / "tokenizer")) \
            if settings.is_tiny else None
        model, tokenizer = build_backbone(settings, seed=seed, tokenizer=tokenizer)
        _load_trainable(model, torch.load(final / "trainable.pt", weights_only=True))
        model.eval()
        return TrainedRewardModel(model, tokenizer, folder, int(done["steps"]),
                                  list(done["losses"]), reused=True)

    if not pairs:
        raise ValueError(f"no training pairs for the {what}")
    saved_tokenizer = folder / "tokenizer"
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(saved_tokenizer)) \
        if settings.is_tiny and saved_tokenizer.is_dir() else None
    texts_for_vocab = [m["content"] for p in pairs for msgs in (p.chosen, p.rejected)
                       for m in msgs]
    model, tokenizer = build_backbone(settings, seed=seed, tokenizer_texts=texts_for_vocab,
                                      tokenizer=tokenizer)
    if settings.is_tiny and not saved_tokenizer.is_dir():
        tokenizer.save_pretrained(str(saved_tokenizer))
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(pairs) / settings.batch_size)
    total = steps_per_epoch * settings.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(settings.warmup_ratio * total), total)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    step, losses = 0, []
    checkpoint = folder / CHECKPOINT
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        _load_trainable(accelerator.unwrap_model(model), state["trainable"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        step, losses = int(state["step"]), list(state["losses"])
    resumed_from = step

    def save_checkpoint() -> None:
        if not accelerator.is_main_process:
            return
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"step": step, "losses": losses, "rng": torch.get_rng_state(),
                    "trainable": _trainable_state(accelerator.unwrap_model(model)),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
                   tmp)
        tmp.replace(checkpoint)  # a crash mid-write never leaves a broken checkpoint

    model.train()
    bar = tqdm(total=total, initial=step, desc=f"training {what}", disable=not progress,
               unit="step")
    rank, world = accelerator.process_index, accelerator.num_processes
    done_now = 0
    while step < total:
        epoch, within = divmod(step, steps_per_epoch)
        order = _order(len(pairs), seed, epoch)
        batch_idx = order[within * settings.batch_size:(within + 1) * settings.batch_size]
        mine = batch_idx[rank::world] if len(batch_idx) >= world else batch_idx
        batch = [pairs[i] for i in mine]
        texts = _texts(tokenizer, batch)
        rewards = _rewards(model, tokenizer, texts, settings.max_length, accelerator.device)
        loss = -F.logsigmoid(rewards[0::2] - rewards[1::2]).mean()
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        done_now += 1
        losses.append(float(loss.detach().cpu()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if step % settings.save_every == 0 or step == total:
            save_checkpoint()
        if stop_after is not None and done_now >= stop_after and step < total:
            save_checkpoint()
            bar.close()
            return TrainedRewardModel(accelerator.unwrap_model(model), tokenizer, folder, step,
                                      losses, resumed_from=resumed_from, finished=False)
    bar.close()
    unwrapped = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        final.mkdir(parents=True, exist_ok=True)
        torch.save(_trainable_state(unwrapped), final / "trainable.pt")
        tokenizer.save_pretrained(str(final / "tokenizer"))
        (final / "done.json").write_text(json.dumps(
            {"steps": step, "losses": losses, "pairs": len(pairs), "seed": seed,
             "settings": settings.to_dict()}, indent=1), encoding="utf-8")
    unwrapped.eval()
    return TrainedRewardModel(unwrapped, tokenizer, folder, step, losses,
                              resumed_from=resumed_from)


def score(trained: TrainedRewardModel, inputs: Sequence[Sequence[dict[str, str]]], *,
          settings: RewardModelSettings, batch_size: int | None = None) -> np.ndarray:
    """The reward of each input (a list of chat messages), in order, without gradients."""
    import torch

    model, tokenizer = trained.model, trained.tokenizer
    model.eval()
    device = next(model.parameters()).device
    size = batch_size or max(1, 2 * settings.batch_size)
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(inputs), size):
            texts = [render(tokenizer, m) for m in inputs[start:start + size]]
            out.extend(_rewards(model, tokenizer, texts, settings.max_length,
                                device).cpu().tolist())
    return np.asarray(out, dtype=float)


def embed(trained: TrainedRewardModel, inputs: Sequence[Sequence[dict[str, str]]], *,
          settings: RewardModelSettings, batch_size: int | None = None) -> np.ndarray:
    """The backbone's last hidden state at each input's last token (frozen features)."""
    import torch

    model, tokenizer = trained.model, trained.tokenizer
    model.eval()
    device = next(model.parameters()).device
    size = batch_size or max(1, 2 * settings.batch_size)
    rows = []
    with torch.no_grad():
        for start in range(0, len(inputs), size):
            texts = [render(tokenizer, m) for m in inputs[start:start + size]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                              max_length=settings.max_length).to(device)
            hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
            last = batch["attention_mask"].sum(dim=1) - 1
            rows.append(hidden[torch.arange(hidden.shape[0]), last].float().cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0))
