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
* Anything else gets a short canned reply.
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


def _judge(prompt: str) -> str:
    matches = list(_REPLY_A.finditer(prompt))
    if not matches:
        return "Scripted smoke stand-in: no replies found to compare."
    match = matches[-1]  # the pair to judge comes after any demonstrations
    reply_a, reply_b = match.group(1), match.group(2)
    profile = prompt[: match.start()]
    pairs, taught = _demonstrated(profile)
    match_a, match_b = _opening(reply_a) in taught, _opening(reply_b) in taught
    if match_a != match_b:
        choice = "A" if match_a else "B"
        return json.dumps({"reasoning": "Scripted smoke stand-in: the reasoned earlier choices "
                                        f"show this person picking replies like Reply {choice}.",
                           "preferred": choice})
    style, source = None, ""
    if "## About this person" in profile:
        found = _PERSONA_STYLE.search(profile)
        style, source = (found.group(1), "the persona") if found else (None, "")
    if style is None and pairs:
        style, source = _style_from_lengths(pairs), "the earlier choices"
    if style is not None and len(reply_a) != len(reply_b):
        a_longer = len(reply_a) > len(reply_b)
        choice = "A" if a_longer == (style == "longer") else "B"
        reasoning = (f"Scripted smoke stand-in: {source} suggest this person favours the "
                     f"{style} reply; Reply {choice} is the {style} one.")
    else:
        choice = "A" if _digest(reply_a, reply_b) % 2 == 0 else "B"
        reasoning = ("Scripted smoke stand-in: no usable signal about this person, so the "
                     f"choice of Reply {choice} comes from a hash of the two replies.")
    return json.dumps({"reasoning": reasoning, "preferred": choice})


def _persona(prompt: str, temperature: float) -> str:
    pairs = _EXAMPLE.findall(prompt)
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
    if "## Reply A" in prompt and "## Reply B" in prompt:
        return _judge(prompt)
    if "Reply they picked" in prompt:
        return _persona(prompt, float(body.get("temperature") or 0.0))
    return "Scripted smoke stand-in reply (not a model)."
