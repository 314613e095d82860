"""The three filters that turn raw preference pairs into PersonalRewardBench.

1. :func:`user_filter` keeps users with at least ``min_pairs`` pairs (free).
2. :func:`personalization_filter` asks an LLM, once per pair, whether the query
   leaves room for personal taste and whether the two replies differ in ways a
   person's taste could decide (template ``personalization_filter@v1``, one call
   answering both). A pair is kept when the answers required by ``require``
   (``"both"``, default; ``"query"``; ``"responses"``) are yes.
3. The **consensus filter** drops pairs where several judges agree one reply is
   simply better. Judges' verdicts are a table (:func:`llm_verdicts` asks our own
   judges through the client, template ``consensus_judge@v1``, every pair in both
   orders; :func:`recorded_verdicts` reads the five judges recorded in the
   published benchmark's ``prediction_*`` columns at no cost), and
   :func:`consensus_decisions` applies the rule: a pair's *agreement* is the share
   of all its judgments that picked the more-picked reply; it is dropped when that
   share reaches ``threshold`` (default 1.0: unanimous). ``direction="either"``
   (default) drops unanimity for either reply; ``"chosen"`` only when the judges
   agree with the person (keeping pairs where the person went against them).

Every LLM call goes through the study's one cached client, so a rerun costs
nothing. An answer that cannot be read is asked again once (``sample_index`` 1, at
``resample_temperature``); if still unreadable the pair is dropped and counted
as ``unparseable`` (we keep only pairs an LLM positively judged personal). In a dry
run (``client.dry_run``) every pair is assumed kept, so the estimate is an upper
bound for the later stages.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import pandas as pd

from persona_judge.construction.pairs import CandidatePair
from persona_judge.data.records import Turn, flip_order, other_order
from persona_judge.llm import ChatRequest, ChatResult, Judgment
from persona_judge.method.templates import load_template

PERSONALIZATION_TEMPLATE = "personalization_filter@v1"
CONSENSUS_TEMPLATE = "consensus_judge@v1"
PERSONALIZATION_MAX_TOKENS = 400
CONSENSUS_MAX_TOKENS = 400
ORDERS = ("chosen_first", "rejected_first")
#: The five judges whose predictions the published benchmark records.
PUBLISHED_JUDGES = ("gemini/gemini-1.5-pro", "meta-llama/Llama-3.3-70B-Instruct",
                    "azure/gpt-4o-mini-240718", "Qwen/Qwen2.5-72B-Instruct",
                    "meta-llama/Llama-3.1-70B-Instruct")


class FilterClient(Protocol):
    """What the filters need from :class:`persona_judge.llm.LLMClient`."""

    model: str
    dry_run: bool

    def chat_many(self, requests: Sequence[ChatRequest], desc: str | None = None
                  ) -> list[ChatResult]: ...

    def judge_many(self, requests: Sequence[ChatRequest], desc: str | None = None
                   ) -> list[Judgment]: ...


@dataclass(frozen=True)
class FilterStep:
    """What one filter did: pairs and users before and after, and why pairs went."""

    name: str
    pairs_in: int
    pairs_out: int
    users_in: int
    users_out: int
    removed_by_reason: Mapping[str, int]

    @property
    def pairs_removed(self) -> int:
        return self.pairs_in - self.pairs_out


def _users(pairs: Iterable[CandidatePair]) -> set[str]:
    return {p.user_id for p in pairs}


# -- 1. users ------------------------------------------------------------------------------
def user_filter(pairs: Sequence[CandidatePair], min_pairs: int, name: str = "user filter"
                ) -> tuple[list[CandidatePair], FilterStep]:
    """Keep the pairs of users who have at least ``min_pairs`` pairs."""
    if min_pairs < 1:
        raise ValueError(f"min_pairs_per_user must be at least 1, got {min_pairs}")
    counts = Counter(p.user_id for p in pairs)
    kept = [p for p in pairs if counts[p.user_id] >= min_pairs]
    dropped_users = sum(1 for n in counts.values() if n < min_pairs)
    reason = f"user has fewer than {min_pairs} pairs ({dropped_users} users)"
    step = FilterStep(name, len(pairs), len(kept), len(counts), len(_users(kept)),
                      {reason: len(pairs) - len(kept)} if len(kept) < len(pairs) else {})
    return kept, step


def users_by_threshold(pairs: Sequence[CandidatePair], thresholds: Iterable[int]
                       ) -> pd.DataFrame:
    """How many users and pairs a user filter keeps at each threshold (no LLM calls)."""
    counts = Counter(p.user_id for p in pairs)
    return pd.DataFrame([{"min pairs per user": t,
                          "users": sum(1 for n in counts.values() if n >= t),
                          "pairs": sum(n for n in counts.values() if n >= t)}
                         for t in thresholds])


# -- rendering -------------------------------------------------------------------------------
def render_context(context: Sequence[Turn]) -> str:
    """The conversation as plain text; PRISM's ``model`` role reads as Assistant."""
    names = {"user": "User", "assistant": "Assistant", "model": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(t.role, t.role.title())}: {t.content}" for t in context)


