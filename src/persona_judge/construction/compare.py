"""Our construction beside the published PersonalRewardBench.

* :func:`match_published` pairs our constructed pairs with published rows. The
  published rows carry no raw ids beyond ``user_id`` and ``conversation_id``, so a
  match needs the same conversation id and the same chosen and rejected texts
  (whitespace-normalised); failing that (Chatbot Arena's published
  ``conversation_id`` may not be the vote's ``question_id``), the same last user
  message and the same two texts.
* :func:`funnel_table` sets each stage's users and pairs beside the paper's final
  counts (131 Chatbot Arena users, 723 PRISM users; the paper gives no
  intermediate counts).
* :func:`overlap_table`: users and pairs that both, only we, or only the paper kept.
* :func:`decision_agreement`: on matched pairs, how often our personalization
  answers agree with the published ``personalizable_query`` /
  ``personalizable_responses``, and our consensus rule with theirs. The published
  rows are the survivors of their filters, so these numbers say how many of
  *their* kept pairs our filters would also keep.
* :func:`recorded_consensus` applies our consensus rule to every published row
  from its recorded judge columns (no LLM calls), and
  :func:`agreement_column_check` tests which reading of the published
  ``agreement`` column fits those recorded verdicts best.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from persona_judge.construction.filters import consensus_decisions, recorded_verdicts
from persona_judge.construction.pairs import CandidatePair

PAPER_USERS = {"chatbot_arena": 131, "prism": 723}
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _published_fields(pref: Any) -> tuple[str, str, str, str, str]:
    query = pref.query if hasattr(pref, "query") else ""
    return (str(pref.pair_id), str(pref.conversation_id), _norm(query),
            _norm(pref.chosen.content), _norm(pref.rejected.content))


def match_published(pairs: Iterable[CandidatePair], published: Iterable[Any]) -> pd.DataFrame:
    """``pair_id`` -> ``published_pair_id`` for every pair found in the published rows."""
    by_id: dict[tuple[str, str, str], str] = {}
    by_text: dict[tuple[str, str, str], str] = {}
    for pref in published:
        pid, conversation, query, chosen, rejected = _published_fields(pref)
        by_id.setdefault((conversation, chosen, rejected), pid)
        by_text.setdefault((query, chosen, rejected), pid)
    rows, used = [], set()
    for pair in pairs:
        chosen, rejected = _norm(pair.chosen.content), _norm(pair.rejected.content)
        hit = by_id.get((pair.conversation_id, chosen, rejected))
        how = "conversation id + texts"
        if hit is None:
            hit = by_text.get((_norm(pair.query), chosen, rejected))
            how = "query + texts"
        if hit is not None and hit not in used:
            used.add(hit)
            rows.append({"pair_id": pair.pair_id, "published_pair_id": hit, "matched_by": how})
    return pd.DataFrame(rows, columns=["pair_id", "published_pair_id", "matched_by"])


def funnel_table(results: Sequence[Any]) -> pd.DataFrame:
    """Each source's stages (users, pairs) with the paper's final user count beside them."""
    frames = []
    for result in results:
        table = result.stage_table()
        table.insert(0, "source", result.source)
        table["paper users"] = None
        table.loc[table.index[-1], "paper users"] = PAPER_USERS.get(result.source)
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def overlap_table(pairs: Sequence[CandidatePair], published: Sequence[Any],
                  matches: pd.DataFrame) -> pd.DataFrame:
    """Users and pairs kept by both constructions, only ours, or only the published one."""
    ours_users = {p.user_id for p in pairs}
    their_users = {str(p.user_id) for p in published}
    matched = len(matches)
    return pd.DataFrame([
        {"what": "users", "ours": len(ours_users), "published": len(their_users),
         "in both": len(ours_users & their_users),
         "only ours": len(ours_users - their_users),
         "only published": len(their_users - ours_users)},
        {"what": "pairs", "ours": len(pairs), "published": len(published), "in both": matched,
         "only ours": len(pairs) - matched, "only published": len(published) - matched},
    ])


def _published_value(pref: Any, column: str) -> Any:
    extra = getattr(pref, "extra", None)
    if extra is not None:
        return extra.get(column)
    return pref.get(column) if isinstance(pref, dict) else None


def decision_agreement(matches: pd.DataFrame, published: Sequence[Any], *,
                       personalization: pd.DataFrame | None = None,
                       consensus: pd.DataFrame | None = None) -> pd.DataFrame:
    """How often our decisions on matched pairs agree with the published construction columns."""
    by_id = {str(p.pair_id): p for p in published}
    rows = []
    decided = []
    if personalization is not None and len(personalization):
        decided += [("personalizable_query", personalization, "personalizable_query"),
                    ("personalizable_responses", personalization, "personalizable_responses")]
    if consensus is not None and len(consensus):
        decided.append(("kept by the consensus filter", consensus, "keep"))
    for column, table, ours_column in decided:
        ours = dict(zip(table["pair_id"], table[ours_column], strict=True))
        compared = agree = ours_true = theirs_true = 0
        for pid, published_id in zip(matches["pair_id"], matches["published_pair_id"],
                                     strict=True):
            mine = ours.get(pid)
            if column.startswith("kept"):
                theirs: Any = True  # a published row is by definition one their filter kept
            else:
                theirs = _published_value(by_id[published_id], column)
            if mine is None or pd.isna(mine) or theirs is None:
                continue
            compared += 1
            agree += bool(mine) == bool(theirs)
            ours_true += bool(mine)
            theirs_true += bool(theirs)
        rows.append({"decision": column, "matched pairs compared": compared,
                     "ours yes": ours_true, "published yes": theirs_true,
                     "agreement (%)": round(100 * agree / compared, 1) if compared else None})
    return pd.DataFrame(rows, columns=["decision", "matched pairs compared", "ours yes",
                                       "published yes", "agreement (%)"])


def recorded_consensus(published: Sequence[Any], *, threshold: float = 1.0,
                       direction: str = "either", judges: Sequence[str] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Our consensus rule on every published row, from its recorded judge columns (free).

    ``judges`` defaults to every judge with recorded columns. Returns the per-pair
    decisions and a one-row summary.
    """
    verdicts = recorded_verdicts(published, judges)
    decisions = consensus_decisions(verdicts, [str(p.pair_id) for p in published],
                                    threshold=threshold, direction=direction)  # type: ignore[arg-type]
    with_verdicts = decisions[decisions["judgments"] > 0]
    summary = pd.DataFrame([{
        "published pairs": len(decisions),
        "with recorded verdicts": len(with_verdicts),
        "judgments per pair (median)": float(with_verdicts["judgments"].median())
        if len(with_verdicts) else None,
        "our rule would drop": int((~with_verdicts["keep"]).sum()),
        "mean agreement": round(float(with_verdicts["agreement"].mean()), 3)
        if len(with_verdicts) else None,
        "mean share for the chosen reply": round(float(with_verdicts["share_chosen"].mean()), 3)
        if len(with_verdicts) else None,
    }])
    return decisions, summary


def agreement_column_check(published: Sequence[Any], decisions: pd.DataFrame) -> pd.DataFrame:
    """Which reading of the published ``agreement`` column fits the recorded verdicts best.

    Candidates: the share of judgments picking the person's chosen reply, and the
    share picking the more-picked reply (our ``agreement``). Reported as the mean
    absolute difference over rows that have both (0 = a perfect fit).
    """
    recorded = {str(p.pair_id): _published_value(p, "agreement") for p in published}
    table = decisions[decisions["judgments"] > 0].copy()
    table["published agreement"] = table["pair_id"].map(recorded)
    table = table[table["published agreement"].notna()]
    rows = []
    for name, column in (("share of judgments for the chosen reply", "share_chosen"),
                         ("share for the more-picked reply", "agreement")):
        if not len(table):
            rows.append({"reading": name, "rows compared": 0, "mean absolute difference": None})
            continue
        diff = (table[column].astype(float) - table["published agreement"].astype(float)).abs()
        rows.append({"reading": name, "rows compared": len(table),
                     "mean absolute difference": round(float(diff.mean()), 3)})
    return pd.DataFrame(rows)
