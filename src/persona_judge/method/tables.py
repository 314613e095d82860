"""Plain tables of what the method did, for the step-by-step chapters (02-04).

Each function turns fitted objects (step-1 results, artifacts) into a small
pandas DataFrame with one row per trace or candidate; the notebooks display
them and plot them, and contain no logic of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.bootstrap import BootstrapResult
from persona_judge.method.judge import correct_letter
from persona_judge.method.selection import CandidateScore


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def traces_table(users: Sequence[UserSplit], results: Mapping[str, BootstrapResult],
                 width: int = 90) -> pd.DataFrame:
    """One row per training pair: the judge's prediction, the user's choice, kept or not."""
    rows = []
    for user in users:
        prefs = {p.pair_id: p for p in user.train}
        for trace in results[user.user_id].traces:
            rows.append({
                "user_id": user.user_id,
                "pair": trace.pair_id.split("/", 1)[-1],
                "query": _short(prefs[trace.pair_id].query, 50),
                "shown": trace.order,
                "judge said": trace.prediction or "none",
                "user chose": correct_letter(trace.order),
                "kept": "verified" if trace.verified else "discarded",
                "reasoning": _short(trace.reasoning or trace.failure or "", width),
            })
    return pd.DataFrame(rows)


def candidates_table(candidates: Sequence[CandidateScore], winner: int, *, user_id: str,
                     search: str, verified: set[str] | None = None) -> pd.DataFrame:
    """One row per candidate of a search: size, validation score, status, winner."""
    rows = []
    for cand in candidates:
        row = {"user_id": user_id, "search": search, "candidate": cand.index,
               "pairs": len(cand.members)}
        if verified is not None:
            row["verified traces"] = sum(m in verified for m in cand.members)
        row.update({"correct": cand.n_correct, "judged": cand.n_judged,
                    "val accuracy": None if cand.accuracy is None else 100 * cand.accuracy,
                    "status": cand.status, "winner": cand.index == winner})
        rows.append(row)
    return pd.DataFrame(rows)


def bootstrap_candidates_table(users: Sequence[UserSplit],
                               results: Mapping[str, BootstrapResult]) -> pd.DataFrame:
    """Step-1 candidates of every user (validation score of each verified-trace set)."""
    frames = []
    for user in users:
        res = results[user.user_id]
        verified = {t.pair_id for t in res.traces if t.verified}
        frames.append(candidates_table(res.candidates, res.winner, user_id=user.user_id,
                                       search="bootstrap reasoning", verified=verified))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def demo_candidates_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """Step-3 candidates of every user (validation score with persona + that demo set)."""
    frames = [candidates_table(a.demo_candidates, a.demo_winner, user_id=u,
                               search="demo selection",
                               verified={t.pair_id for t in a.verified_traces})
              for u, a in artifacts.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def personas_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """One row per user: the persona, what it was written from, and any fallback."""
    return pd.DataFrame([{
        "user_id": u,
        "written from": f"{len(a.persona_source_pairs)} pairs "
                        f"({len(a.winning_traces)} verified traces)",
        "persona": a.persona or "(none)",
        "fallbacks": "; ".join(a.fallbacks) or "-",
    } for u, a in artifacts.items()])


def spend_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """Requests and tokens per user and step (cache hits report the original call's tokens)."""
    rows = [{"user_id": u, "step": step, **s.to_dict()}
            for u, a in artifacts.items() for step, s in a.spend.items()]
    return pd.DataFrame(rows)
