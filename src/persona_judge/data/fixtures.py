"""Seeded, visibly synthetic copies of the two benchmark datasets, shaped like the real ones.

Tests and smoke runs need data with the published benchmark's columns, value
forms and on-disk layout (a dataset repository folder with
``data/<split>-00000-of-00001.parquet`` and a ``README.md`` card, as
``snapshot_download`` leaves it), but no text of real people. ``write_fixture``
writes such a folder; ``load_benchmark(..., mode="smoke")`` then reads it through
the same code path as the Hub copy.

What the fixtures reproduce, and where each form comes from (**known** = seen in
a real row or the paper's code; **guess** = documented choice, to revisit when
the real data can be read; the benchmark chapter lists them too):

* PRISM model turns have role ``"model"`` (known: real row ``user584``); Chatbot
  Arena turns ``"assistant"`` (guess, from the OpenAI-format conversations of
  ``lmsys/chatbot_arena_conversations``).
* ``context`` is a list of ``{content, role}`` structs, ``chosen`` / ``rejected``
  single structs; read through pandas they become numpy object arrays (known).
  Multi-turn contexts alternate user and model turns; ``turns`` counts the user
  messages of the context (guess: the real row has one user message, ``turns=1``).
* One PRISM conversation yields several pairs: the same context and chosen reply
  against different rejected replies (known that it happens; the exact pairing
  rule is a guess), all in one split (guess).
* PRISM ids look like the real ones: users ``user<N>`` drawn from
  ``user0``..``user59`` (the raw PRISM survey fixture covers exactly those, so
  demographics joins work), conversations ``c<N>`` (known form). Arena users are
  ``arena_user_<N>`` and conversations 32-hex question ids (guess, from the
  source dataset's ``judge`` and ``question_id``).
* Per-user split sizes are skewed like the real ones: Chatbot Arena's Hub splits
  hold about 305 / 235 / 798 train / validation / test rows for 131 users (known),
  so most users have 1-4 training and 0-3 validation pairs; the fixtures include
  users with 1 training pair, with 0 and 1 validation pairs, a user with a tiny
  total, a few larger users, and one user per dataset whom a study must set
  aside (no training pairs in Arena, no test pairs in PRISM). The Hub file a row
  sits in matches its ``split`` column (guess; the benchmark chapter checks it).
* ``flip`` bool, ``type`` the PRISM conversation type (known); Arena ``type``
  null (guess). ``chosen_score`` / ``rejected_score``: PRISM ratings 1-100 with
  chosen above rejected (known scale), null in Arena (guess: Arena has votes, no
  ratings). ``dataset`` the short dataset name (guess).
* Construction and judge columns (all guesses for the value form, known names):
  ``personalizable_query`` / ``personalizable_responses`` true (every published
  row passed that filter); ``query_reasoning`` / ``response_reasoning`` text;
  ``prediction_<m>`` "First" / "Second" (the answer form of the paper's DSPy
  judge) for the pair shown in the row's order, ``prediction_flip_<m>`` for the
  reversed order, ``reasoning_*`` text; ``agreement`` the share of those ten
  judgments that pick the chosen reply, kept between 0.2 and 0.8 (a consensus
  filter drops pairs the judges agree on).
* The PRISM fixture carries two deliberately bad rows (an exact duplicate and an
  empty reply), so a smoke run exercises the skip-and-report path.

Every text is marked ``[synthetic ...]``. Every synthetic user has a hidden
*taste* (one of ``STYLES``): the chosen reply is written in that style and the
rejected one in another; the styles differ in length, which is what the smoke
stand-in judge can learn. Nothing computed from fixtures is ever a finding.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from persona_judge.data.records import flip_order

JUDGE_MODELS = (
    "gemini/gemini-1.5-pro",
    "meta-llama/Llama-3.3-70B-Instruct",
    "azure/gpt-4o-mini-240718",
    "Qwen/Qwen2.5-72B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
)
FIXTURE_SEED = 0
# The generator's format; a copy is also rewritten whenever its rows' fingerprint differs
# from what this generator writes (fixture_fingerprint), so no edit can leave a stale copy.
FIXTURE_VERSION = 2
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
    "talking to a teenager about money", "moving to a new city", "voting in a local election",
    "caring for an elderly parent", "choosing a charity to support", "learning to swim",
)
_PRISM_TYPES = ("unguided", "values guided", "controversy guided")
# Per-user (train, val, test) sizes, assigned to users in a seeded order: the real
# skew (small train and val splits, larger test splits, a few big users) plus the
# edge cases a study must handle (1 train, 0 or 1 val, a user it must set aside).
_PROFILES = {
    "chatbot_arena": [(1, 0, 5), (1, 1, 4), (2, 1, 6), (2, 2, 6), (3, 2, 5), (2, 1, 7),
                      (4, 3, 8), (3, 2, 6), (2, 0, 4), (6, 3, 9), (8, 4, 10), (0, 2, 5)],
    "prism": [(1, 1, 3), (2, 0, 3), (3, 1, 4), (4, 2, 4), (5, 2, 5), (6, 2, 5), (3, 1, 3),
              (2, 1, 2), (1, 0, 1), (7, 3, 6), (8, 3, 6), (12, 4, 8), (4, 1, 4), (5, 2, 4),
              (2, 2, 3), (3, 1, 0)],
}
_SPLIT_FILES = (("train", "train"), ("val", "validation"), ("test", "test"))


def _reply(style: str, topic: str, role: str) -> dict[str, str]:
    text = _STYLE_TEXT[style].format(topic=topic)
    return {"content": f"[synthetic {style} response] {text}", "role": role}


def _context(rng: random.Random, topic: str, role: str) -> list[dict[str, str]]:
    opening = {"content": f"[synthetic user message] Any advice on {topic}?", "role": "user"}
    n_user = rng.choice((1, 1, 1, 2, 3))
    turns = [opening]
    for i in range(1, n_user):
        turns += [
            {"content": f"[synthetic earlier reply {i}] Happy to help with {topic}. What have "
                        "you tried so far?", "role": role},
            {"content": f"[synthetic user message] Not much yet (round {i}); where should I "
                        "begin?", "role": "user"},
        ]
    return turns


def _judge_columns(rng: random.Random, flip: bool) -> dict[str, Any]:
    """Five judges × two orders: a seeded mix of votes, and ``agreement`` consistent with it."""
    votes_for_chosen = rng.randint(2, 8)  # of 10: the consensus filter kept only contested pairs
    slots = [True] * votes_for_chosen + [False] * (10 - votes_for_chosen)
    rng.shuffle(slots)
    chosen_first = flip_order(flip) == "chosen_first"  # the row's own display order
    out: dict[str, Any] = {}
    for k, model in enumerate(JUDGE_MODELS):
        as_shown, reversed_ = slots[2 * k], slots[2 * k + 1]
        out[f"prediction_{model}"] = "First" if as_shown == chosen_first else "Second"
        out[f"reasoning_{model}"] = f"[synthetic recorded reasoning of {model}]"
        out[f"prediction_flip_{model}"] = "First" if reversed_ != chosen_first else "Second"
        out[f"reasoning_flip_{model}"] = (f"[synthetic recorded reasoning of {model}, "
                                          "order reversed]")
    out["agreement"] = round(votes_for_chosen / 10, 1)
    return out


def fixture_rows(dataset: str, seed: int = FIXTURE_SEED, n_users: int | None = None
                 ) -> list[dict[str, Any]]:
    """All rows of a fixture dataset (bad rows included), deterministic in ``seed``."""
    if dataset not in _PROFILES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(_PROFILES)}")
    rng = random.Random(f"{dataset}:{seed}")
    profiles = list(_PROFILES[dataset])
    rng.shuffle(profiles)
    profiles = profiles[:n_users] if n_users else profiles
    prism = dataset == "prism"
    role = "model" if prism else "assistant"
    if prism:
        user_ids = [f"user{n}" for n in sorted(rng.sample(range(60), len(profiles)))]
        conv_numbers = iter(sorted(rng.sample(range(8011), 400)))
    else:
        user_ids = [f"arena_user_{n}" for n in sorted(rng.sample(range(100, 14000),
                                                                len(profiles)))]
    rows: list[dict[str, Any]] = []
    for u, (user_id, sizes) in enumerate(zip(user_ids, profiles, strict=True)):
        taste = STYLES[u % len(STYLES)]
        for split, size in zip(("train", "val", "test"), sizes, strict=True):
            left = size
            while left:
                # PRISM: one conversation gives up to three pairs (one chosen reply against
                # several rejected ones); Arena: one vote, one pair.
                n_pairs = min(left, rng.choice((1, 1, 2, 3))) if prism else 1
                left -= n_pairs
                topic = rng.choice(_TOPICS)
                conversation_id = f"c{next(conv_numbers)}" if prism else \
                    f"{rng.getrandbits(128):032x}"
                context = _context(rng, topic, role)
                others = rng.sample([s for s in STYLES if s != taste], n_pairs)
                conv_type = rng.choice(_PRISM_TYPES) if prism else None
                chosen_score = rng.randint(40, 100) if prism else None
                for other in others:
                    flip = rng.random() < 0.5
                    row: dict[str, Any] = {
                        "user_id": user_id,
                        "conversation_id": conversation_id,
                        "context": [dict(t) for t in context],
                        "chosen": _reply(taste, topic, role),
                        "rejected": _reply(other, topic, role),
                        "turns": sum(t["role"] == "user" for t in context),
                        "type": conv_type,
                        "split": split,
                        "flip": flip,
                        "chosen_score": chosen_score,
                        "rejected_score": rng.randint(1, chosen_score - 1) if prism else None,
                        "dataset": dataset,
                        "query_reasoning": "[synthetic] The query leaves room for personal "
                                           "taste in tone and length.",
                        "personalizable_query": True,
                        "response_reasoning": f"[synthetic] The responses differ in style "
                                              f"({taste} vs {other}).",
                        "personalizable_responses": True,
                    }
                    row.update(_judge_columns(rng, flip))
                    rows.append(row)
    if prism and n_users is None:
        rows.extend(_bad_rows(rows, rng))
    return rows


def _bad_rows(rows: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Two deliberately bad rows (an exact duplicate, an empty reply) to exercise skipping."""
    duplicate = dict(rows[rng.randrange(len(rows))])
    empty = dict(rows[rng.randrange(len(rows))])
    empty["rejected"] = {"content": "", "role": empty["rejected"]["role"]}
    return [duplicate, empty]