def _slots(pair: CandidatePair, order: str) -> tuple[str, str]:
    if order == "chosen_first":
        return pair.chosen.content, pair.rejected.content
    if order == "rejected_first":
        return pair.rejected.content, pair.chosen.content
    raise ValueError(f"order must be one of {ORDERS}, got {order!r}")


def _messages(template_id: str, pair: CandidatePair, order: str) -> tuple[dict[str, str], ...]:
    template = load_template(template_id)
    a, b = _slots(pair, order)
    return ({"role": "system", "content": template.render("system")},
            {"role": "user", "content": template.render(
                "user", conversation=render_context(pair.context), response_a=a,
                response_b=b)})


# -- 2. personalization ---------------------------------------------------------------------
def personalization_request(pair: CandidatePair, sample_index: int = 0,
                            temperature: float = 0.0) -> ChatRequest:
    """The one call that judges a pair's room for personal taste (order: the pair's flip)."""
    order = flip_order(pair.flip)
    return ChatRequest(
        messages=_messages(PERSONALIZATION_TEMPLATE, pair, order),
        template=PERSONALIZATION_TEMPLATE, temperature=temperature,
        max_tokens=PERSONALIZATION_MAX_TOKENS, sample_index=sample_index,
        labels={"user": pair.user_id, "pair": pair.pair_id, "step": "personalization filter"})


_BOOL_WORDS = {"true": True, "yes": True, "y": True, "1": True,
               "false": False, "no": False, "n": False, "0": False}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _BOOL_WORDS.get(value.strip().strip(".").lower())
    return None


@dataclass(frozen=True)
class PersonalizationAnswer:
    """A parsed personalization-filter answer; ``None`` fields when unreadable."""

    query_reasoning: str
    personalizable_query: bool | None
    response_reasoning: str
    personalizable_responses: bool | None

    @property
    def parsed(self) -> bool:
        return self.personalizable_query is not None and \
            self.personalizable_responses is not None


def parse_personalization(text: str) -> PersonalizationAnswer:
    """Read the JSON answer (bare or fenced; booleans or yes/no); never raises."""
    candidates = re.findall(r"```(?:json)?\s*(\{.*?\})\s*```", text, flags=re.S)
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            obj, end = decoder.raw_decode(text, position)
            candidates.append(json.dumps(obj))
            position = text.find("{", end)
        except ValueError:
            position = text.find("{", position + 1)
    for raw in reversed(candidates):
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        lowered = {str(k).lower(): v for k, v in obj.items()}
        query = _as_bool(lowered.get("personalizable_query"))
        responses = _as_bool(lowered.get("personalizable_responses"))
        if query is not None or responses is not None:
            return PersonalizationAnswer(str(lowered.get("query_reasoning") or ""), query,
                                         str(lowered.get("response_reasoning") or ""), responses)
    return PersonalizationAnswer("", None, "", None)


Require = Literal["both", "query", "responses"]


