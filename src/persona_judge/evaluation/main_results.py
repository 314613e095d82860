"""The main comparison, as one function: fit SynthesizeMe, judge the test pairs, beside baselines.

:func:`run_main_results` is what chapter 05 runs and what ``persona-judge
estimate`` dry-runs, so the estimate counts exactly the calls the chapter makes:

1. fit SynthesizeMe (persona + demos) on every user (train + val);
2. evaluate it on every test pair in both orders;
3. evaluate the "just personas" ablation: the **same** fitted persona without
   the demos (``artifact.with_components(("persona",))``; no refit, no calls
   beyond its test judgments);
4. evaluate the default judge (no user information) on the same judgments.

Each stage's calls, cache hits, tokens and dollars are read off the client's
``RunStats`` before and after, so a notebook can show what the run spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.evaluation.predict import evaluate, fit_users, records_frame
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.judge import DefaultJudgeMethod
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig

_COUNTERS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "dollars")


@dataclass
class MainResults:
    """Fitted artifacts, every test judgment of every method, and what each stage spent."""

    artifacts: dict[str, SynthesizeMeArtifact]
    judgments: pd.DataFrame
    spend: pd.DataFrame

    def save(self, folder: str | Path) -> Path:
        """Write ``artifacts/<user>.json``, ``judgments.csv`` and ``spend.csv`` into ``folder``."""
        folder = Path(folder)
        for i, art in enumerate(self.artifacts.values()):
            art.save(folder / "artifacts" / f"{i:04d}.json")
        self.judgments.to_csv(folder / "judgments.csv", index=False)
        self.spend.to_csv(folder / "spend.csv", index=False)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> MainResults:
        folder = Path(folder)
        arts = [SynthesizeMeArtifact.load(p) for p in sorted((folder / "artifacts").glob("*.json"))]
        judgments = pd.read_csv(folder / "judgments.csv", dtype={"user_id": str, "pair_id": str})
        judgments["choice"] = judgments["choice"].astype(object).where(judgments["choice"].notna(),
                                                                       None)
        return cls({a.user_id: a for a in arts}, judgments, pd.read_csv(folder / "spend.csv"))


def _snapshot(client: Any) -> dict[str, float]:
    stats = client.stats.to_dict()
    return {k: stats.get(k, 0) for k in _COUNTERS}


def run_main_results(users: Sequence[UserSplit], client: Any,
                     config: SynthesizeMeConfig | None = None, *, max_workers: int = 4,
                     progress: bool = True) -> MainResults:
    """Fit and evaluate SynthesizeMe, its persona-only ablation and the default judge."""
    full = SynthesizeMe(config or SynthesizeMeConfig())
    persona_only = SynthesizeMe(SynthesizeMeConfig(components=("persona",)))
    default = DefaultJudgeMethod()
    spend_rows: list[dict[str, Any]] = []

    def stage(name: str, before: dict[str, float]) -> None:
        after = _snapshot(client)
        spend_rows.append({"stage": name, **{k: after[k] - before[k] for k in _COUNTERS}})

    before = _snapshot(client)
    artifacts = fit_users(full, users, client, max_workers=max_workers, progress=progress)
    stage(f"fit {full.name}", before)
    records = []
    for method, states in (
        (full, artifacts),
        (persona_only, {u: a.with_components(("persona",)) for u, a in artifacts.items()}),
        (default, {u.user_id: None for u in users}),
    ):
        before = _snapshot(client)
        records += evaluate(method, users, client, states)
        stage(f"evaluate {method.name}", before)
    spend = pd.DataFrame(spend_rows)
    total = spend[list(_COUNTERS)].sum()
    spend = pd.concat([spend, pd.DataFrame([{"stage": "total", **total.to_dict()}])],
                      ignore_index=True)
    counts = [k for k in _COUNTERS if k != "dollars"]
    spend[counts] = spend[counts].astype(int)
    return MainResults(artifacts, records_frame(records), spend)
