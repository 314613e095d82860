"""Reading a pairwise verdict out of a judge model's free-form answer.

Judges are asked for reasoning and a choice between response "A" (shown first)
and "B" (shown second).  Models answer in many shapes, so the parser accepts,
in order of precedence:

1. a JSON object with a choice field (``preferred``, or ``preference``,
   ``choice``, ``answer``, ``winner``, ``verdict``, ``final_answer``) and
   optionally ``reasoning`` (or ``rationale``/``explanation``), bare or inside a
   fenced code block;
2. a labelled answer line such as ``Preferred: A``, ``Answer: B``,
   ``**Final answer:** Response A`` or ``[[B]]`` (the last one wins, as models
   sometimes revise themselves);
3. a bare final line such as ``**B**``, ``A`` or ``Response B``.

"First" and "Second" (the public code's answer values, e.g. ``Preference: First``
or ``"preference": "Second"``) name the reply shown first (A) or second (B).

A stated tie ("tie", "both", "neither") is a valid answer with no choice.  Any
other answer is *unparseable*: the result carries no choice and a ``failure``
reason, and the client may resample.  The parser never raises on model text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from persona_judge.llm.schema import Choice

__all__ = ["ParsedJudgment", "parse_judgment", "TIE_FAILURE"]

TIE_FAILURE = "the judge declared a tie"

_CHOICE_KEYS = (
    "preferred", "preference", "choice", "answer", "winner", "verdict", "final_answer",
    "preferred_response", "better_response",
)
_REASONING_KEYS = ("reasoning", "rationale", "explanation", "analysis", "thoughts")
_TIE_WORDS = {"TIE", "BOTH", "NEITHER", "EQUAL", "NONE", "DRAW", "NO PREFERENCE"}

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_MARKDOWN = re.compile(r"[*_#>`]")
_LABEL = re.compile(
    r"^(?:the\s+)?(?:final\s+)?(?:answer|preferred(?:\s+response)?|preference|choice|verdict|"
    r"winner|better\s+response|decision)\s*(?:is)?\s*[:=\-]\s*(?P<value>.+)$",
    re.IGNORECASE,
)
_DOUBLE_BRACKET = re.compile(r"\[\[\s*([AB])\s*\]\]")
_VALUE = re.compile(
    r"^(?:(?:response|option|output|assistant)\s*)?[\[(]*\s*(?P<c>[AB])\s*[\])]*(?:$|[\s.,;:!)])",
)
_VALUE_PREFIXED = re.compile(
    r"^(?:response|option|output|assistant)\s*[\[(]*\s*(?P<c>[ab])\s*[\])]*(?:$|[\s.,;:!)])",
    re.IGNORECASE,
)
_ORDINAL = re.compile(
    r"^(?:the\s+)?(?P<o>first|second)(?:\s+(?:completion|reply|response|one))?\s*[.!]?$",
    re.IGNORECASE)
_ORDINAL_LETTER = {"first": "A", "second": "B"}
_REASONING_LABEL = re.compile(r"^\**\s*reasoning\s*\**\s*:\s*\**", re.IGNORECASE)
_BARE = re.compile(
    r"^(?:(?:response|option)\s+)?[\[(]*\s*(?P<c>[AB])\s*[\])]*\.?$", re.IGNORECASE
)


@dataclass(frozen=True)
class ParsedJudgment:
    """What one answer says: a choice, or None with the reason."""

    choice: Choice | None
    reasoning: str
    failure: str | None

    @property
    def is_tie(self) -> bool:
        return self.choice is None and self.failure == TIE_FAILURE

    @property
    def parsed(self) -> bool:
        """True for a usable answer (a choice or a stated tie)."""
        return self.choice is not None or self.is_tie


def _normalise_value(value: Any) -> str | None:
    """Map a stated choice to "A", "B", "TIE", or None when it is neither."""
    if not isinstance(value, str):
        return None
    text = _MARKDOWN.sub("", value).strip().strip("\"'.")
    if text.upper().strip(" .!") in _TIE_WORDS:
        return "TIE"
    compact = text.replace("_", " ")
    ordinal = _ORDINAL.match(compact.strip())
    if ordinal:
        return _ORDINAL_LETTER[ordinal.group("o").lower()]
    m = _VALUE.match(compact) or _VALUE_PREFIXED.match(compact)
    if m:
        return m.group("c").upper()
    if compact.strip().upper() in ("A", "B"):
        return compact.strip().upper()
    return None


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in the text: fenced blocks first, then bare ones."""
    found: list[dict[str, Any]] = []
    for block in _FENCE.findall(text):
        try:
            obj = json.loads(block.strip())
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    if found:
        return found
    decoder = json.JSONDecoder()
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        pos = text.find("{", end)
    return found