def personalization_filter(
    pairs: Sequence[CandidatePair], client: FilterClient, *, require: Require = "both",
    resample_temperature: float = 0.7,
) -> tuple[list[CandidatePair], pd.DataFrame, FilterStep]:
    """Ask the LLM about every pair; return kept pairs, one decision row per pair, the step."""
    if require not in ("both", "query", "responses"):
        raise ValueError(f"require must be 'both', 'query' or 'responses', got {require!r}")
    answers: dict[str, PersonalizationAnswer] = {}
    results = client.chat_many([personalization_request(p) for p in pairs],
                               desc="personalization filter")
    retry = []
    for pair, result in zip(pairs, results, strict=True):
        answer = parse_personalization(result.text) if result.ok else \
            PersonalizationAnswer("", None, "", None)
        answers[pair.pair_id] = answer
        if not answer.parsed and not client.dry_run:
            retry.append(pair)
    if retry:
        again = client.chat_many([personalization_request(p, 1, resample_temperature)
                                  for p in retry], desc="personalization filter (re-asked)")
        for pair, result in zip(retry, again, strict=True):
            if result.ok:
                answers[pair.pair_id] = parse_personalization(result.text)
    rows, kept, reasons = [], [], Counter()
    asked_twice = {p.pair_id for p in retry}
    for pair in pairs:
        answer = answers[pair.pair_id]
        if client.dry_run and not answer.parsed:
            keep, reason = True, "dry run: assumed kept"
        elif not answer.parsed:
            keep, reason = False, "unparseable answer (asked twice)"
        else:
            query_ok = bool(answer.personalizable_query)
            responses_ok = bool(answer.personalizable_responses)
            keep = {"both": query_ok and responses_ok, "query": query_ok,
                    "responses": responses_ok}[require]
            reason = "" if keep else (
                "query leaves no room for taste" if not query_ok and require != "responses"
                else "replies do not differ in taste")
        if keep:
            kept.append(pair)
        else:
            reasons[reason] += 1
        rows.append({"pair_id": pair.pair_id, "user_id": pair.user_id,
                     "query_reasoning": answer.query_reasoning,
                     "personalizable_query": answer.personalizable_query,
                     "response_reasoning": answer.response_reasoning,
                     "personalizable_responses": answer.personalizable_responses,
                     "asked": 2 if pair.pair_id in asked_twice else 1,
                     "keep": keep, "reason": reason})
    step = FilterStep("personalization filter", len(pairs), len(kept), len(_users(pairs)),
                      len(_users(kept)), dict(reasons))
    return kept, pd.DataFrame(rows), step


# -- 3. consensus ----------------------------------------------------------------------------
VERDICT_COLUMNS = ("pair_id", "judge", "order", "picked")


def consensus_request(pair: CandidatePair, order: str, judge: str) -> ChatRequest:
    return ChatRequest(
        messages=_messages(CONSENSUS_TEMPLATE, pair, order), template=CONSENSUS_TEMPLATE,
        temperature=0.0, max_tokens=CONSENSUS_MAX_TOKENS,
        labels={"user": pair.user_id, "pair": pair.pair_id,
                "step": f"consensus filter ({judge}, {order})"})


def llm_verdicts(pairs: Sequence[CandidatePair], clients: Mapping[str, FilterClient]
                 ) -> pd.DataFrame:
    """Each judge's verdict on each pair in both orders: picked ``chosen``/``rejected``/None."""
    rows = []
    for judge, client in clients.items():
        requests = [consensus_request(p, order, judge) for p in pairs for order in ORDERS]
        judgments = client.judge_many(requests, desc=f"consensus judge {judge}")
        for (pair, order), judgment in zip(((p, o) for p in pairs for o in ORDERS), judgments,
                                           strict=True):
            picked = None
            if judgment.choice is not None:
                chosen_slot = "A" if order == "chosen_first" else "B"
                picked = "chosen" if judgment.choice == chosen_slot else "rejected"
            rows.append({"pair_id": pair.pair_id, "judge": judge, "order": order,
                         "picked": picked, "reasoning": judgment.reasoning or None})
    return pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, "reasoning"])


_FIRST = {"a", "first", "1", "response a", "option a", "completion_one", "one"}
_SECOND = {"b", "second", "2", "response b", "option b", "completion_two", "two"}


def recorded_slot(value: Any) -> int | None:
    """Which slot a recorded prediction names: 1 (first shown), 2 (second) or None.

    The published columns' value form is not documented; ``"First"``/``"Second"``
    (the paper's code's judge outputs), ``"A"``/``"B"`` and ``1``/``2`` are read,
    anything else (a tie, empty) is no verdict.
    """
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip().strip(".").lower()
    if text in _FIRST:
        return 1
    if text in _SECOND:
        return 2
    return None


def recorded_judges(columns: Iterable[str]) -> list[str]:
    """The judge names that have ``prediction_<judge>`` columns among ``columns``."""
    return [c[len("prediction_"):] for c in columns
            if c.startswith("prediction_") and not c.startswith("prediction_flip_")]


