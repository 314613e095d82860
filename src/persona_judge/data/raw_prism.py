"""PRISM as released: conversation trees with rated candidate replies, and the survey.

Reads the two files of ``HannahRoseKirk/prism-alignment`` the study needs, from a
local copy (:mod:`persona_judge.data.raw_sources`):

* ``conversations.jsonl`` -> :class:`PrismConversation`. Each row's
  ``conversation_history`` is a flat list of entries in order. A user entry is
  ``{turn, role: "user", content}``; a model entry adds ``model_provider``,
  ``model_name``, ``score`` (1-100 slider), ``if_chosen`` and ``within_turn_id``.
  In turn 0 up to four different models answer the opening prompt and the person
  rates each; the highest-rated model continues, and in every later turn it gives
  two replies (A/B, ``within_turn_id`` 0 and 1) that the person rates and chooses
  between. Empty texts were released as the string ``"EMPTY STRING"``.
* ``survey.jsonl`` -> :class:`SurveyProfile` via :func:`load_prism_survey`, the
  library API for anything that needs who a PRISM user is (a demographics
  baseline judge, a persona-survey alignment study). The release nests
  answers: ``stated_prefs`` / ``order_stated_prefs`` / ``lm_usecases`` are dicts,
  ``religion`` / ``ethnicity`` are ``{self_described, categorised, simplified}``
  and ``location`` holds the country fields. The survey's own column list
  (``survey_question_mapping.json``, 109 columns of the Qualtrics export, with
  ``stated_prefs:<attr>`` style names) is accepted too: :func:`profile_from_row`
  reads either layout into the same profile.

Field names and value forms follow the PRISM repository's release code
(``src/data_processing/prepare_*.py``) and its codebook; the sub-keys of
``religion`` / ``ethnicity`` follow code that reads the Hub release. Anything the
code cannot read raises :class:`~persona_judge.data.raw_sources.RawSourceError`
naming the file, line, user and field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona_judge.data.raw_sources import RawCopy, RawSourceError, raw_copy

CONVERSATIONS_FILE = "conversations.jsonl"
SURVEY_FILE = "survey.jsonl"
EMPTY_TEXT = "EMPTY STRING"

#: The eight AI traits whose importance participants rated (1-100) in the survey.
STATED_PREF_ATTRIBUTES = ("values", "creativity", "fluency", "factuality", "diversity",
                          "safety", "personalisation", "helpfulness")
#: Short labels for rendering (our wording, after the survey's statements).
STATED_PREF_LABELS = {
    "values": "reflects their values or cultural perspective",
    "creativity": "is creative and inspiring",
    "fluency": "is well written and coherent",
    "factuality": "is factual and informative",
    "diversity": "sums up several viewpoints",
    "safety": "is safe and risks no harm",
    "personalisation": "learns from them and feels personal",
    "helpfulness": "is helpful and relevant to the request",
}
DEMOGRAPHIC_FIELDS = ("age", "gender", "employment_status", "education", "marital_status",
                      "english_proficiency", "religion", "ethnicity", "birth_country",
                      "reside_country")
RENDER_SECTIONS = ("demographics", "lm_use", "stated_prefs", "self_description",
                   "system_string")
MISSING = ("", "Prefer not to say", "prefer not to say", EMPTY_TEXT)


# -- conversations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PrismEntry:
    """One entry of a conversation history: a user message or a rated model reply."""

    turn: int
    role: str  # "user" or "model"
    content: str
    within_turn_id: int | None = None
    model_name: str | None = None
    model_provider: str | None = None
    score: float | None = None
    if_chosen: bool | None = None

    @property
    def is_empty(self) -> bool:
        return not self.content.strip() or self.content.strip() == EMPTY_TEXT


@dataclass(frozen=True)
class PrismConversation:
    """One PRISM conversation tree of one user."""

    conversation_id: str
    user_id: str
    conversation_type: str
    history: tuple[PrismEntry, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def turns(self) -> dict[int, list[PrismEntry]]:
        """Entries grouped by turn number, each group in its original order."""
        out: dict[int, list[PrismEntry]] = {}
        for entry in self.history:
            out.setdefault(entry.turn, []).append(entry)
        return dict(sorted(out.items()))


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise RawSourceError(f"{path}: file not found (an incomplete local copy? delete its "
                             f"folder to download again)")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as err:
                raise RawSourceError(f"{path}, line {number}: not valid JSON ({err})") from None
            if not isinstance(row, dict):
                raise RawSourceError(f"{path}, line {number}: expected a JSON object, got "
                                     f"{type(row).__name__}")
            yield number, row


def _int(value: Any, where: str, name: str, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise RawSourceError(f"{where}: field '{name}': expected an integer, got {value!r}")
    return int(value)


def _entry(raw: Any, where: str) -> PrismEntry:
    if not isinstance(raw, Mapping):
        raise RawSourceError(f"{where}: expected an object, got {type(raw).__name__}")
    role, content = raw.get("role"), raw.get("content")
    if role not in ("user", "model"):
        raise RawSourceError(f"{where}: field 'role': expected 'user' or 'model', got {role!r}")
    if not isinstance(content, str):
        raise RawSourceError(f"{where}: field 'content': expected a string, got "
                             f"{type(content).__name__}")
    turn = _int(raw.get("turn"), where, "turn", allow_none=False)
    if role == "user":
        return PrismEntry(turn, role, content)  # type: ignore[arg-type]
    score = raw.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)
                              or not 1 <= score <= 100):
        raise RawSourceError(f"{where}: field 'score': expected a rating from 1 to 100, got "
                             f"{score!r}")
    chosen = raw.get("if_chosen")
    if chosen is not None and not isinstance(chosen, bool):
        raise RawSourceError(f"{where}: field 'if_chosen': expected true/false, got {chosen!r}")
    return PrismEntry(
        turn, role, content,  # type: ignore[arg-type]
        within_turn_id=_int(raw.get("within_turn_id"), where, "within_turn_id"),
        model_name=raw.get("model_name"), model_provider=raw.get("model_provider"),
        score=None if score is None else float(score), if_chosen=chosen)


def conversation_from_row(row: Mapping[str, Any], where: str) -> PrismConversation:
    """One ``conversations.jsonl`` row as a :class:`PrismConversation` (checked)."""
    for name in ("conversation_id", "user_id", "conversation_history"):
        if row.get(name) in (None, "", []):
            raise RawSourceError(f"{where}: field '{name}' is missing or empty")
    history = row["conversation_history"]
    if not isinstance(history, Sequence) or isinstance(history, str):
        raise RawSourceError(f"{where}: field 'conversation_history': expected a list, got "
                             f"{type(history).__name__}")
    entries = tuple(_entry(e, f"{where}, conversation_history[{i}]")
                    for i, e in enumerate(history))
    return PrismConversation(str(row["conversation_id"]), str(row["user_id"]),
                             str(row.get("conversation_type") or ""), entries, dict(row))


def read_prism_conversations(folder: Path) -> list[PrismConversation]:
    """Every conversation in ``<folder>/conversations.jsonl``, in file order."""
    path = Path(folder) / CONVERSATIONS_FILE
    return [conversation_from_row(row, f"{path}, line {n}") for n, row in _jsonl(path)]


# -- survey ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurveyProfile:
    """What one PRISM participant said about themselves in the survey (typed; None = missing).

    ``stated_prefs`` maps each of :data:`STATED_PREF_ATTRIBUTES` to an importance
    rating 1-100 (None when the slider was not answered); ``order_stated_prefs``
    is the position (1 = first) at which each statement was shown.
    ``self_description`` answers "describe your values, core beliefs, guiding
    principles"; ``system_string`` is the instruction they would give an AI.
    ``raw`` keeps the survey row as read.
    """

    user_id: str
    age: str | None = None
    gender: str | None = None
    employment_status: str | None = None
    education: str | None = None
    marital_status: str | None = None
    english_proficiency: str | None = None
    religion: str | None = None
    ethnicity: str | None = None
    birth_country: str | None = None
    reside_country: str | None = None
    lm_familiarity: str | None = None
    lm_frequency_use: str | None = None
    stated_prefs: Mapping[str, int | None] = field(default_factory=dict)
    stated_prefs_other: str | None = None
    order_stated_prefs: Mapping[str, int | None] = field(default_factory=dict)
    self_description: str | None = None
    system_string: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def demographics(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in DEMOGRAPHIC_FIELDS}

    def ranked_stated_prefs(self) -> list[tuple[str, int]]:
        """Answered stated preferences, most important first (ties keep the survey's order)."""
        answered = [(k, v) for k, v in self.stated_prefs.items() if v is not None]
        return sorted(answered, key=lambda kv: -kv[1])

    def render(self, include: Sequence[str] = RENDER_SECTIONS) -> str:
        """A readable profile for a judge prompt, with only the sections in ``include``.

        Sections: ``demographics``, ``lm_use``, ``stated_prefs``,
        ``self_description``, ``system_string``. Unanswered items are left out
        rather than written as "missing"; a profile with nothing to say returns "".
        """
        unknown = set(include) - set(RENDER_SECTIONS)
        if unknown:
            raise ValueError(f"unknown profile section(s) {sorted(unknown)}; choose from "
                             f"{', '.join(RENDER_SECTIONS)}")
        blocks: list[str] = []
        if "demographics" in include:
            lines = [f"- {name.replace('_', ' ')}: {value}"
                     for name, value in self.demographics.items() if value is not None]
            if lines:
                blocks.append("Who they are (their survey answers):\n" + "\n".join(lines))
        if "lm_use" in include:
            lines = [f"- {label}: {value}" for label, value in (
                ("familiarity with AI chat assistants", self.lm_familiarity),
                ("how often they use them", self.lm_frequency_use)) if value is not None]
            if lines:
                blocks.append("Experience with AI assistants:\n" + "\n".join(lines))
        if "stated_prefs" in include:
            ranked = self.ranked_stated_prefs()
            if ranked:
                lines = [f"- it {STATED_PREF_LABELS.get(k, k)}: {v}" for k, v in ranked]
                if self.stated_prefs_other:
                    lines.append(f"- (their own addition) {self.stated_prefs_other}")
                blocks.append("How important they rated each quality of an AI assistant "
                              "(1 = not important, 100 = very important):\n" + "\n".join(lines))
        if "self_description" in include and self.self_description:
            blocks.append(f"In their own words, what matters to them:\n"
                          f"{self.self_description.strip()}")
        if "system_string" in include and self.system_string:
            blocks.append(f"How they would instruct an AI assistant to behave:\n"
                          f"{self.system_string.strip()}")
        return "\n\n".join(blocks)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN from pandas
        return None
    text = str(value).strip()
    return None if text in MISSING else text


def _category(value: Any) -> str | None:
    """A religion/ethnicity answer: the simplest form the row offers."""
    if isinstance(value, Mapping):
        for key in ("simplified", "categorised", "gpt4_categorised", "self_described"):
            text = _text(value.get(key))
            if text is not None:
                return text
        return None
    return _text(value)


def _rating(value: Any, where: str, name: str, lo: int, hi: int) -> int | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise RawSourceError(f"{where}: field '{name}': expected a number from {lo} to {hi},"
                                 f" got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value) \
            or not lo <= value <= hi:
        raise RawSourceError(f"{where}: field '{name}': expected a whole number from {lo} to "
                             f"{hi}, got {value!r}")
    return int(value)


def profile_from_row(row: Mapping[str, Any], where: str = "survey row") -> SurveyProfile:
    """One survey row (released nested layout, or the flat 109-column layout) as a profile."""
    user_id = _text(row.get("user_id"))
    if user_id is None:
        raise RawSourceError(f"{where}: field 'user_id' is missing or empty")
    where = f"{where} (user {user_id})"
    flat = "stated_prefs:values" in row
    if flat:
        prefs = {k: row.get(f"stated_prefs:{k}") for k in STATED_PREF_ATTRIBUTES}
        orders = {k: row.get(f"order_stated_prefs:{k}") for k in STATED_PREF_ATTRIBUTES}
        other = row.get("stated_prefs:other_text")
        location: Mapping[str, Any] = row
        pref_name, order_name = "stated_prefs:{}", "order_stated_prefs:{}"
    else:
        prefs_raw, orders_raw = row.get("stated_prefs") or {}, row.get("order_stated_prefs") or {}
        for name, value in (("stated_prefs", prefs_raw), ("order_stated_prefs", orders_raw)):
            if not isinstance(value, Mapping):
                raise RawSourceError(f"{where}: field '{name}': expected an object of ratings, "
                                     f"got {type(value).__name__}")
        prefs = {k: prefs_raw.get(k) for k in STATED_PREF_ATTRIBUTES}
        orders = {k: orders_raw.get(k) for k in STATED_PREF_ATTRIBUTES}
        other = prefs_raw.get("other_text")
        location = row.get("location") or {}
        pref_name, order_name = "stated_prefs.{}", "order_stated_prefs.{}"
    return SurveyProfile(
        user_id=user_id,
        age=_text(row.get("age")), gender=_text(row.get("gender")),
        employment_status=_text(row.get("employment_status")),
        education=_text(row.get("education")), marital_status=_text(row.get("marital_status")),
        english_proficiency=_text(row.get("english_proficiency")),
        religion=_category(row.get("religion")), ethnicity=_category(row.get("ethnicity")),
        birth_country=_text(location.get("birth_country")),
        reside_country=_text(location.get("reside_country")),
        lm_familiarity=_text(row.get("lm_familiarity")),
        lm_frequency_use=_text(row.get("lm_frequency_use")),
        stated_prefs={k: _rating(v, where, pref_name.format(k), 1, 100) for k, v in prefs.items()},
        stated_prefs_other=_text(other),
        order_stated_prefs={k: _rating(v, where, order_name.format(k), 1, 20)
                            for k, v in orders.items()},
        self_description=_text(row.get("self_description")),
        system_string=_text(row.get("system_string")),
        raw=dict(row),
    )


def read_prism_survey(folder: Path) -> dict[str, SurveyProfile]:
    """Every profile in ``<folder>/survey.jsonl``, keyed by user id (ids must be unique)."""
    path = Path(folder) / SURVEY_FILE
    profiles: dict[str, SurveyProfile] = {}
    first_line: dict[str, int] = {}
    for number, row in _jsonl(path):
        profile = profile_from_row(row, f"{path}, line {number}")
        if profile.user_id in profiles:
            raise RawSourceError(f"{path}, line {number}: user {profile.user_id} already "
                                 f"appeared on line {first_line[profile.user_id]}")
        profiles[profile.user_id] = profile
        first_line[profile.user_id] = number
    return profiles


def load_prism_survey(mode: str = "real", *, revision: str | None = None,
                      copy: RawCopy | None = None) -> dict[str, SurveyProfile]:
    """The PRISM survey as ``{user_id: SurveyProfile}``.

    ``mode="real"`` reads the Hub copy (downloading it once, at ``revision``);
    ``mode="smoke"`` reads the generated fixture, whose users are exactly
    ``user0`` .. ``user59``. Pass ``copy`` to read an already-resolved copy.
    """
    copy = copy or raw_copy("prism", mode, revision)  # type: ignore[arg-type]
    return read_prism_survey(copy.folder)


def load_prism_conversations(mode: str = "real", *, revision: str | None = None,
                             copy: RawCopy | None = None) -> list[PrismConversation]:
    """The PRISM conversations of the real (Hub) or smoke (fixture) copy."""
    copy = copy or raw_copy("prism", mode, revision)  # type: ignore[arg-type]
    return read_prism_conversations(copy.folder)
