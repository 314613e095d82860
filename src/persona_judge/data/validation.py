"""Validation of raw preference rows, with errors that name the source, row and field.

Every loader hands its raw rows (dicts) to ``validate_rows``. A bad row raises a
``PreferenceDataError`` that says which file or dataset, which row (1-based, as a
person counts lines) and which field is wrong, and what was expected. A caller
who would rather skip bad rows asks for it with ``on_error="skip"``; the skipped
rows are then counted and kept, with their reasons, in the returned
``LoadReport`` -- never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from persona_judge.data.records import ROLES, SPLITS, Preference, UserSplit, group_by_user
from persona_judge.errors import PersonaJudgeError

OnError = Literal["raise", "skip"]
REQUIRED_FIELDS = ("user_id", "conversation_id", "context", "chosen", "rejected", "split")


class PreferenceDataError(PersonaJudgeError, ValueError):
    """A preference row (or a user's set of rows) is not usable.

    ``source`` names the file or dataset, ``row`` is 1-based (``None`` for a
    problem that concerns a whole user), ``field`` names the offending field.
    """

    def __init__(self, source: str, row: int | None, field: str | None, problem: str):
        self.source, self.row, self.field, self.problem = source, row, field, problem
        where = source + (f", row {row}" if row is not None else "")
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{problem}")


@dataclass
class LoadReport:
    """What a loader produced: the valid preferences and every row it skipped."""

    source: str
    preferences: list[Preference] = field(default_factory=list)
    skipped: list[PreferenceDataError] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def summary(self) -> str:
        text = f"{self.source}: {len(self.preferences)} preferences loaded"
        if self.skipped:
            text += f", {self.n_skipped} skipped:\n" + "\n".join(f"  - {e}" for e in self.skipped)
        return text


def _check_turn(value: Any, source: str, row: int, name: str) -> None:
    if not isinstance(value, Mapping):
        raise PreferenceDataError(
            source, row, name,
            f"expected an object {{role, content}}, got {type(value).__name__}")
    for key in ("role", "content"):
        if key not in value or value[key] is None:
            raise PreferenceDataError(source, row, f"{name}.{key}", "missing")
        if not isinstance(value[key], str):
            raise PreferenceDataError(
                source, row, f"{name}.{key}",
                f"expected a string, got {type(value[key]).__name__}")
    if value["role"] not in ROLES:
        raise PreferenceDataError(
            source, row, f"{name}.role",
            f"unknown role {value['role']!r}; expected one of {', '.join(ROLES)}")
    if not value["content"].strip():
        raise PreferenceDataError(source, row, f"{name}.content", "empty")


def check_row(raw: Mapping[str, Any], source: str, row: int) -> Preference:
    """Check one raw row and build its ``Preference``; raise naming the first problem."""
    if not isinstance(raw, Mapping):
        raise PreferenceDataError(
            source, row, None, f"expected an object, got {type(raw).__name__}")
    for name in REQUIRED_FIELDS:
        value = raw.get(name)
        if value is None or (isinstance(value, str | list) and len(value) == 0):
            raise PreferenceDataError(source, row, name, "missing or empty")
    for name in ("user_id", "conversation_id", "split"):
        if not isinstance(raw[name], str | int) or isinstance(raw[name], bool):
            raise PreferenceDataError(
                source, row, name, f"expected a string, got {type(raw[name]).__name__}")
    if raw["split"] not in SPLITS:
        raise PreferenceDataError(
            source, row, "split",
            f"unknown split {raw['split']!r}; expected one of {', '.join(SPLITS)}")
    context = raw["context"]
    if not isinstance(context, list):
        raise PreferenceDataError(
            source, row, "context",
            f"expected a list of {{role, content}} turns, got {type(context).__name__}")
    for i, turn in enumerate(context):
        _check_turn(turn, source, row, f"context[{i}]")
    _check_turn(raw["chosen"], source, row, "chosen")
    _check_turn(raw["rejected"], source, row, "rejected")
    if raw["chosen"]["content"].strip() == raw["rejected"]["content"].strip():
        raise PreferenceDataError(
            source, row, "rejected", "identical to 'chosen': a preference needs two different "
            "responses")
    for name, kind in (("turns", int), ("flip", bool)):
        value = raw.get(name)
        if value is not None and not isinstance(value, kind):
            raise PreferenceDataError(
                source, row, name, f"expected {kind.__name__}, got {type(value).__name__}")
    return Preference.from_dict(raw)


def validate_rows(
    rows: Iterable[tuple[int, Any]], source: str, on_error: OnError = "raise"
) -> LoadReport:
    """Validate ``(row_number, raw_row)`` pairs into a ``LoadReport``.

    ``row_number`` is whatever a person would use to find the row (a line number
    for JSONL/CSV, a 1-based index for a dataset). A raw row that is itself a
    ``PreferenceDataError`` (e.g. a line that was not JSON) is treated as bad.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    report = LoadReport(source)
    for number, raw in rows:
        try:
            if isinstance(raw, PreferenceDataError):
                raise raw
            report.preferences.append(check_row(raw, source, number))
        except PreferenceDataError as err:
            if on_error == "raise":
                raise
            report.skipped.append(err)
    return report


def check_user_splits(
    report: LoadReport,
    require: tuple[str, ...] = ("val", "test"),
    on_error: OnError = "raise",
) -> dict[str, UserSplit]:
    """Group a report's preferences by user and check each user has the required splits.

    In skip mode a user who lacks a required split is dropped, and the drop is
    recorded in ``report.skipped`` (one entry per user, naming the split).
    """
    users = group_by_user(report.preferences)
    kept: dict[str, UserSplit] = {}
    for uid, user in users.items():
        missing = [s for s in require if not getattr(user, s)]
        if missing:
            err = PreferenceDataError(
                report.source, None, "split",
                f"user {uid!r} has no {' or '.join(missing)} preferences "
                f"({len(user.train)} train, {len(user.val)} val, {len(user.test)} test); "
                f"every user needs at least one of each of: {', '.join(require)}")
            if on_error == "raise":
                raise err
            report.skipped.append(err)
            continue
        kept[uid] = user
    return kept