def recorded_verdicts(rows: Iterable[Any], judges: Sequence[str] | None = None,
                      key: str = "pair_id") -> pd.DataFrame:
    """Verdicts read from published rows' ``prediction_<judge>`` / ``prediction_flip_<judge>``.

    ``rows`` are benchmark ``Preference`` records (their ``extra`` holds the
    columns) or plain row dicts; ``judges`` defaults to every judge with a
    ``prediction_<judge>`` column in the row (the published benchmark has five,
    :data:`PUBLISHED_JUDGES`). Our reading of the columns, following the
    paper's code (:func:`persona_judge.data.records.flip_order`): a row with ``flip``
    True was shown chosen-first in ``prediction_<judge>``, and
    ``prediction_flip_<judge>`` is the other order.
    """
    out = []
    for row in rows:
        if isinstance(row, Mapping):
            values, flip, pair_id = row, bool(row.get("flip")), str(row[key])
        else:
            values, flip, pair_id = dict(row.extra), bool(row.flip), str(getattr(row, key))
        base = flip_order(flip)
        other = other_order(base)
        for judge in judges if judges is not None else recorded_judges(values):
            for column, order in ((f"prediction_{judge}", base),
                                  (f"prediction_flip_{judge}", other)):
                if column not in values or values[column] is None:
                    continue
                slot = recorded_slot(values[column])
                picked = None
                if slot is not None:
                    chosen_slot = 1 if order == "chosen_first" else 2
                    picked = "chosen" if slot == chosen_slot else "rejected"
                out.append({"pair_id": pair_id, "judge": judge, "order": order,
                            "picked": picked})
    return pd.DataFrame(out, columns=list(VERDICT_COLUMNS))


Direction = Literal["either", "chosen"]


def consensus_decisions(verdicts: pd.DataFrame, pair_ids: Iterable[str] | None = None, *,
                        threshold: float = 1.0, direction: Direction = "either"
                        ) -> pd.DataFrame:
    """Per pair: judgments, votes for each reply, agreement, and whether the pair is kept.

    ``agreement`` = votes for the more-picked reply / all judgments (a judgment
    with no verdict counts in the denominator: a tie is not agreement). Pairs in
    ``pair_ids`` without any judgment are kept with ``reason`` "no verdicts".
    """
    if not 0.5 < threshold <= 1.0:
        raise ValueError(f"consensus threshold must be in (0.5, 1], got {threshold}")
    if direction not in ("either", "chosen"):
        raise ValueError(f"direction must be 'either' or 'chosen', got {direction!r}")
    rows = []
    grouped = {pid: g for pid, g in verdicts.groupby("pair_id", sort=False)} \
        if len(verdicts) else {}
    order = list(pair_ids) if pair_ids is not None else list(grouped)
    for pid in order:
        group = grouped.get(pid)
        if group is None:
            rows.append({"pair_id": pid, "judgments": 0, "for_chosen": 0, "for_rejected": 0,
                         "agreement": None, "share_chosen": None, "keep": True,
                         "reason": "no verdicts"})
            continue
        n = len(group)
        for_chosen = int((group["picked"] == "chosen").sum())
        for_rejected = int((group["picked"] == "rejected").sum())
        agreement = max(for_chosen, for_rejected) / n
        share_chosen = for_chosen / n
        if direction == "either":
            drop = agreement >= threshold
            reason = ("judges agree the chosen reply is better" if for_chosen >= for_rejected
                      else "judges agree the rejected reply is better") if drop else ""
        else:
            drop = share_chosen >= threshold
            reason = "judges agree the chosen reply is better" if drop else ""
        rows.append({"pair_id": pid, "judgments": n, "for_chosen": for_chosen,
                     "for_rejected": for_rejected, "agreement": agreement,
                     "share_chosen": share_chosen, "keep": not drop, "reason": reason})
    return pd.DataFrame(rows, columns=["pair_id", "judgments", "for_chosen", "for_rejected",
                                       "agreement", "share_chosen", "keep", "reason"])


def consensus_filter(pairs: Sequence[CandidatePair], verdicts: pd.DataFrame, *,
                     threshold: float = 1.0, direction: Direction = "either"
                     ) -> tuple[list[CandidatePair], pd.DataFrame, FilterStep]:
    """Apply :func:`consensus_decisions` to ``pairs``; return kept pairs, decisions, step."""
    decisions = consensus_decisions(verdicts, [p.pair_id for p in pairs], threshold=threshold,
                                    direction=direction)
    keep = dict(zip(decisions["pair_id"], decisions["keep"], strict=True))
    kept = [p for p in pairs if keep[p.pair_id]]
    reasons = Counter(decisions.loc[~decisions["keep"], "reason"])
    step = FilterStep("consensus filter", len(pairs), len(kept), len(_users(pairs)),
                      len(_users(kept)), dict(reasons))
    return kept, decisions, step
