"""The recorded judges: five LLM judges' published verdicts, scored with this study's protocol.

PersonalRewardBench ships, for every pair, the verdicts of five LLM judges in both
orders: ``prediction_<judge>`` for the pair shown in the row's own order and
``prediction_flip_<judge>`` for the other order (:data:`RECORDED_JUDGES`). Scoring them
costs nothing (no LLM call) and puts five more judges beside ours, on exactly the same
users, test pairs and orders. :func:`recorded_judgments` turns them into the same
:class:`~persona_judge.evaluation.predict.JudgmentRecord` rows every method produces
(method ``recorded: <judge>``, zero tokens, zero attempts), so every table and
statistic treats them alike.

**Which order a column holds.** We read the columns as the construction module does
(:func:`persona_judge.construction.filters.recorded_verdicts`, through
:func:`persona_judge.data.records.flip_order`): a row with ``flip`` True was shown chosen
reply first in ``prediction_<judge>``, and ``prediction_flip_<judge>`` is the reversed
order. This is our reading of the public code, not documented by the benchmark;
``flip_means_chosen_first=False`` inverts it if the real data says otherwise (the Llama
3.3 70B agreement check in the
results chapter would show the inversion as accuracy far below 50%).

**Which values are read** (the published value form is not documented, so parsing is
defensive and every rule is here):

* ``"First"`` / ``"Second"`` (the paper's code's answers), ``"A"`` / ``"B"``,
  ``"one"`` / ``"two"``, ``"1"`` / ``"2"``, each also after ``Response``, ``Option``,
  ``Reply``, ``Completion``, ``Output``, ``Assistant`` or ``Model`` (``"Response A"``,
  ``"completion_one"``, ``"Output 2"``), and ``"first response"``, ``"the second"``,
  ``"1st"`` / ``"2nd"``: case, spaces, quotes, brackets (``"[[A]]"``) and a final full stop
  ignored;
* numbers (or numeric strings): ``1`` first, ``2`` or ``-1`` second (the public code's
  ``predict_pairwise`` returns 1 / -1), ``0`` a tie;
* ``"tie"``, ``"equal"``, ``"both"``, ``"neither"``: a tie;
* missing (None, NaN, empty text, no column): no verdict.

A tie, a missing verdict and anything else (an unparseable value) **count as wrong**,
exactly like an unparseable answer of our own judges; the record's ``failure`` says
which (``tie``, ``missing``, ``unparseable: <value>``), so a chapter can count them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from persona_judge.data.records import Preference, UserSplit
from persona_judge.evaluation.predict import JudgmentRecord
from persona_judge.method.judge import ORDERS, Order, correct_letter

#: The five judges whose verdicts the published benchmark carries (column suffixes).
RECORDED_JUDGES = (
    "gemini/gemini-1.5-pro",
    "meta-llama/Llama-3.3-70B-Instruct",
    "azure/gpt-4o-mini-240718",
    "Qwen/Qwen2.5-72B-Instruct",
    "meta-llama/Llama-3.1-70B-Instruct",
)
#: The recorded judge that is our default judge's model (the check in chapter 05).
SAME_AS_DEFAULT = "meta-llama/Llama-3.3-70B-Instruct"
PREFIX = "recorded: "

Slot = Literal[1, 2]
_SLOT_WORDS = {1: ("first", "a", "one", "1"), 2: ("second", "b", "two", "2")}
_PREFIXES = ("", "response ", "option ", "reply ", "completion ", "completion_", "output ",
             "assistant ", "model ")
_FIRST = {p + w for p in _PREFIXES for w in _SLOT_WORDS[1]} | {"first response", "the first",
                                                               "1st"}
_SECOND = {p + w for p in _PREFIXES for w in _SLOT_WORDS[2]} | {"second response", "the second",
                                                                "2nd"}
_TIE = {"tie", "equal", "both", "neither"}


def method_name(judge: str) -> str:
    """``"recorded: Llama-3.3-70B-Instruct"`` for ``meta-llama/Llama-3.3-70B-Instruct``."""
    return PREFIX + judge.rsplit("/", 1)[-1]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or \
        (isinstance(value, str) and not value.strip())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def read_verdict(value: Any) -> tuple[Slot | None, str]:
    """(slot picked: 1 first shown / 2 second shown / None, failure: "" / tie / missing /
    unparseable: <value>) for one recorded prediction value (see the module doc)."""
    if _missing(value):
        return None, "missing"
    number = _number(value)
    if number is not None:
        if number == 1:
            return 1, ""
        if number in (2, -1):
            return 2, ""
        if number == 0:
            return None, "tie"
        return None, f"unparseable: {value!r}"
    if isinstance(value, bool) or not isinstance(value, str):
        return None, f"unparseable: {value!r}"
    text = value.strip().strip("\"'`[]()").strip().rstrip(".").strip().lower()
    text = " ".join(text.split())
    if text in _FIRST:
        return 1, ""
    if text in _SECOND:
        return 2, ""
    if text in _TIE:
        return None, "tie"
    return None, f"unparseable: {value!r}"


def column_orders(preference: Preference, flip_means_chosen_first: bool = True
                  ) -> dict[str, Order]:
    """``{"": order of prediction_<judge>, "flip_": order of prediction_flip_<judge>}``."""
    chosen_first = bool(preference.flip) == flip_means_chosen_first
    shown: Order = "chosen_first" if chosen_first else "rejected_first"
    other: Order = "rejected_first" if chosen_first else "chosen_first"
    return {"": shown, "flip_": other}


def recorded_judgments(users: Sequence[UserSplit], judges: Iterable[str] = RECORDED_JUDGES,
                       *, split: str = "test", orders: Sequence[Order] = ORDERS,
                       flip_means_chosen_first: bool = True) -> list[JudgmentRecord]:
    """One record per judge, user, ``split`` pair and order, from the recorded columns.

    ``choice`` is the slot letter the judge picked in that order (as our judges' records
    hold it); ``correct`` is true only when it names the chosen reply.
    """
    out = []
    judges = list(judges)
    for judge in judges:
        name = method_name(judge)
        for user in users:
            for pref in getattr(user, split):
                by_order = {order: prefix for prefix, order in
                            column_orders(pref, flip_means_chosen_first).items()}
                for order in orders:
                    value = pref.extra.get(f"prediction_{by_order[order]}{judge}")
                    slot, failure = read_verdict(value)
                    choice = None if slot is None else ("A" if slot == 1 else "B")
                    out.append(JudgmentRecord(
                        method=name, user_id=pref.user_id, pair_id=pref.pair_id, order=order,
                        choice=choice, correct=choice == correct_letter(order),
                        failure=failure or None, attempts=0, prompt_tokens=0,
                        completion_tokens=0, carries="recorded verdict", flag=""))
    return out


def recorded_failures(records: Iterable[JudgmentRecord]) -> dict[str, dict[str, int]]:
    """Per recorded judge: how many judgments were ties, missing, unparseable."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        counts = out.setdefault(r.method, {"judgments": 0, "tie": 0, "missing": 0,
                                           "unparseable": 0})
        counts["judgments"] += 1
        if r.failure:
            counts[r.failure.split(":", 1)[0]] += 1
    return out