def _from_json(text: str) -> ParsedJudgment | None:
    for obj in reversed(_json_objects(text)):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        key = next((k for k in _CHOICE_KEYS if k in lowered), None)
        if key is None:
            continue
        reasoning = next(
            (str(lowered[k]) for k in _REASONING_KEYS if k in lowered and lowered[k]), ""
        )
        value = _normalise_value(lowered[key])
        if value in ("A", "B"):
            return ParsedJudgment(value, reasoning, None)  # type: ignore[arg-type]
        if value == "TIE":
            return ParsedJudgment(None, reasoning, TIE_FAILURE)
        return ParsedJudgment(
            None, reasoning, f"JSON answer has {key}={lowered[key]!r}; expected 'A' or 'B'"
        )
    return None


def _from_text(text: str) -> ParsedJudgment | None:
    lines = text.splitlines()
    verdict: tuple[int, str] | None = None
    for i, line in enumerate(lines):
        clean = _MARKDOWN.sub("", line).strip()
        m = _LABEL.match(clean)
        value = _normalise_value(m.group("value")) if m else None
        if value is None:
            brackets = _DOUBLE_BRACKET.findall(line)
            value = brackets[-1] if brackets else None
        if value is not None:
            verdict = (i, value)
    if verdict is None:
        nonempty = [i for i, line in enumerate(lines) if line.strip()]
        if nonempty:
            last = nonempty[-1]
            bare = _MARKDOWN.sub("", lines[last]).strip()
            m = _BARE.match(bare)
            ordinal = _ORDINAL.match(bare)
            if m:
                verdict = (last, m.group("c").upper())
            elif ordinal:
                verdict = (last, _ORDINAL_LETTER[ordinal.group("o").lower()])
    if verdict is None:
        return None
    index, value = verdict
    reasoning = "\n".join(lines[:index] + lines[index + 1 :]).strip()
    # "Reasoning: ..." (the public code's answer shape): keep the reasoning, not its label
    reasoning = _REASONING_LABEL.sub("", reasoning, count=1).strip()
    if value == "TIE":
        return ParsedJudgment(None, reasoning, TIE_FAILURE)
    return ParsedJudgment(value, reasoning, None)  # type: ignore[arg-type]


def parse_judgment(text: str) -> ParsedJudgment:
    """Parse a judge answer into a choice ("A"/"B"), or None with a failure reason."""
    if not text or not text.strip():
        return ParsedJudgment(None, "", "the answer is empty")
    from_json = _from_json(text)
    if from_json is not None and (from_json.parsed or _from_text(text) is None):
        return from_json
    from_text = _from_text(text)
    if from_text is not None:
        return from_text
    if from_json is not None:
        return from_json
    excerpt = text.strip().replace("\n", " ")
    if len(excerpt) > 80:
        excerpt = excerpt[:77] + "..."
    return ParsedJudgment(
        None,
        text.strip(),
        "no JSON object with a 'preferred' field and no final answer line "
        f"(e.g. 'Preferred: A') in the answer: {excerpt!r}",
    )
