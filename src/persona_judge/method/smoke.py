"""A scripted stand-in "model" that understands this method's prompts, for smoke runs only.

``smoke_responder(request_json) -> str`` plugs into
``persona_judge.llm.standin.StandInServer``. It is deterministic and depends
only on the request's content, so smoke runs are reproducible, and it is built
so that the smoke pipeline walks every path of the method. It is **not a
model**: anything computed from it is a smoke-run artefact and is labelled so.

Rules:

* **Judge prompt** (has ``## Reply A`` / ``## Reply B``), first rule that applies:

  1. demonstrations *with reasoning* (verified traces) whose picked reply opens
     with the same three words as exactly one of the two replies: pick that one
     (the reasoning "taught" the judge what this person picks — so candidates
     with verified reasoning can beat the persona alone);
  2. a persona saying the person "favours the longer" (or "shorter") reply: pick
     that reply;
  3. demonstrations (labelled only, or reasoning without a match): pick the reply
     whose length matches what the demonstrated choices mostly favoured;
  4. no signal (default judge): pick by a hash of the two replies.

  Lengths only partly predict the fixture users' tastes, so traces written with
  labelled context verify for some pairs and not others, and which candidate
  wins a search differs between users (labels only, full set, random sets,
  persona only). Answers are well-formed JSON.
* **Persona prompt** (has ``Reply they picked``): a persona naming the length the
  person favoured in the examples. For about one user in five (by a hash of the
  prompt) the first, temperature-0 answer is empty, so the retry path runs.
* The public configuration's prompts get the same rules in their shapes: a judge
  prompt with ``## First reply`` / ``## Second reply`` (demos inline or as earlier
  user/assistant turns, the persona in the system message) is answered
  ``Reasoning: ... Preference: First|Second``; a persona prompt of the released
  program (``Past judgements of one user``) is answered ``Reasoning: ... Persona: ...``,
  read from the user's own history only (the last user message).
* Anything else gets a short canned reply.

:func:`smoke_theta_program` is a stand-in for the released persona program (same
structure, our own smoke text), served by the smoke stand-in server so that smoke
runs of ``persona_instruction="public"`` need no network.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from persona_judge.reference.smoke import dspy_format_answer

_REPLY_A = re.compile(r"## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n## Your answer", re.DOTALL)
_DEMO = re.compile(r"Reply A:\n(.*?)\n\nReply B:\n(.*?)\n\nTheir choice: (\{.*?\})\n", re.DOTALL)
_PERSONA_STYLE = re.compile(r"favours the (longer|shorter)")
_EXAMPLE = re.compile(
    r"Reply they picked[^\n]*:\n(.*?)\n\nReply they passed over[^\n]*:\n(.*?)\n\nWhy they",
    re.DOTALL)

SMOKE_PERSONA_PREFIX = "[Smoke-run persona from a scripted stand-in, not a model.]"


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _style_from_lengths(pairs: list[tuple[str, str]]) -> str | None:
    """'longer' / 'shorter' if the preferred texts were mostly longer / shorter, else None."""
    longer = sum(len(win) > len(lose) for win, lose in pairs)
    shorter = sum(len(win) < len(lose) for win, lose in pairs)
    if longer == shorter:
        return None
    return "longer" if longer > shorter else "shorter"


def _opening(text: str) -> str:
    return " ".join(text.split()[:3])


def _demonstrated(profile: str) -> tuple[list[tuple[str, str]], set[str]]:
    """(picked, passed-over) texts of the demos, and openings of picks with reasoning."""
    pairs, taught = [], set()
    for a, b, answer in _DEMO.findall(profile):
        shown = json.loads(answer)
        picked, passed = (a, b) if shown.get("preferred") == "A" else (b, a)
        pairs.append((picked, passed))
        if shown.get("reasoning"):
            taught.add(_opening(picked))
    return pairs, taught


def _decide(reply_a: str, reply_b: str, pairs: list[tuple[str, str]], taught: set[str],
            persona: str) -> tuple[str, str]:
    """(choice "A"/"B", reasoning) by the rules of the module doc."""
    match_a, match_b = _opening(reply_a) in taught, _opening(reply_b) in taught
    if match_a != match_b:
        choice = "A" if match_a else "B"
        return choice, ("Scripted smoke stand-in: the reasoned earlier choices show this person "
                        f"picking replies like reply {choice}.")
    style, source = None, ""
    if persona:
        found = _PERSONA_STYLE.search(persona)
        style, source = (found.group(1), "the persona") if found else (None, "")
    if style is None and pairs:
        style, source = _style_from_lengths(pairs), "the earlier choices"
    if style is not None and len(reply_a) != len(reply_b):
        a_longer = len(reply_a) > len(reply_b)
        choice = "A" if a_longer == (style == "longer") else "B"
        return choice, (f"Scripted smoke stand-in: {source} suggest this person favours the "
                        f"{style} reply; reply {choice} is the {style} one.")
    choice = "A" if _digest(reply_a, reply_b) % 2 == 0 else "B"
    return choice, ("Scripted smoke stand-in: no usable signal about this person, so the "
                    f"choice of reply {choice} comes from a hash of the two replies.")


def _judge(prompt: str) -> str:
    matches = list(_REPLY_A.finditer(prompt))
    if not matches:
        return "Scripted smoke stand-in: no replies found to compare."
    match = matches[-1]  # the pair to judge comes after any demonstrations
    reply_a, reply_b = match.group(1), match.group(2)
    profile = prompt[: match.start()]
    pairs, taught = _demonstrated(profile)
    persona = profile if "## About this person" in profile else ""
    choice, reasoning = _decide(reply_a, reply_b, pairs, taught, persona)
    return json.dumps({"reasoning": reasoning, "preferred": choice})


_FS_PAIR = re.compile(r"## First reply\n(.*?)\n\n## Second reply\n(.*?)\n\nWhich reply",
                      re.DOTALL)
_FS_DEMO = re.compile(r"First reply:\n(.*?)\n\nSecond reply:\n(.*?)\n\n"
                      r"(Reasoning: .*?\n\n)?Preference: (First|Second)", re.DOTALL)
_FS_ANSWER = re.compile(r"(Reasoning: .*?\n\n)?Preference: (First|Second)\s*$", re.DOTALL)


def _judge_first_second(messages: list[dict[str, Any]]) -> str:
    """The judge rules for the public configuration's prompts (First/Second, turns)."""
    last = str(messages[-1].get("content", ""))
    match = _FS_PAIR.search(last)
    if not match:
        return "Scripted smoke stand-in: no replies found to compare."
    pairs: list[tuple[str, str]] = []
    taught: set[str] = set()

    def add(a: str, b: str, reasoned: bool, ordinal: str) -> None:
        picked, passed = (a, b) if ordinal == "First" else (b, a)
        pairs.append((picked, passed))
        if reasoned:
            taught.add(_opening(picked))

    for a, b, reasoning, ordinal in _FS_DEMO.findall(last[: match.start()]):
        add(a, b, bool(reasoning), ordinal)
    # demos as earlier turns: (user, assistant) neighbours
    for turn, answer in zip(messages[1:-1], messages[2:-1], strict=False):
        shown = _FS_PAIR.search(str(turn.get("content", "")))
        said = _FS_ANSWER.search(str(answer.get("content", "")))
        if turn.get("role") == "user" and answer.get("role") == "assistant" and shown and said:
            add(shown.group(1), shown.group(2), bool(said.group(1)), said.group(2))
    persona = "\n".join(str(m.get("content", "")) for m in messages[:-1]
                        if m.get("role") == "system") + last[: match.start()]
    choice, reasoning = _decide(match.group(1), match.group(2), pairs, taught, persona)
    return f"Reasoning: {reasoning}\n\nPreference: {'First' if choice == 'A' else 'Second'}"


