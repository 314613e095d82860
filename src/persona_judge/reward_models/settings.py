"""The reward models' settings: every choice a named value, and what a real run needs.

The paper fine-tunes a Bradley–Terry reward model on PersonalRewardBench's pooled training
pairs, with and without SynthesizeMe personas in its input (Table 3: 71.48 / 72.18 on Chatbot
Arena). The copy of the paper available to this study does not give the base model, LoRA or
full fine-tuning, the learning rate or the epochs, so each is a named setting here with the
choice written beside it (chapter 10 shows the table). :data:`SMOKE` swaps the base model for
a tiny randomly initialised model of the same family (Llama) built locally, and trains a few
seconds on CPU through the same code.

:func:`gpu_estimate` prices a real run before anything starts: GPU-hours (FLOPs ÷ an assumed
sustained throughput) and the memory one GPU needs. It needs no torch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from persona_judge.errors import SettingsError

TINY_MODEL = "tiny-llama (random, built locally)"
FINETUNING = ("lora", "full")


@dataclass(frozen=True)
class RewardModelSettings:
    """How the reward models are built and trained (each field a named choice)."""

    base_model: str = "meta-llama/Llama-3.1-8B-Instruct"  # our choice: the paper's 8B family
    finetuning: str = "lora"           # "lora" (adapters + score head) or "full"
    lora_r: int = 16                   # LoRA rank (our choice)
    lora_alpha: int = 32               # LoRA scale (our choice: 2 × rank)
    lora_dropout: float = 0.05
    learning_rate: float = 1e-4        # our choice for LoRA; full fine-tuning wants ~1e-5
    epochs: int = 2                    # passes over the pooled training pairs (our choice)
    batch_size: int = 8                # pairs per optimizer step (per device)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_length: int = 2048             # tokens per (context, reply) input; longer is cut
    save_every: int = 50               # optimizer steps between checkpoints (resume point)
    persona_template: str = "reward_model_persona@v1"
    # GPO / VPL / PAL: small heads on the frozen backbone's embeddings (chapter 10)
    latent_dim: int = 64               # VPL latent size, PAL/GPO hidden size
    pal_prototypes: int = 4            # PAL: K prototypes (mixture per user)
    vpl_beta: float = 0.01             # VPL: weight of the KL term
    vpl_context: int = 8               # VPL / GPO: context pairs drawn per user and step
    head_epochs: int = 40              # passes of the small heads over the users' pairs
    head_learning_rate: float = 1e-3
    tiny: dict[str, int] = field(default_factory=dict)  # tiny-model dims (smoke only)

    def __post_init__(self) -> None:
        if self.finetuning not in FINETUNING:
            raise SettingsError(f"reward-model setting finetuning must be one of {FINETUNING}, "
                                f"got {self.finetuning!r}")
        for name in ("epochs", "batch_size", "max_length", "save_every", "lora_r",
                     "head_epochs", "latent_dim", "pal_prototypes", "vpl_context"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(f"reward-model setting {name} must be at least 1, "
                                    f"got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise SettingsError(f"reward-model setting learning_rate must be > 0, "
                                f"got {self.learning_rate!r}")

    @property
    def is_tiny(self) -> bool:
        return self.base_model == TINY_MODEL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The tiny model's dimensions: a real Llama architecture, a few thousand parameters.
TINY_DIMS = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2}

#: Smoke runs and tests: the tiny model, a short schedule, a learning rate that moves it.
SMOKE = RewardModelSettings(base_model=TINY_MODEL, lora_r=4, lora_alpha=8,
                            learning_rate=5e-3, epochs=2, batch_size=4, max_length=256,
                            save_every=4, latent_dim=16, head_epochs=20, tiny=dict(TINY_DIMS))


def settings_from(values: dict[str, Any] | None, mode: str) -> RewardModelSettings:
    """The settings a chapter asks for: the mode's defaults with ``values`` on top."""
    base = SMOKE if mode == "smoke" else RewardModelSettings()
    values = dict(values or {})
    known = set(RewardModelSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"unknown reward-model setting(s) {unknown}; known: "
                            f"{', '.join(sorted(known))}")
    if mode == "smoke":
        values.pop("base_model", None)  # a smoke run never loads a real model
    return replace(base, **values)


# --- what a real run costs -------------------------------------------------------------

#: Parameter counts of the bases a user is likely to choose (else read from the name).
KNOWN_SIZES = {"llama-3.2-1b": 1.24e9, "llama-3.2-3b": 3.21e9, "llama-3.1-8b": 8.03e9,
               "llama-3.3-70b": 70.6e9, "llama-3.1-70b": 70.6e9}
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])")


def parameter_count(base_model: str) -> float:
    """The base model's parameters (a known model, or the ``8B`` in its name)."""
    text = base_model.lower().rsplit("/", 1)[-1]
    for key, size in KNOWN_SIZES.items():
        if key in text.replace("meta-", ""):
            return size
    found = _SIZE.search(text)
    if not found:
        raise SettingsError(f"reward-model base_model {base_model!r}: cannot tell its size "
                            "from the name; name a model with its size (e.g. '...-8B-...')")
    return float(found.group(1)) * 1e9


@dataclass(frozen=True)
class GpuEstimate:
    """What training and scoring need on GPUs: hours at the assumed throughput, memory."""

    train_tokens: int
    score_tokens: int
    gpu_hours: float
    memory_gb: float
    assumptions: str


#: Sustained bf16 throughput assumed for the estimate (an A100/H100-class GPU at ~35% MFU).
ASSUMED_FLOPS = 312e12 * 0.35


def gpu_estimate(settings: RewardModelSettings, train_chars: int, score_chars: int,
                 *, n_models: int = 2) -> GpuEstimate:
    """GPU-hours and memory to train ``n_models`` reward models and score the test pairs.

    Tokens ≈ characters / 4. Training costs ≈ 6 × parameters × tokens FLOPs per epoch for
    full fine-tuning and ≈ 4 × for LoRA (no weight gradients of the frozen base); scoring ≈
    2 × parameters × tokens. Memory: bf16 weights (2 bytes/param), plus for full fine-tuning
    gradients and Adam states (≈ 16 bytes/param in all), plus activations (≈ 20% with
    gradient checkpointing). An estimate, not a measurement: the README gives the tiny
    model's measured time for scale.
    """
    params = parameter_count(settings.base_model)
    train_tokens = int(train_chars / 4) * settings.epochs
    score_tokens = int(score_chars / 4)
    per_token = 4 if settings.finetuning == "lora" else 6
    flops = n_models * (per_token * params * train_tokens + 2 * params * score_tokens)
    hours = flops / ASSUMED_FLOPS / 3600
    bytes_per_param = 2.0 if settings.finetuning == "lora" else 16.0
    memory = params * bytes_per_param * 1.2 / 1e9
    return GpuEstimate(train_tokens, score_tokens, hours, memory,
                       f"{params / 1e9:.1f}B parameters, {settings.finetuning}, "
                       f"{settings.epochs} epoch(s), {n_models} model(s), "
                       f"{ASSUMED_FLOPS / 1e12:.0f} TFLOP/s sustained")
