"""Write a constructed benchmark in the on-disk form the benchmark loaders read.

Layout (the same as a Hub download of the published benchmark)::

    <data>/constructed/<mode>/constructed_<source>/
        README.md                                 dataset card (configs: the three splits)
        data/train-00000-of-00001.parquet         rows whose split is "train"
        data/validation-00000-of-00001.parquet    rows whose split is "val"
        data/test-00000-of-00001.parquet          rows whose split is "test"
        construction.json                         settings, raw revisions, stage counts

Rows carry the published column set (``user_id``, ``conversation_id``, ``context``,
``chosen``, ``rejected``, ``turns``, ``type``, ``split``, ``flip``, ``chosen_score``,
``rejected_score``, ``dataset``, the personalization columns, ``agreement`` (share of the
consensus judgments that picked the chosen reply) and the four columns per judge, with
predictions as ``"First"`` / ``"Second"`` for the pair shown in its ``flip`` order and
reversed) plus ``pair_id``, our id that traces each pair back to its raw record.
``context`` / ``chosen`` / ``rejected`` are ``{content, role}`` structs as in the
published parquet; PRISM replies keep the role ``model``.

:func:`load_constructed` reads such a folder back through
``persona_judge.data.benchmark.read_local_dataset``, the loader every chapter uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from persona_judge import paths
from persona_judge.construction.pipeline import ConstructionResult

HF_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))
BASE_COLUMNS = ("pair_id", "user_id", "conversation_id", "context", "chosen", "rejected",
                "turns", "type", "split", "flip", "chosen_score", "rejected_score", "dataset",
                "query_reasoning", "personalizable_query", "response_reasoning",
                "personalizable_responses", "agreement")


def dataset_name(source: str) -> str:
    """The name chapters use for a constructed source: ``constructed_<source>``."""
    return f"constructed_{source}"


def constructed_dir(source: str, mode: str) -> Path:
    """Where the constructed benchmark of ``source`` for a run mode is written."""
    if mode not in ("real", "smoke"):
        raise ValueError(f"mode must be 'real' or 'smoke', got {mode!r}")
    return paths.data_dir() / "constructed" / mode / dataset_name(source)


def _schema(judge_columns: Sequence[str]):
    import pyarrow as pa

    turn = pa.struct([("content", pa.string()), ("role", pa.string())])
    fields = [("pair_id", pa.string()), ("user_id", pa.string()),
              ("conversation_id", pa.string()), ("context", pa.list_(turn)), ("chosen", turn),
              ("rejected", turn), ("turns", pa.int64()), ("type", pa.string()),
              ("split", pa.string()), ("flip", pa.bool_()), ("chosen_score", pa.float64()),
              ("rejected_score", pa.float64()), ("dataset", pa.string()),
              ("query_reasoning", pa.string()), ("personalizable_query", pa.bool_()),
              ("response_reasoning", pa.string()), ("personalizable_responses", pa.bool_()),
              ("agreement", pa.float64())]
    fields += [(name, pa.string()) for name in judge_columns]
    return pa.schema(fields)


_CARD = """---
pretty_name: {title}
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

# {title}

{smoke}PersonalRewardBench ({source}) re-derived from the raw source by
`persona_judge.construction` (chapter 00 of the study): {users} users, {pairs} pairs
({train} train, {val} validation, {test} test). Raw source: {revision}.
Settings and stage counts: `construction.json`. Each row's `pair_id` traces back to
the raw record (PRISM: conversation/turn/within-turn ids; Chatbot Arena: question_id).
"""


def write_constructed(result: ConstructionResult, folder: Path | None = None, *, mode: str,
                      extra: dict[str, Any] | None = None) -> Path:
    """Write ``result`` as a dataset folder (see the module docstring); return the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder) if folder is not None else constructed_dir(result.source, mode)
    rows = result.rows()
    judge_columns = [k for k in (rows[0] if rows else {}) if k not in BASE_COLUMNS]
    if not rows:
        from persona_judge.construction.filters import PUBLISHED_JUDGES

        judge_columns = [f"{kind}{prefix}{judge}" for judge in PUBLISHED_JUDGES
                         for prefix in ("", "flip_") for kind in ("prediction_", "reasoning_")]
    schema = _schema(judge_columns)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for old in (folder / "data").glob("*.parquet"):
        old.unlink()  # a rerun with other settings must not leave stale splits behind
    counts = {}
    for split, hf_name in HF_SPLITS:
        part = [r for r in rows if r["split"] == split]
        counts[split] = len(part)
        table = pa.Table.from_pylist(part, schema=schema)
        pq.write_table(table, folder / "data" / f"{hf_name}-00000-of-00001.parquet")
    smoke = ("**SMOKE RUN: built from synthetic fixtures with a scripted stand-in model; not "
             "a result.**\n\n" if mode == "smoke" else "")
    title = f"{dataset_name(result.source)} ({mode} construction)"
    (folder / "README.md").write_text(_CARD.format(
        title=title, smoke=smoke, source=result.source, users=len(result.users),
        pairs=len(rows), revision=result.revision or "unknown", **counts))
    info = {"source": result.source, "mode": mode, "revision": result.revision,
            "config": result.config.to_dict(),
            "stages": result.stage_table().to_dict(orient="records"),
            "pairs_skipped_in_derivation": dict(result.derivation.skipped),
            "users": len(result.users), "pairs": len(rows), "splits": counts, **(extra or {})}
    (folder / "construction.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return folder


def load_constructed(source: str, mode: str, *, folder: Path | None = None,
                     on_error: str = "raise"):
    """Read a constructed benchmark back through the benchmark loader (a ``LoadReport``)."""
    from persona_judge.data.benchmark import read_local_dataset

    folder = Path(folder) if folder is not None else constructed_dir(source, mode)
    label = f"{dataset_name(source)} ({mode} construction, {folder})"
    return read_local_dataset(folder, label, on_error=on_error)  # type: ignore[arg-type]
