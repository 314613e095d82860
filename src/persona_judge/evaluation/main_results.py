"""The main comparison, as one function: fit SynthesizeMe, judge the test pairs, beside baselines.

:func:`run_main_results` is what chapter 05 runs and what ``persona-judge
estimate`` dry-runs, so the estimate counts exactly the calls the chapter makes:

1. fit SynthesizeMe (persona + demos) on every user (train + val);
2. evaluate it on every test pair in both orders;
3. evaluate the "just personas" ablation: the **same** fitted persona without
   the demos (``artifact.with_components(("persona",))``; no refit, no calls
   beyond its test judgments); a user with no usable persona is then judged by
   the default judge, and every such judgment is flagged (``flag`` column);
4. evaluate the "just demos" ablation: the same fitted demos without the
   persona (``with_components(("demos",))``), flagged likewise for a user whose
   final prompt has no demos;
5. evaluate the default judge (no user information) on the same judgments.

Each stage's calls, cache hits, retries, resamples, failures, tokens and dollars
are read off the client's ``RunStats`` before and after, so a notebook can show
what the run spent (endpoint calls, not just method requests).

:meth:`MainResults.save` empties the folder it writes into first, so a rerun with
fewer users never shows stale ones; give it ``paths.run_dir("main_results",
settings)`` so that different runs never share a folder.
"""

from __future__ import annotations

import shutil
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

_COUNTERS = ("calls", "cache_hits", "attempts", "retries", "resamples", "failures",
             "prompt_tokens", "completion_tokens", "dollars")
FULL = "SynthesizeMe (persona + demos)"
JUST_PERSONAS = "SynthesizeMe (persona only)"
JUST_DEMOS = "SynthesizeMe (demos only)"
DEFAULT = "default judge"


@dataclass
class MainResults:
    """Fitted artifacts, every test judgment of every method, and what each stage spent."""

    artifacts: dict[str, SynthesizeMeArtifact]
    judgments: pd.DataFrame
    spend: pd.DataFrame

    def save(self, folder: str | Path) -> Path:
        """Write ``artifacts/<n>.json``, ``judgments.csv`` and ``spend.csv`` into ``folder``,
        replacing whatever an earlier run left there."""
        folder = Path(folder)
        for old in (folder / "artifacts", folder / "judgments.csv", folder / "spend.csv"):
            if old.is_dir():
                shutil.rmtree(old)
            elif old.exists():
                old.unlink()
        for i, art in enumerate(self.artifacts.values()):
            art.save(folder / "artifacts" / f"{i:04d}.json")
        self.judgments.to_csv(folder / "judgments.csv", index=False)
        self.spend.to_csv(folder / "spend.csv", index=False)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> MainResults:
        folder = Path(folder)
        arts = [SynthesizeMeArtifact.load(p) for p in sorted((folder / "artifacts").glob("*.json"))]
        judgments = pd.read_csv(folder / "judgments.csv", dtype={
            "user_id": str, "pair_id": str, "carries": str, "flag": str}, keep_default_na=False,
            na_values={"choice": [""], "failure": [""]})
        for column in ("choice", "failure"):
            judgments[column] = judgments[column].astype(object).where(
                judgments[column].notna(), None)
        return cls({a.user_id: a for a in arts}, judgments, pd.read_csv(folder / "spend.csv"))


def _snapshot(client: Any) -> dict[str, float]:
    stats = client.stats.to_dict()
    return {k: stats.get(k, 0) for k in _COUNTERS}


def run_main_results(users: Sequence[UserSplit], client: Any,
                     config: SynthesizeMeConfig | None = None, *, max_workers: int = 4,
                     progress: bool = True) -> MainResults:
    """Fit SynthesizeMe once; evaluate it, its two ablations and the default judge."""
    config = config or SynthesizeMeConfig()
    full = SynthesizeMe(config, name=FULL)
    just_personas = SynthesizeMe(config, name=JUST_PERSONAS)
    just_demos = SynthesizeMe(config, name=JUST_DEMOS)
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
        (just_personas, {u: a.with_components(("persona",)) for u, a in artifacts.items()}),
        (just_demos, {u: a.with_components(("demos",)) for u, a in artifacts.items()}),
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
