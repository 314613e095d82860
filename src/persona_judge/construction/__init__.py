"""Benchmark construction: PersonalRewardBench re-derived from raw PRISM and Chatbot Arena.

The modules follow the construction in order:

* :mod:`~persona_judge.construction.pairs` -- preference pairs from raw records
  (PRISM conversation trees, Chatbot Arena votes), with ids that trace back to them;
* :mod:`~persona_judge.construction.filters` -- the three filters: enough pairs per
  user, an LLM's personalization check, and the consensus of several judges;
* :mod:`~persona_judge.construction.splits` -- seeded per-user train/val/test splits;
* :mod:`~persona_judge.construction.pipeline` -- the stages run in order for one source;
* :mod:`~persona_judge.construction.compare` -- beside the published benchmark;
* :mod:`~persona_judge.construction.output` -- written in the loaders' on-disk form;
* :mod:`~persona_judge.construction.estimate` -- the cost of a run, before it is spent;
* :mod:`~persona_judge.construction.figures` -- the funnel figure;
* :mod:`~persona_judge.construction.smoke` -- the scripted stand-in for smoke runs.

The raw sources themselves are read by :mod:`persona_judge.data.raw_prism`,
:mod:`persona_judge.data.raw_arena` and :mod:`persona_judge.data.raw_sources`.
"""

from persona_judge.construction.output import (
    constructed_dir,
    dataset_name,
    load_constructed,
    write_constructed,
)
from persona_judge.construction.pairs import (
    CandidatePair,
    DerivationReport,
    PairingConfig,
    arena_pairs,
    prism_pairs,
)
from persona_judge.construction.pipeline import (
    ConstructionConfig,
    ConstructionResult,
    construct_source,
)

__all__ = [
    "CandidatePair", "ConstructionConfig", "ConstructionResult", "DerivationReport",
    "PairingConfig", "arena_pairs", "construct_source", "constructed_dir", "dataset_name",
    "load_constructed", "prism_pairs", "write_constructed",
]