_PUBLIC_EXAMPLE = re.compile(r"First reply:\n(.*?)\n\nSecond reply:\n(.*?)\n\nReasoning: "
                             r".*?\n\nThe user preferred: (First|Second)", re.DOTALL)


def _persona(prompt: str, temperature: float,
             pairs: list[tuple[str, str]] | None = None) -> str:
    pairs = _EXAMPLE.findall(prompt) if pairs is None else pairs
    if temperature == 0.0 and _digest(prompt) % 5 == 0:
        return ""  # exercises the persona retry path in smoke runs
    style = _style_from_lengths(pairs)
    if style is None:
        return (f"{SMOKE_PERSONA_PREFIX} Across {len(pairs)} choices this person showed no "
                "consistent taste for longer or shorter replies.")
    count = sum((len(w) > len(r)) == (style == "longer") for w, r in pairs)
    return (f"{SMOKE_PERSONA_PREFIX} In {count} of {len(pairs)} choices this person picked "
            f"the {style} reply: this person favours the {style} reply.")


def smoke_responder(request_json: dict[str, Any] | str) -> str:
    """Answer one OpenAI-style chat request body as the scripted smoke stand-in."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    official = dspy_format_answer(body)  # the reference arm's DSPy-format requests
    if official is not None:
        return official
    messages = body.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    last = str(messages[-1].get("content", "")) if messages else ""
    if "## First reply" in last and "## Second reply" in last:
        return _judge_first_second(messages)
    if "Past judgements of one user" in last:
        pairs = [(a, b) if o == "First" else (b, a) for a, b, o in _PUBLIC_EXAMPLE.findall(last)]
        persona = _persona(last, float(body.get("temperature") or 0.0), pairs)
        return (f"Reasoning: Scripted smoke stand-in: {len(pairs)} past judgements read.\n\n"
                f"Persona: {persona}") if persona else ""
    if "## Reply A" in prompt and "## Reply B" in prompt:
        return _judge(prompt)
    if "Reply they picked" in prompt:
        return _persona(prompt, float(body.get("temperature") or 0.0))
    return "Scripted smoke stand-in reply (not a model)."


def smoke_theta_program() -> dict[str, Any]:
    """A stand-in for the released persona program (same structure; smoke text only)."""
    demos = []
    for i, style in enumerate(("longer", "shorter"), start=1):
        demos.append({
            "augmented": True,
            "past_judgements": f"[Smoke stand-in worked example {i}: a short judgement "
                               f"history in which the user picked the {style} reply.]",
            "reasoning": f"[Smoke stand-in reasoning {i}: the picks were mostly {style}.]",
            "synthesized_persona": f"{SMOKE_PERSONA_PREFIX} This person favours the {style} "
                                   "reply.",
        })
    return {"synthesize.predict": {
        "lm": None, "traces": [], "train": [], "demos": demos,
        "signature": {"instructions": "[Smoke stand-in for the released persona instruction: "
                                      "write a persona from the user's past judgements.]",
                      "fields": []}},
        "metadata": {"dependency_versions": {"smoke": "stand-in"}}}
