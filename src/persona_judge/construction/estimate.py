"""What a construction run will cost, before anything is spent: a dry run of its LLM stages.

:func:`estimate_llm_stages` runs the personalization and consensus filters on
already-derived pairs through clients in ``dry_run`` mode: nothing is sent,
answers already in the cache count as free hits, tokens are estimated from the
real prompts (characters / 4) and completions from ``max_tokens`` (an upper
bound) or ``completion_tokens``. The dry run assumes every pair passes the
personalization filter, so the consensus line is an upper bound too.

:func:`estimate_construction` does the whole thing from the study's settings
(``study.yaml``'s chapter-00 parameters): it reads (real: downloads once) the raw
sources, derives the pairs and prices the LLM stages, per source and stage. It
is what ``persona-judge estimate`` calls for a construction run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge import paths
from persona_judge.construction.pairs import CandidatePair, DerivationReport
from persona_judge.construction.pipeline import ConstructionConfig, construct_source

CHAPTER = "00_benchmark_construction"
COLUMNS = ["source", "stage", "model", "pairs", "calls", "cache hits", "prompt tokens",
           "completion tokens", "dollars"]


def _dry_client(model: str, cache_path: Path, completion_tokens: int | None):
    from persona_judge.llm import client_from_env

    return client_from_env(model, cache_path=cache_path, dry_run=True, progress=False,
                           dry_run_completion_tokens=completion_tokens)


def _row(source: str, stage: str, client: Any, pairs: int) -> dict[str, Any]:
    s = client.stats.to_dict()
    return {"source": source, "stage": stage, "model": client.model, "pairs": pairs,
            "calls": s["calls"], "cache hits": s["cache_hits"],
            "prompt tokens": s["prompt_tokens"], "completion tokens": s["completion_tokens"],
            "dollars": round(float(s["dollars"]), 4)}


def estimate_llm_stages(
    derived: Mapping[str, tuple[Sequence[CandidatePair], DerivationReport]],
    config: ConstructionConfig,
    *,
    model: str,
    consensus_models: Sequence[str],
    cache_path: str | Path | None = None,
    completion_tokens: int | None = None,
    mode: str = "real",
) -> pd.DataFrame:
    """Calls, cache hits, tokens and dollars per source and LLM stage (nothing is sent)."""
    cache = Path(cache_path) if cache_path is not None else paths.cache_path(mode)
    rows = []
    for source, (pairs, report) in derived.items():
        filter_client = _dry_client(model, cache, completion_tokens)
        judges = {m: _dry_client(m, cache, completion_tokens) for m in consensus_models} \
            if config.consensus_source == "llm" else {}
        try:
            # Recorded consensus costs nothing: estimate it as "off".
            dry_config = config if config.consensus_source == "llm" else \
                replace(config, consensus_source="off")
            result = construct_source(source, pairs, report, dry_config,
                                      filter_client=filter_client, judge_clients=judges)
            into_llm = next((s.pairs_in for s in result.steps if "personalization" in s.name),
                            0)
            into_consensus = next((s.pairs_in for s in result.steps if "consensus" in s.name), 0)
            if config.personalization:
                rows.append(_row(source, "personalization filter", filter_client, into_llm))
            for judge in judges.values():
                rows.append(_row(source, "consensus filter", judge, into_consensus))
        finally:
            filter_client.close()
            for judge in judges.values():
                judge.close()
    table = pd.DataFrame(rows, columns=COLUMNS)
    if len(table):
        total = {c: table[c].sum() for c in ("calls", "cache hits", "prompt tokens",
                                             "completion tokens", "dollars")}
        table = pd.concat([table, pd.DataFrame([{"source": "all", "stage": "total",
                                                 "model": "", "pairs": None, **total}])],
                          ignore_index=True)
    return table


def chapter_settings(study_config: Mapping[str, Any],
                     overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The flat settings chapter 00 runs with: study-wide keys, its parameters, overrides."""
    entry: Mapping[str, Any] = {}
    for item in study_config.get("notebooks") or []:
        if isinstance(item, Mapping) and item.get("name") == CHAPTER:
            entry = item.get("parameters") or {}
    base = {k: study_config[k] for k in ("mode", "model", "seed") if k in study_config}
    return {**base, **entry, **(overrides or {})}


def derive_pairs(source: str, mode: str, config: ConstructionConfig,
                 revision: str | None = None) -> tuple[list[CandidatePair], DerivationReport,
                                                       str]:
    """Read a raw source (real: download once at ``revision``) and derive its pairs."""
    from persona_judge.construction.pairs import arena_pairs, prism_pairs
    from persona_judge.data.raw_arena import read_arena_votes
    from persona_judge.data.raw_prism import read_prism_conversations
    from persona_judge.data.raw_sources import raw_copy

    copy = raw_copy(source, mode, revision)  # type: ignore[arg-type]
    if source == "prism":
        pairs, report = prism_pairs(read_prism_conversations(copy.folder), config.pairing)
    elif source == "chatbot_arena":
        pairs, report = arena_pairs(read_arena_votes(copy.folder), config.pairing)
    else:
        raise ValueError(f"unknown source {source!r}; expected prism or chatbot_arena")
    return pairs, report, copy.describe()


def estimate_construction(study_config: Mapping[str, Any], *,
                          overrides: Mapping[str, Any] | None = None,
                          completion_tokens: int | None = None,
                          cache_path: str | Path | None = None) -> pd.DataFrame:
    """Dry-run the LLM stages of a construction run configured like ``study.yaml``.

    ``study_config`` is the loaded study configuration
    (``persona_judge.study.runner.load_config``); the chapter-00 entry's
    ``parameters`` and then ``overrides`` apply on top. Returns one row per
    source, stage and model, and a total row.
    """
    settings = chapter_settings(study_config, overrides)
    mode = str(settings.get("mode", "real"))
    config = ConstructionConfig.from_parameters(settings)
    revisions = settings.get("raw_revisions") or {}
    derived = {}
    for source in settings.get("sources") or ("prism", "chatbot_arena"):
        pairs, report, _ = derive_pairs(source, mode, config, revisions.get(source))
        derived[source] = (pairs, report)
    model = str(settings.get("model", "meta-llama/Llama-3.3-70B-Instruct-Turbo"))
    judges = settings.get("consensus_models") or [model]
    return estimate_llm_stages(derived, config, model=model, consensus_models=list(judges),
                               cache_path=cache_path, completion_tokens=completion_tokens,
                               mode=mode)


def estimate_chapter(params: Mapping[str, Any], options: Any) -> pd.DataFrame:
    """Chapter 00's estimator for ``persona-judge estimate`` (:mod:`persona_judge.study.estimate`).

    ``params`` are the values the runner passes the chapter; the table is
    :func:`estimate_construction`'s with the study-wide column names (``stage`` = source,
    stage and model; ``cache_hits``, ``prompt_tokens``, ``completion_tokens``).
    """
    table = estimate_construction(
        {"notebooks": [{"name": CHAPTER, "parameters": dict(params)}]},
        completion_tokens=getattr(options, "completion_tokens", None),
        cache_path=getattr(options, "cache_path", None))
    out = table.rename(columns={"cache hits": "cache_hits", "prompt tokens": "prompt_tokens",
                                "completion tokens": "completion_tokens"})
    out["stage"] = [stage if stage == "total" else f"{source}: {stage} ({model})"
                    for source, stage, model in zip(out["source"], out["stage"], out["model"],
                                                    strict=True)]
    return out
