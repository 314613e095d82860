"""Schema-exact, seeded, visibly synthetic copies of the two benchmark datasets.

Tests and smoke runs need data with the published benchmark's exact columns
and on-disk layout (a dataset repository folder with ``data/<split>-*.parquet``
and a ``README.md`` card, as ``snapshot_download`` leaves it), but no text of
real people. ``write_fixture`` writes such a folder; ``load_benchmark(...,
mode="smoke")`` then reads it through the same ``datasets`` code path as the Hub
copy.

Every synthetic user has a hidden *taste* (one of ``STYLES``): the chosen
response is written in that style and the rejected one in another, and every
text is marked ``[synthetic ...]``. The taste gives a smoke run's stand-in judge
something learnable; nothing computed from fixtures is ever a finding.

The types of the recorded judge columns (``prediction_<model>`` as "A"/"B",
``agreement`` as a fraction) are our reading of the schema in STUDY.md; loaders
pass these construction columns through untouched.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

JUDGE_MODELS = (
    "gemini/gemini-1.5-pro",
    "meta-llama/Llama-3.3-70B-Instruct",
    "azure/gpt-4o-mini-240718",
    "Qwen/Qwen2.5-72B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
)
STYLES = ("brief", "detailed", "playful", "formal")
_STYLE_TEXT = {
    "brief": "In short: {topic} comes down to one step. Start small.",
    "detailed": (
        "Here is a thorough walk-through of {topic}. First, consider the background and "
        "why it matters. Second, list the options with their trade-offs. Third, pick one "
        "and plan the next steps, checking progress each week. Finally, review what "
        "worked and adjust."
    ),
    "playful": "Ooh, {topic}! Think of it as a game: level one is curiosity, level two is "
               "practice, and the boss fight is consistency. You've got this!",
    "formal": "With regard to {topic}, it is advisable to proceed methodically and to "
              "consult reliable sources before making a decision.",
}
_TOPICS = (
    "planning a vegetable garden", "learning a second language", "saving for a holiday",
    "writing a cover letter", "training for a 5k run", "choosing a first programming language",
    "cooking for a large family", "settling a disagreement with a friend",
    "reading more books", "starting a podcast", "keeping houseplants alive",
    "preparing for a job interview", "sleeping better", "budgeting as a student",
)
_PRISM_TYPES = ("unguided", "values guided", "controversy guided")
_DATASETS = {
    "chatbot_arena": ("arena", 12),
    "prism": ("prism", 16),
}


def _response(style: str, topic: str) -> dict[str, str]:
    text = _STYLE_TEXT[style].format(topic=topic)
    return {"role": "assistant", "content": f"[synthetic {style} response] {text}"}


def fixture_rows(dataset: str, seed: int = 0, n_users: int | None = None) -> list[dict[str, Any]]:
    """All rows of a fixture dataset, with the published column set, deterministic in ``seed``."""
    prefix, default_users = _DATASETS[dataset]
    rng = random.Random(f"{dataset}:{seed}")
    rows: list[dict[str, Any]] = []
    conversation = 0
    for u in range(n_users or default_users):
        user_id = f"fixture-{prefix}-u{u:02d}"
        taste = STYLES[u % len(STYLES)]
        sizes = {"train": rng.randint(5, 9), "val": rng.randint(2, 3), "test": rng.randint(3, 6)}
        for split, size in sizes.items():
            for _ in range(size):
                conversation += 1
                topic = rng.choice(_TOPICS)
                other = rng.choice([s for s in STYLES if s != taste])
                turns = rng.choice((1, 1, 1, 2))
                context = [{"role": "user", "content": f"[synthetic user message] Any advice on "
                                                       f"{topic}?"}]
                if turns == 2:
                    context += [
                        {"role": "assistant", "content": "[synthetic earlier reply] Happy to "
                                                         "help. What have you tried so far?"},
                        {"role": "user", "content": "[synthetic user message] Not much yet, "
                                                    "where should I begin?"},
                    ]
                chosen_score = rng.randint(55, 100)
                row: dict[str, Any] = {
                    "user_id": user_id,
                    "conversation_id": f"fixture-{prefix}-c{conversation:04d}",
                    "context": context,
                    "chosen": _response(taste, topic),
                    "rejected": _response(other, topic),
                    "turns": turns,
                    "type": rng.choice(_PRISM_TYPES) if dataset == "prism" else "chatbot arena",
                    "split": split,
                    "flip": rng.random() < 0.5,
                    "chosen_score": float(chosen_score),
                    "rejected_score": float(rng.randint(1, chosen_score - 1)),
                    "dataset": dataset,
                    "query_reasoning": "[synthetic] The query leaves room for personal taste "
                                       "in tone and length.",
                    "personalizable_query": True,
                    "response_reasoning": f"[synthetic] The responses differ in style "
                                          f"({taste} vs {other}).",
                    "personalizable_responses": True,
                    "agreement": round(rng.choice((0.2, 0.4, 0.6)), 1),
                }
                for model in JUDGE_MODELS:
                    row[f"prediction_{model}"] = rng.choice(("A", "B"))
                    row[f"reasoning_{model}"] = f"[synthetic recorded reasoning of {model}]"
                    row[f"prediction_flip_{model}"] = rng.choice(("A", "B"))
                    row[f"reasoning_flip_{model}"] = f"[synthetic recorded reasoning of {model}, " \
                                                     f"flipped order]"
                rows.append(row)
    return rows


_CARD = """---
license: cc-by-4.0
pretty_name: SYNTHETIC fixture of {repo}
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: validation
    path: data/validation-*.parquet
  - split: test
    path: data/test-*.parquet
---

# SYNTHETIC FIXTURE -- not the real {repo}

Generated by `persona_judge.data.fixtures` (seed {seed}) for tests and smoke runs.
Same columns and layout as the published dataset; every text is synthetic.
"""


def write_fixture(dataset: str, folder: Path, seed: int = 0, n_users: int | None = None) -> Path:
    """Write a fixture dataset repository folder (parquet per split + card) and return it."""
    import datasets

    from persona_judge.data.benchmark import repo_id

    rows = fixture_rows(dataset, seed=seed, n_users=n_users)
    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, hf_name in (("train", "train"), ("val", "validation"), ("test", "test")):
        part = [r for r in rows if r["split"] == split]
        target = folder / "data" / f"{hf_name}-00000-of-00001.parquet"
        datasets.Dataset.from_list(part).to_parquet(str(target))
    (folder / "README.md").write_text(_CARD.format(repo=repo_id(dataset), seed=seed))
    return folder
