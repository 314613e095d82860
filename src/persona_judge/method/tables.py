"""Plain tables of what the method did, for the chapters (02-05).

Each function turns fitted objects (step-1 results, artifacts) into a small
pandas DataFrame with one row per trace, candidate, user or fallback; the
notebooks display them and plot them, and contain no logic of their own. Pair
ids are opaque: tables show them whole and never take them apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from persona_judge.data.records import UserSplit
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.bootstrap import BootstrapResult, Trace
from persona_judge.method.judge import correct_letter
from persona_judge.method.selection import CandidateScore, Fallback, Spend


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _trace_rows(user: UserSplit, traces: Sequence[Trace], width: int) -> list[dict]:
    prefs = {p.pair_id: p for p in user.train}
    return [{
        "user_id": user.user_id,
        "pair_id": trace.pair_id,
        "query": _short(prefs[trace.pair_id].query, 50),
        "shown": trace.order,
        "beside it": len(trace.context),
        "judge said": trace.prediction or "none",
        "user chose": correct_letter(trace.order),
        "kept": "verified" if trace.verified else "discarded",
        "reasoning": _short(trace.reasoning or trace.failure or "", width),
    } for trace in traces]


def traces_table(users: Sequence[UserSplit], results: Mapping[str, BootstrapResult],
                 width: int = 90) -> pd.DataFrame:
    """One row per training pair: the judge's prediction, the user's choice, kept or not.

    ``beside it`` is the number of the user's other labelled choices the judge saw.
    """
    rows = [row for user in users
            for row in _trace_rows(user, results[user.user_id].traces, width)]
    return pd.DataFrame(rows)


def candidates_table(candidates: Sequence[CandidateScore], winner: int, *, user_id: str,
                     search: str) -> pd.DataFrame:
    """One row per candidate of a search: kind, demos, validation score, status, winner."""
    rows = [{"user_id": user_id, "search": search, "candidate": cand.index, "kind": cand.kind,
             "with reasoning": len(cand.members), "labelled only": len(cand.labelled),
             "correct": cand.n_correct, "judged": cand.n_judged,
             "val accuracy": None if cand.accuracy is None else 100 * cand.accuracy,
             "status": cand.status, "winner": cand.index == winner}
            for cand in candidates]
    return pd.DataFrame(rows)


def bootstrap_candidates_table(users: Sequence[UserSplit],
                               results: Mapping[str, BootstrapResult]) -> pd.DataFrame:
    """Step-1 candidates of every user (validation score of each set of demos)."""
    frames = [candidates_table(results[u.user_id].candidates, results[u.user_id].winner,
                               user_id=u.user_id, search="bootstrap reasoning") for u in users]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def demo_candidates_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """Step-3 candidates of every user (validation score with persona + that demo set)."""
    frames = [candidates_table(a.demo_candidates, a.demo_winner, user_id=u,
                               search="demo selection") for u, a in artifacts.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def winners_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """How many users' searches each kind of candidate won (step 1 and step 3)."""
    rows = []
    for search, attr, win in (("bootstrap reasoning", "bootstrap_candidates", "bootstrap_winner"),
                              ("demo selection", "demo_candidates", "demo_winner")):
        for art in artifacts.values():
            cands = getattr(art, attr)
            if cands:
                rows.append({"search": search, "winning kind": cands[getattr(art, win)].kind})
    if not rows:
        return pd.DataFrame(columns=["search", "winning kind", "users"])
    frame = pd.DataFrame(rows)
    return frame.value_counts().rename("users").reset_index()


def personas_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """One row per user: the persona, what it was written from, and any fallback."""
    return pd.DataFrame([{
        "user_id": u,
        "written from": f"{len(a.persona_source_pairs)} pairs "
                        f"({len(a.winning_traces)} with verified reasoning)",
        "persona": a.persona or "(none)",
        "fallbacks": "; ".join(f.code for f in a.fallbacks) or "-",
    } for u, a in artifacts.items()])


def final_prompts_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """One row per user: what the final judge prompt carries (persona? how many demos?)."""
    return pd.DataFrame([{
        "user_id": u,
        "persona": a.persona is not None,
        "demos": len(a.demo_set),
        "with reasoning": sum(d.reasoning is not None for d in a.demo_set),
        "winning step-3 candidate": (a.demo_candidates[a.demo_winner].kind
                                     if a.demo_candidates else "-"),
        "carries": a.prompt_content()[0],
    } for u, a in artifacts.items()],
        columns=["user_id", "persona", "demos", "with reasoning", "winning step-3 candidate",
                 "carries"])


def no_demo_summary(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """How many users' final prompts carry no demos (and no persona), out of how many."""
    n = len(artifacts)
    no_demos = sum(not a.demo_set for a in artifacts.values())
    no_persona = sum(a.persona is None for a in artifacts.values())
    neither = sum(not a.demo_set and a.persona is None for a in artifacts.values())
    rows = [("final prompt carries no demos", no_demos), ("no usable persona", no_persona),
            ("neither (default judge)", neither)]
    return pd.DataFrame([{"users": label, "count": k, "of": n,
                          "share (%)": 100 * k / n if n else None} for label, k in rows])


def fallback_table(fallbacks: Mapping[str, Sequence[Fallback]]) -> pd.DataFrame:
    """One row per fallback code: how many users hit it and how often, with an example.

    ``fallbacks`` maps each user to the fallbacks of their fit (``artifact.fallbacks``
    or, for step 1 alone, ``BootstrapResult.fallbacks``).
    """
    rows: dict[str, dict] = {}
    for user, taken in fallbacks.items():
        for f in taken:
            row = rows.setdefault(f.code, {"fallback": f.code, "step": f.step, "users": set(),
                                           "times": 0, "example": _short(f.detail, 90)})
            row["users"].add(user)
            row["times"] += 1
    out = [{**r, "users": len(r["users"])} for r in rows.values()]
    frame = pd.DataFrame(out, columns=["fallback", "step", "users", "times", "example"])
    return frame.sort_values(["users", "fallback"], ascending=[False, True],
                             ignore_index=True)


def spend_table(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """Requests, samples, rounds, parse failures and tokens per user and step."""
    rows = [{"user_id": u, "step": step, **s.to_dict()}
            for u, a in artifacts.items() for step, s in a.spend.items()]
    return pd.DataFrame(rows)


def parse_failures_table(spends: Mapping[str, Mapping[str, Spend]]) -> pd.DataFrame:
    """Per step over all users: samples, unparseable samples, their rate, no-choice judgments.

    ``spends`` maps each user to ``{step: Spend}`` (``artifact.spend``).
    """
    totals: dict[str, Spend] = {}
    for per_step in spends.values():
        for step, spend in per_step.items():
            totals[step] = totals.get(step, Spend()) + spend
    return pd.DataFrame([{
        "step": step, "requests": s.requests, "samples": s.samples,
        "unparseable samples": s.unparseable,
        "parse failure rate (%)": None if s.parse_failure_rate is None
        else 100 * s.parse_failure_rate,
        "no choice": s.no_choice, "failed calls": s.failed_calls,
    } for step, s in totals.items()])
