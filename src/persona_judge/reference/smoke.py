"""The smoke stand-in's answers to DSPy's chat format (smoke runs and tests only; not a model).

The reference arm runs the authors' DSPy programs, whose requests are laid out in DSPy's
chat format: each field of a signature is a block headed ``[[ ## name ## ]]``, the last
user message lists the output fields to fill, and an answer is those blocks in order,
closed by ``[[ ## completed ## ]]``. :func:`dspy_format_answer` recognises such a
request and answers it; any other request gets ``None`` (the smoke responders then answer
it as before). It is pure text handling: it imports no DSPy, reads only the field
headers and the field types DSPy states, and writes every answer in our own words.

Rules (deterministic, content only, so smoke records are stable):

* a field typed ``Literal[...]`` in the system message gets one of its values. For a pair
  judgement (input fields ending ``first_completion`` / ``second_completion``): the reply
  whose length matches what the demonstrations (earlier user/assistant turns) mostly
  favoured, else what a persona in the system message says ("favours the longer" /
  "shorter"), else a hash of the two replies. About one judgement in eleven (by a hash)
  leaves the verdict out, so the official code's retries and its tie path run;
* a field whose name says persona gets a scripted persona naming the length taste of the
  judgements it was given (each a block between rules of ``=``: the two replies in
  guillemets, then First / Second), or one picked by a hash when they show none, so the
  persona judge has a signal;
* a ``proposed_instruction`` field (MIPROv2's instruction proposer, used by
  :mod:`persona_judge.optimisation.miprov2`) gets a labelled smoke instruction tagged
  with a hash of the request, so every proposal differs: one that asks to state the
  reply length the person favours, or (one time in three) one that asks to *hedge
  every claim*; a persona asked for under a hedging instruction names no taste, so in
  a smoke run candidates differ in score (this says nothing about real models);
* a history in the study's own framing (``First reply:`` / ``Second reply:`` ... ``The
  user preferred: First``, as :mod:`persona_judge.method.theta` frames it) is read like
  the blocks above when it holds none of them;
* any other output field (``reasoning`` included) gets a short labelled sentence.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_HEADER_LINE = re.compile(r"^\[\[ ## (\w+) ## \]\][ \t]*$", re.MULTILINE)
_OUTPUT_NAMED = re.compile(r"`\[\[ ## (\w+) ## \]\]`")
_LITERAL = re.compile(r"`(\w+)` \(Literal\[(.*?)\]\)")
_PERSONA_STYLE = re.compile(r"favours the (longer|shorter)")
_BLOCK_RULE = re.compile(r"={10,}")
_QUOTED = re.compile(r"«(.*?)»", re.DOTALL)
_VERDICT = re.compile(r"\b(First|Second)\b")
_FRAMED = re.compile(r"First reply:\n(.*?)\n\nSecond reply:\n(.*?)\n\n.*?"
                    r"The user preferred: (First|Second)\b", re.DOTALL)
COMPLETED = "completed"
SMOKE_NOTE = "[Scripted smoke stand-in answering DSPy's format, not a model.]"
PROPOSED = "proposed_instruction"
HEDGE_MARK = "hedges every claim"
SMOKE_INSTRUCTION_LABEL = "[Smoke stand-in instruction"


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _fields(text: str) -> dict[str, str]:
    """The ``[[ ## name ## ]]`` blocks of one message, name -> value (stripped)."""
    parts = _HEADER_LINE.split(text)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _output_fields(last_user: str) -> list[str]:
    names = [n for n in _OUTPUT_NAMED.findall(last_user) if n != COMPLETED]
    return list(dict.fromkeys(names))


def _literals(system: str) -> dict[str, list[str]]:
    return {name: re.findall(r"'([^']*)'", values) for name, values in _LITERAL.findall(system)}


def _pair_keys(fields: dict[str, str]) -> tuple[str, str] | None:
    first = [k for k in fields if k.endswith("first_completion")]
    second = [k for k in fields if k.endswith("second_completion")]
    return (first[0], second[0]) if first and second else None


def _style(picked_lengths: list[tuple[int, int]]) -> str | None:
    longer = sum(w > r for w, r in picked_lengths)
    shorter = sum(w < r for w, r in picked_lengths)
    if longer == shorter:
        return None
    return "longer" if longer > shorter else "shorter"


def _demonstrated_style(messages: list[dict[str, Any]], options: list[str]) -> str | None:
    """The length taste of the demonstrations (a user turn with a pair, then the answer)."""
    lengths = []
    for shown, answer in zip(messages[1:-1:2], messages[2:-1:2], strict=False):
        pair_fields = _fields(str(shown.get("content", "")))
        keys = _pair_keys(pair_fields)
        said = " ".join(_fields(str(answer.get("content", ""))).values())
        if keys is None or len(options) < 2:
            continue
        first, second = (len(pair_fields[k]) for k in keys)
        if options[0] in said and options[1] not in said:
            lengths.append((first, second))
        elif options[1] in said and options[0] not in said:
            lengths.append((second, first))
    return _style(lengths)


def _choose(messages: list[dict[str, Any]], system: str, fields: dict[str, str],
            options: list[str]) -> tuple[str | None, str]:
    keys = _pair_keys(fields)
    if keys is None or len(options) < 2:
        return options[_digest(*fields.values()) % len(options)] if options else None, "a hash"
    first, second = fields[keys[0]], fields[keys[1]]
    if _digest(first, second, system) % 11 == 0:
        return None, ""  # no verdict: the official code retries, then calls it a tie
    style, source = _demonstrated_style(messages, options), "the demonstrated choices"
    if style is None:
        found = _PERSONA_STYLE.search(system)
        style, source = (found.group(1), "the persona") if found else (None, "")
    if style is not None and len(first) != len(second):
        return options[0] if (len(first) > len(second)) == (style == "longer") else options[1], \
            f"{source} favour the {style} reply"
    return options[_digest(first, second) % 2], "no signal, a hash of the two replies"


def _proposed_instruction(messages: list[dict[str, Any]]) -> str:
    """A labelled smoke instruction, tagged (and picked) by a hash of the whole request."""
    digest = _digest(*(str(m.get("content", "")) for m in messages))
    tag = f"{SMOKE_INSTRUCTION_LABEL} {digest:08x}]"
    if digest % 3 == 0:
        return (f"{tag} Read the past judgements and write a persona that {HEDGE_MARK} and "
                "commits to no particular taste.")
    return (f"{tag} Read the past judgements and write a persona that states plainly which "
            "reply length this person favours, longer or shorter.")


def _persona(judgements: str, system: str = "") -> str:
    """A scripted persona naming the length taste of the judgements it was given: each
    judgement is a block between rules of ``=`` holding the two replies in guillemets
    and, after them, the reply the person preferred (First / Second); else blocks in the
    study's framing. Under a smoke instruction that hedges, a persona naming no taste."""
    if HEDGE_MARK in system and SMOKE_INSTRUCTION_LABEL in system:
        return (f"{SMOKE_NOTE} Written under an instruction that {HEDGE_MARK}: this persona "
                "commits to no particular taste.")
    lengths = []
    for block in _BLOCK_RULE.split(judgements):
        quoted = _QUOTED.findall(block)
        said = _VERDICT.findall(block[block.rfind("»") + 1:]) if len(quoted) >= 2 else []
        if said:
            first, second = len(quoted[0]), len(quoted[1])
            lengths.append((first, second) if said[-1] == "First" else (second, first))
    if not lengths:
        lengths = [(len(a), len(b)) if said == "First" else (len(b), len(a))
                   for a, b, said in _FRAMED.findall(judgements)]
    style = _style(lengths)
    if style is None:
        style = ("longer", "shorter")[_digest(judgements) % 2]
        return (f"{SMOKE_NOTE} No consistent taste in {len(lengths)} judgements; by a hash: "
                f"this person favours the {style} reply.")
    return (f"{SMOKE_NOTE} Across {len(lengths)} judgements this person favours the {style} "
            "reply.")


def dspy_format_answer(request_json: dict[str, Any] | str) -> str | None:
    """An answer in DSPy's chat format to a DSPy-formatted request, else ``None``."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    if len(messages) < 2 or messages[-1].get("role") != "user":
        return None
    system = str(messages[0].get("content", "")) if messages[0].get("role") == "system" else ""
    last = str(messages[-1].get("content", ""))
    outputs = _output_fields(last)
    if f"[[ ## {COMPLETED} ## ]]" not in system or not outputs:
        return None
    fields = _fields(last.split("Respond with the corresponding output fields")[0])
    literals = _literals(system)
    blocks = []
    for name in outputs:
        if name in literals:
            choice, why = _choose(messages, system, fields, literals[name])
            if choice is None:
                continue  # left out on purpose (see the module doc)
            value = choice
        elif "persona" in name:
            value = _persona(" ".join(fields.values()), system)
        elif name == PROPOSED:
            value = _proposed_instruction(messages)
        else:
            why = next((w for n in outputs if n in literals
                        for _, w in [_choose(messages, system, fields, literals[n])]), "")
            value = f"{SMOKE_NOTE} {why}." if why else f"{SMOKE_NOTE}"
        blocks.append(f"[[ ## {name} ## ]]\n{value}")
    blocks.append(f"[[ ## {COMPLETED} ## ]]")
    return "\n\n".join(blocks)
