"""Validation of raw preference rows, with errors that name the source, row and field.

Every loader hands its raw rows to ``validate_rows``. A raw row may be a ``dict``
(JSON, ``pyarrow``'s ``to_pylist``, a ``datasets`` row) or a pandas row, and its
values may be numpy arrays and scalars (what parquet → pandas gives: ``context``
is then an object array of ``{role, content}`` dicts); they are turned into plain
Python values first. A bad row raises a ``PreferenceDataError`` that says which
file or dataset, which row (1-based, as a person counts lines) and which field is
wrong, and what was expected. A caller who would rather skip bad rows asks for it
with ``on_error="skip"``; the skipped rows are then counted and kept, with their
reasons, in the returned ``LoadReport`` -- never dropped silently -- and
``check_bad_row_share`` stops a load that lost more than a stated share of rows.

**Typed columns.** The row schema of PersonalRewardBench is checked column by
column (:data:`COLUMN_TYPES`, :data:`JUDGE_COLUMN_TYPES`): a wrong type is a bad
row naming the field. Where the real value form is known (the real PRISM row in
``shared/reference``, the paper's code) the check is exact; where it is not
(``prediction_*``, ``agreement``, ``personalizable_*``: no published row shows
them) the check only requires a scalar (text, number or flag), so a guess about
the form can never sink a real run. Other columns pass through untouched.

**Unique pairs.** Every key in the study is a ``pair_id``, so a report never
holds two preferences with the same id: ``check_unique_pairs`` (run by
``validate_rows``) reports the later row as bad, naming both rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from persona_judge.data.records import ROLE_ALIASES, ROLES, SPLITS, Preference, UserSplit
from persona_judge.data.records import group_by_user as _group_by_user
from persona_judge.errors import PersonaJudgeError

OnError = Literal["raise", "skip"]
REQUIRED_FIELDS = ("user_id", "conversation_id", "context", "chosen", "rejected", "split")

_TEXT, _INT, _NUMBER, _FLAG = (str,), (int,), (int, float), (bool,)
_SCALAR = (str, int, float, bool)  # value form unknown: any scalar, never a list or object
# Optional columns and the Python types they may hold (None = absent is always fine).
COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "pair_id": _TEXT,
    "turns": _INT,                     # known: int (real PRISM row)
    "type": _TEXT,                     # known: text, e.g. "values guided" (real PRISM row)
    "flip": _FLAG,                     # known: bool (real PRISM row)
    "dataset": _TEXT,
    "chosen_score": _NUMBER,           # known: numbers (PRISM ratings 1-100)
    "rejected_score": _NUMBER,
    "query_reasoning": _TEXT,          # an LLM's reasoning: text
    "response_reasoning": _TEXT,
    "personalizable_query": _SCALAR,   # form unknown (a flag or a label)
    "personalizable_responses": _SCALAR,
    "agreement": _SCALAR,              # form unknown (a share, a count or a flag)
}
# The five construction judges' recorded outputs, by column prefix.
JUDGE_COLUMN_TYPES: dict[str, tuple[type, ...]] = {
    "reasoning_flip_": _TEXT,
    "reasoning_": _TEXT,
    "prediction_flip_": _SCALAR,       # form unknown ("First"/"Second", "A"/"B", 1/-1, ...)
    "prediction_": _SCALAR,
}
_TYPE_WORDS = {_TEXT: "text", _INT: "an integer", _NUMBER: "a number", _FLAG: "true/false",
               _SCALAR: "a single value (text, number or true/false)"}


class PreferenceDataError(PersonaJudgeError, ValueError):
    """A preference row (or a user's set of rows) is not usable.

    ``source`` names the file or dataset, ``row`` is 1-based (``None`` for a
    problem that concerns a whole user), ``field`` names the offending field and
    ``reason`` is a short category ("missing", "wrong type", ...) for tables of
    what was skipped.
    """

    def __init__(self, source: str, row: int | None, field: str | None, problem: str,
                 reason: str | None = None):
        self.source, self.row, self.field, self.problem = source, row, field, problem
        self.reason = reason or problem.split(";")[0].split(" (")[0]
        where = source + (f", row {row}" if row is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{problem}")


class TooManyBadRowsError(PreferenceDataError):
    """A dataset lost more than the allowed share of its rows to validation."""


@dataclass(frozen=True)
class RowOrigin:
    """Where a loaded preference came from: the file (or dataset), its row, the published part.

    ``part`` is the source's own grouping of the row when it has one, e.g. the Hub
    split name (``train`` / ``validation`` / ``test``) of the parquet file it was in.
    """

    source: str
    row: int
    part: str = ""


@dataclass(frozen=True)
class SetAsideUser:
    """A user a study could not use, with their split sizes and why."""

    user_id: str
    train: int
    val: int
    test: int
    reason: str


@dataclass
class LoadReport:
    """What a loader produced: the valid preferences, where each came from, what it skipped.

    ``origins[i]`` is the origin of ``preferences[i]``. ``n_rows`` counts every
    row read (good or bad); ``skipped`` holds one error per bad row; ``set_aside``
    the users ``check_user_splits`` left out (their rows are fine, not bad).
    ``revision`` names the copy of the data that was read (see ``benchmark``).
    """

    source: str
    preferences: list[Preference] = field(default_factory=list)
    skipped: list[PreferenceDataError] = field(default_factory=list)
    origins: list[RowOrigin] = field(default_factory=list)
    n_rows: int = 0
    set_aside: list[SetAsideUser] = field(default_factory=list)
    dropped_duplicates: list[PreferenceDataError] = field(default_factory=list)
    revision: str = ""

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        text = f"{self.source}: {len(self.preferences)} preferences loaded"
        if self.skipped:
            text += f", {self.n_skipped} skipped:\n" + "\n".join(f"  - {e}" for e in self.skipped)
        if self.dropped_duplicates:
            text += (f"\n{len(self.dropped_duplicates)} exact duplicate row(s) dropped: "
                     + ", ".join(str(e.row) for e in self.dropped_duplicates))
        if self.set_aside:
            text += f"\n{len(self.set_aside)} user(s) set aside:\n" + "\n".join(
                f"  - {u.user_id}: {u.reason}" for u in self.set_aside)
        return text


def plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars, tuples and NaN turned into plain Python.

    Parquet read through pandas gives numpy object arrays for list columns and
    numpy scalars for numbers and flags; a missing number is NaN. Validation and
    records work on lists, dicts, str/int/float/bool and ``None``.
    """
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _as_mapping(raw: Any) -> Mapping[str, Any] | None:
    if isinstance(raw, Mapping):
        return raw
    to_dict = getattr(raw, "to_dict", None)  # a pandas row (Series)
    if callable(to_dict) and hasattr(raw, "index"):
        return to_dict()
    return None


def _check_turn(value: Any, source: str, row: int, name: str) -> None:
    if not isinstance(value, Mapping):
        raise PreferenceDataError(
            source, row, name,
            f"expected an object {{role, content}}, got {type(value).__name__}", "wrong type")
    for key in ("role", "content"):
        if key not in value or value[key] is None:
            raise PreferenceDataError(source, row, f"{name}.{key}", "missing", "missing")
        if not isinstance(value[key], str):
            raise PreferenceDataError(
                source, row, f"{name}.{key}",
                f"expected text, got {type(value[key]).__name__}", "wrong type")
    if value["role"] not in ROLES and value["role"] not in ROLE_ALIASES:
        known = ", ".join([*ROLES, *(f"{a} (read as {r})" for a, r in ROLE_ALIASES.items())])
        raise PreferenceDataError(
            source, row, f"{name}.role",
            f"unknown role {value['role']!r}; expected one of {known}", "unknown role")
    if not value["content"].strip():
        raise PreferenceDataError(source, row, f"{name}.content", "empty", "empty")


def column_types(name: str) -> tuple[type, ...] | None:
    """The accepted types of an optional column, or ``None`` for a column left unchecked."""
    if name in COLUMN_TYPES:
        return COLUMN_TYPES[name]
    for prefix, kinds in JUDGE_COLUMN_TYPES.items():
        if name.startswith(prefix):
            return kinds
    return None


def _type_ok(value: Any, kinds: tuple[type, ...]) -> bool:
    # bool is an int in Python; a flag is never a count or a score unless flags are allowed
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def check_row(raw: Any, source: str, row: int) -> Preference:
    """Check one raw row and build its ``Preference``; raise naming the first problem."""
    mapping = _as_mapping(raw)
    if mapping is None:
        raise PreferenceDataError(
            source, row, None, f"expected an object, got {type(raw).__name__}", "wrong type")
    data: dict[str, Any] = plain(mapping)
    for name in REQUIRED_FIELDS:
        value = data.get(name)
        if value is None or (isinstance(value, str | list) and len(value) == 0):
            raise PreferenceDataError(source, row, name, "missing or empty", "missing")
    for name in ("user_id", "conversation_id", "split"):
        if not isinstance(data[name], str | int) or isinstance(data[name], bool):
            raise PreferenceDataError(
                source, row, name, f"expected text, got {type(data[name]).__name__}",
                "wrong type")
    if data["split"] not in SPLITS:
        raise PreferenceDataError(
            source, row, "split",
            f"unknown split {data['split']!r}; expected one of {', '.join(SPLITS)}",
            "unknown split")
    context = data["context"]
    if not isinstance(context, list):
        raise PreferenceDataError(
            source, row, "context",
            f"expected a list of {{role, content}} turns, got {type(context).__name__}",
            "wrong type")
    for i, turn in enumerate(context):
        _check_turn(turn, source, row, f"context[{i}]")
    _check_turn(data["chosen"], source, row, "chosen")
    _check_turn(data["rejected"], source, row, "rejected")
    if data["chosen"]["content"].strip() == data["rejected"]["content"].strip():
        raise PreferenceDataError(
            source, row, "rejected", "identical to 'chosen': a preference needs two different "
            "responses", "identical responses")
    for name, value in data.items():
        kinds = column_types(name)
        if value is None or kinds is None or _type_ok(value, kinds):
            continue
        raise PreferenceDataError(
            source, row, name, f"expected {_TYPE_WORDS[kinds]}, got {type(value).__name__}",
            "wrong type")
    if data.get("pair_id") == "":
        raise PreferenceDataError(source, row, "pair_id", "empty", "empty")
    return Preference.from_dict(data)


def validate_rows(
    rows: Iterable[tuple[int, Any]],
    source: str,
    on_error: OnError = "raise",
    *,
    report: LoadReport | None = None,
    part: str = "",
    check_unique: bool = True,
    drop_exact_duplicates: bool = False,
) -> LoadReport:
    """Validate ``(row_number, raw_row)`` pairs into a ``LoadReport``.

    ``row_number`` is whatever a person would use to find the row (a line number
    for JSONL/CSV, a 1-based index within a parquet file). A raw row that is itself
    a ``PreferenceDataError`` (e.g. a line that was not JSON) is treated as bad.
    Several sources (the parquet files of one dataset) go into one report by
    passing it as ``report``; ``source`` and ``part`` are recorded per row. With
    ``check_unique`` (the default) the report's pair ids are checked to be unique
    afterwards, across everything it holds (see ``check_unique_pairs``).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    report = report if report is not None else LoadReport(source)
    for number, raw in rows:
        report.n_rows += 1
        try:
            if isinstance(raw, PreferenceDataError):
                raise raw
            report.preferences.append(check_row(raw, source, number))
            report.origins.append(RowOrigin(source, number, part))
        except PreferenceDataError as err:
            if on_error == "raise":
                raise
            report.skipped.append(err)
    if check_unique:
        check_unique_pairs(report, on_error=on_error, drop_exact_duplicates=drop_exact_duplicates)
    return report


def _where(origin: RowOrigin, here: RowOrigin) -> str:
    return f"row {origin.row}" if origin.source == here.source else \
        f"{origin.source}, row {origin.row}"


def check_unique_pairs(report: LoadReport, *, on_error: OnError = "raise",
                       drop_exact_duplicates: bool = False) -> None:
    """Make sure no two preferences in ``report`` share a ``pair_id``; name both rows if so.

    The first row keeps its place; a later row with the same id is bad: an
    exact duplicate (same user, conversation, context, replies and every other
    column) or a row that repeats a pair with something changed (e.g. another
    split). ``on_error="raise"`` raises on the first; ``"skip"`` moves the later
    rows to ``report.skipped``. ``drop_exact_duplicates=True`` drops exact
    duplicates in either mode and lists them in ``report.dropped_duplicates``
    (for a person's file where a row pasted twice is harmless).
    """
    first: dict[str, int] = {}
    keep: list[int] = []
    for i, pref in enumerate(report.preferences):
        j = first.setdefault(pref.pair_id, i)
        if j == i:
            keep.append(i)
            continue
        here, there = report.origins[i], report.origins[j]
        exact = pref.to_dict() == report.preferences[j].to_dict()
        if exact:
            problem = (f"an exact duplicate of {_where(there, here)} (pair id "
                       f"{pref.pair_id!r})")
        else:
            problem = (f"the same pair (id {pref.pair_id!r}: same user, conversation, context "
                       f"and replies) as {_where(there, here)}, with other values changed")
        err = PreferenceDataError(here.source, here.row, "pair_id", problem,
                                  "duplicate row" if exact else "duplicate pair")
        if exact and drop_exact_duplicates:
            report.dropped_duplicates.append(err)
            continue
        if on_error == "raise":
            raise err
        report.skipped.append(err)
    if len(keep) != len(report.preferences):
        report.preferences = [report.preferences[i] for i in keep]
        report.origins = [report.origins[i] for i in keep]
        # duplicates are found after the row checks: put every problem back in reading order
        order = {source: i for i, source in enumerate(dict.fromkeys(o.source
                                                                   for o in report.origins))}
        report.skipped.sort(key=lambda e: (order.get(e.source, len(order)), e.row or 0))


def check_bad_row_share(report: LoadReport, max_share: float, setting: str = "max_bad_row_share"
                        ) -> None:
    """Stop a load whose bad rows exceed ``max_share`` of all its rows, naming the first few.

    A study may lose a few malformed rows (they are listed in the benchmark
    chapter), but a dataset that loses more than ``max_share`` is not the data
    the study thinks it is: that is an error, not a footnote.
    """
    if not 0 <= max_share <= 1:
        raise ValueError(f"{setting} must be a share between 0 and 1, got {max_share!r}")
    if not report.n_rows or report.n_skipped / report.n_rows <= max_share:
        return
    first = "; ".join(str(e) for e in report.skipped[:3])
    raise TooManyBadRowsError(
        report.source, None, None,
        f"{report.n_skipped} of {report.n_rows} rows "
        f"({100 * report.n_skipped / report.n_rows:.1f}%) are bad, more than the "
        f"{100 * max_share:g}% that '{setting}' in study.yaml allows. First problems: {first}. "
        f"Fix the data (or the loader, if the data is right), or raise '{setting}' "
        f"(`-p {setting}=...`) if losing these rows is acceptable.",
        "too many bad rows")


def check_user_splits(
    report: LoadReport,
    require: tuple[str, ...] = ("train", "test"),
    on_error: OnError = "raise",
) -> dict[str, UserSplit]:
    """Group a report's preferences by user and check each user has the required splits.

    In skip mode a user who lacks a required split is set aside and recorded in
    ``report.set_aside`` with their split sizes and the reason (their rows are
    not bad rows: they do not count against ``check_bad_row_share``).
    """
    unknown = set(require) - set(SPLITS)
    if unknown:
        raise ValueError(f"require names unknown split(s) {sorted(unknown)}; splits are "
                         f"{', '.join(SPLITS)}")
    users = _group_by_user(report.preferences)
    kept: dict[str, UserSplit] = {}
    for uid, user in users.items():
        missing = [s for s in require if not getattr(user, s)]
        if missing:
            reason = (f"no {' or '.join(missing)} preferences ({len(user.train)} train, "
                      f"{len(user.val)} val, {len(user.test)} test)")
            if on_error == "raise":
                raise PreferenceDataError(
                    report.source, None, "split",
                    f"user {uid!r} has {reason}; every user needs at least one of each of: "
                    f"{', '.join(require)}", "missing split")
            report.set_aside.append(
                SetAsideUser(uid, len(user.train), len(user.val), len(user.test), reason))
            continue
        kept[uid] = user
    return kept


def field_pattern(name: str | None) -> str:
    """A field name without positions, for grouping: ``context[3].role`` → ``context[].role``."""
    return re.sub(r"\[\d+\]", "[]", name) if name else "(row)"