def fixture_schema(dataset: str):  # -> pyarrow.Schema
    """The parquet schema of a fixture file: the published columns with the real types."""
    import pyarrow as pa

    turn = pa.struct([("content", pa.string()), ("role", pa.string())])
    fields = [
        ("user_id", pa.string()), ("conversation_id", pa.string()),
        ("context", pa.list_(turn)), ("chosen", turn), ("rejected", turn),
        ("turns", pa.int64()), ("type", pa.string()), ("split", pa.string()),
        ("flip", pa.bool_()), ("chosen_score", pa.int64()), ("rejected_score", pa.int64()),
        ("dataset", pa.string()), ("query_reasoning", pa.string()),
        ("personalizable_query", pa.bool_()), ("response_reasoning", pa.string()),
        ("personalizable_responses", pa.bool_()),
    ]
    for model in JUDGE_MODELS:
        fields += [(f"prediction_{model}", pa.string()), (f"reasoning_{model}", pa.string()),
                   (f"prediction_flip_{model}", pa.string()),
                   (f"reasoning_flip_{model}", pa.string())]
    fields.append(("agreement", pa.float64()))
    return pa.schema(fields)


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
Same columns, value forms and layout as the published dataset as far as they are
known (see the module docstring for what is a guess); every text is synthetic.
"""


def write_fixture(dataset: str, folder: Path, seed: int = FIXTURE_SEED,
                  n_users: int | None = None) -> Path:
    """Write a fixture dataset repository folder (parquet per split, card, revision record)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from persona_judge.data.benchmark import repo_id, write_revision_record

    rows = fixture_rows(dataset, seed=seed, n_users=n_users)
    schema = fixture_schema(dataset)
    folder = Path(folder)
    for old in folder.glob("data/*.parquet"):  # a fixture copy is generated data: replace it
        old.unlink()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, hub_name in _SPLIT_FILES:
        part = [r for r in rows if r["split"] == split]
        target = folder / "data" / f"{hub_name}-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pylist(part, schema=schema), target)
    (folder / "README.md").write_text(_CARD.format(repo=repo_id(dataset), seed=seed))
    write_revision_record(folder, repo_id=repo_id(dataset), fixture_seed=seed,
                          fixture_version=FIXTURE_VERSION,
                          fingerprint=fixture_fingerprint(dataset, seed, n_users),
                          generator="persona_judge.data.fixtures")
    return folder


def fixture_fingerprint(dataset: str, seed: int = 0, n_users: int | None = None) -> str:
    """A hash of every row this generator writes (with the format version): a copy whose
    record holds another fingerprint was written by other code and is regenerated."""
    import hashlib
    import json

    rows = fixture_rows(dataset, seed=seed, n_users=n_users)
    blob = json.dumps([FIXTURE_VERSION, rows], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
