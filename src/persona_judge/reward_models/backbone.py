"""The reward model's backbone: a Llama with a one-number head, real or tiny.

:func:`require_extra` checks the optional extra (``pip install -e ".[reward-models]"``:
torch, transformers, peft, accelerate) and names it when missing. :func:`build_backbone`
returns ``(model, tokenizer)``:

* a **real** base model (``settings.base_model``, a Hugging Face id or a local folder)
  loaded as ``AutoModelForSequenceClassification`` with one label, in bf16 on a GPU;
* the **tiny** model of smoke runs and tests: ``LlamaForSequenceClassification`` with
  ``TINY_DIMS`` (two layers, 32 dimensions), randomly initialised from the seed, and a
  word-level tokenizer built from the training texts with the ``tokenizers`` library;
  nothing is downloaded. It has a chat template, so the same rendering code runs.

Both get LoRA adapters (``peft``; the score head trained in full) unless ``finetuning`` is
``"full"``. :func:`render` turns messages into the text the model reads (the tokenizer's
chat template).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from persona_judge.errors import PersonaJudgeError
from persona_judge.reward_models.settings import RewardModelSettings

EXTRA = "reward-models"
INSTALL = 'pip install -e ".[reward-models]"'
PACKAGES = ("torch", "transformers", "peft", "accelerate")


class RewardModelsUnavailableError(PersonaJudgeError):
    """The reward models' optional extra is not installed (the message says how), or a real
    run has no GPU."""


def require_extra() -> None:
    """Import the extra's packages; a missing one is a one-line error naming the extra."""
    missing = []
    for name in PACKAGES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise RewardModelsUnavailableError(
            f"the reward models need the optional extra [{EXTRA}] ({', '.join(missing)} not "
            f"installed): run `{INSTALL}` (or `make setup`, which installs it)")


#: A small chat template (Jinja, as Hugging Face tokenizers carry them) for the tiny model.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}")
SPECIAL = ("<pad>", "<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>",
           "<|end|>")


def tiny_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> Any:
    """A word-level tokenizer built from ``texts`` (most frequent words, ties by spelling)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    counts: dict[str, int] = {}
    pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                   pre_tokenizers.Punctuation()])
    for text in texts:
        for word, _ in pre.pre_tokenize_str(text):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))[: vocab_size - len(SPECIAL)]
    vocab = {token: i for i, token in enumerate([*SPECIAL, *[w for w in words
                                                              if w not in SPECIAL]])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>",
                                        unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL[4:])})
    return tokenizer


def render(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """The text the model reads for these messages (the tokenizer's chat template)."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False)


def build_backbone(settings: RewardModelSettings, *, seed: int,
                   tokenizer_texts: Iterable[str] = (), tokenizer: Any = None
                   ) -> tuple[Any, Any]:
    """``(model, tokenizer)``: the base with a one-number score head, LoRA when asked.

    The tiny model's tokenizer is built from ``tokenizer_texts`` unless a saved one is given
    (a checkpoint brings its own, so a reloaded model reads exactly what it was trained on).
    """
    require_extra()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    if settings.is_tiny:
        from transformers import LlamaConfig, LlamaForSequenceClassification

        tokenizer = tokenizer or tiny_tokenizer(tokenizer_texts)
        config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=4096,
                             pad_token_id=tokenizer.pad_token_id, num_labels=1,
                             **settings.tiny)
        model = LlamaForSequenceClassification(config)
    else:
        tokenizer = tokenizer or AutoTokenizer.from_pretrained(settings.base_model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForSequenceClassification.from_pretrained(
            settings.base_model, num_labels=1, dtype=torch.bfloat16)
        model.config.pad_token_id = tokenizer.pad_token_id
        model.gradient_checkpointing_enable()  # activations recomputed: long inputs fit
    tokenizer.truncation_side = "left"  # a long conversation loses its start, never the reply
    if settings.finetuning == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(task_type="SEQ_CLS", r=settings.lora_r, lora_alpha=settings.lora_alpha,
                          lora_dropout=settings.lora_dropout,
                          target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                          "gate_proj", "up_proj", "down_proj"])
        model = get_peft_model(model, lora)
    return model, tokenizer


def gpu_status() -> str:
    """``"2 × NVIDIA A100-SXM4-80GB (80 GB)"``, or ``"none"`` (torch needed)."""
    import torch

    if not torch.cuda.is_available():
        return "none"
    n = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    return f"{n} × {props.name} ({props.total_memory / 1e9:.0f} GB)"
