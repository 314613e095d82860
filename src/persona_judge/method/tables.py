"""Plain tables of what the method did, for the chapters (02-05).

Each function turns fitted objects (step-1 results, artifacts) into a small
pandas DataFrame with one row per trace, candidate, user or fallback; the
notebooks display them and plot them, and contain no logic of their own. Long
tables (one row per trace or candidate) come with a per-user summary
(:func:`trace_summary`, :func:`candidate_summary`) that a page shows first, and
:func:`trace_card` writes one trace out in full for a reader. Pair ids are
opaque: tables show them whole and never take them apart.
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


def _quote(text: str) -> str:
    """Markdown block quote of a text, line by line (an empty text gives an empty quote)."""
    return "\n".join("> " + line for line in text.splitlines() or [""])


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


def trace_summary(traces: pd.DataFrame) -> pd.DataFrame:
    """Per user, from :func:`traces_table`: training pairs, verified, discarded, no answer.

    ``no answer`` counts discarded traces whose judge gave no choice at all (a failed
    call, an unparseable answer, a tie); ``verified (%)`` is the share of training
    pairs whose reasoning reached the user's real choice.
    """
    columns = ["user_id", "training pairs", "verified", "discarded", "no answer",
               "verified (%)"]
    if traces.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for user, part in traces.groupby("user_id", sort=False):
        verified = int((part["kept"] == "verified").sum())
        rows.append({"user_id": user, "training pairs": len(part), "verified": verified,
                     "discarded": len(part) - verified,
                     "no answer": int((part["judge said"] == "none").sum()),
                     "verified (%)": 100 * verified / len(part)})
    return pd.DataFrame(rows, columns=columns)


def candidate_summary(candidates: pd.DataFrame) -> pd.DataFrame:
    """Per user and search, from :func:`candidates_table`: how the search went, in one row.

    Rows follow the users' order, each user's searches together. ``judged`` counts
    candidates whose prompts were sent (not copies of an earlier candidate, not skipped
    after the early stop); ``val pairs`` is the number of validation pairs that decide;
    ``winner`` names the winning candidate's number and kind, ``val accuracy (%)`` its
    score; ``ties`` counts the other candidates with the winner's score (ties go to the
    earliest; with one validation pair most candidates tie).
    """
    columns = ["user_id", "search", "candidates", "judged", "val pairs", "winner",
               "val accuracy (%)", "ties"]
    if candidates.empty:
        return pd.DataFrame(columns=columns)
    users = list(dict.fromkeys(candidates["user_id"]))
    searches = list(dict.fromkeys(candidates["search"]))
    rows = []
    for user in users:
        for search in searches:
            part = candidates[(candidates["user_id"] == user) & (candidates["search"] == search)]
            if part.empty:
                continue
            won = part[part["winner"].astype(bool)]
            win = won.iloc[0] if len(won) else None
            accuracy = part["val accuracy"].astype(float)
            win_acc = None if win is None or pd.isna(win["val accuracy"]) else \
                float(win["val accuracy"])
            rows.append({
                "user_id": user, "search": search, "candidates": len(part),
                "judged": int(part["status"].isin(["scored", "scored after the stop"]).sum()),
                "val pairs": int(part["judged"].max()),
                "winner": "-" if win is None else f"#{int(win['candidate'])} {win['kind']}",
                "val accuracy (%)": win_acc,
                "ties": 0 if win_acc is None else int((accuracy == win_acc).sum()) - 1,
            })
    return pd.DataFrame(rows, columns=columns)


def demos_table(artifacts: Mapping[str, SynthesizeMeArtifact], width: int = 70
                ) -> pd.DataFrame:
    """One row per chosen demonstration: user, pair, query (shortened), order, answer, reasoning?"""
    rows = [{"user_id": u, "pair_id": d.preference.pair_id,
             "query": _short(d.preference.query, width), "shown": d.order, "answer": d.answer,
             "with reasoning": d.reasoning is not None}
            for u, a in artifacts.items() for d in a.demo_set]
    return pd.DataFrame(rows, columns=["user_id", "pair_id", "query", "shown", "answer",
                                       "with reasoning"])


def requests_by_step(artifacts: Mapping[str, SynthesizeMeArtifact]) -> pd.DataFrame:
    """Per user: requests in each step of the fit, and the rounds on its critical path."""
    spend = spend_table(artifacts)
    if spend.empty:
        return pd.DataFrame(columns=["user_id", "rounds"])
    steps = list(dict.fromkeys(spend["step"]))
    table = spend.pivot_table(index="user_id", columns="step", values="requests",
                              aggfunc="sum", sort=False).reindex(columns=steps)
    table["rounds"] = spend.groupby("user_id", sort=False)["rounds"].sum()
    return table.reset_index().rename_axis(None, axis=1)


def trace_card(user: UserSplit, trace: Trace) -> str:
    """One trace written out for a reader (Markdown): the pair as shown, answer, reasoning."""
    pref = next(p for p in user.train if p.pair_id == trace.pair_id)
    first, second = ((pref.chosen, pref.rejected) if trace.order == "chosen_first"
                     else (pref.rejected, pref.chosen))
    n_earlier = len(pref.context) - 1
    earlier = f" (after {n_earlier} earlier turns)" if n_earlier > 0 else ""
    verdict = ("verified: the judge picked the reply the user chose" if trace.verified else
               "discarded: " + ("the judge gave no choice" if trace.prediction is None
                                else "the judge picked the reply the user rejected"))
    return (f"**Pair** `{trace.pair_id}` · judge said **{trace.prediction or 'nothing'}**, "
            f"the user chose **{correct_letter(trace.order)}** ({verdict}).\n\n"
            f"**The user's message**{earlier}\n\n{_quote(pref.query)}\n\n"
            f"**Reply A**\n\n{_quote(first.content)}\n\n"
            f"**Reply B**\n\n{_quote(second.content)}\n\n**The judge's reasoning**\n\n"
            f"{_quote(trace.reasoning or trace.failure or '(none)')}")
