"""A scripted stand-in for chapter 11 and ``optimise-theta --smoke``: not a model.

``theta_responder(request_body) -> str`` answers like the further studies' stand-in
(:func:`persona_judge.analyses.smoke.analyses_responder`), with two additions that let a
smoke run walk every path of the Θ search:

* **Proposal prompt** (``theta_proposal@v1``): a scripted instruction chosen by a hash of
  the prompt (so each tip gets its own): one that asks to *state the reply length the
  person favours*, one that asks to *hedge every claim*, or (one time in four) a reply
  too short to be an instruction (the unusable-proposal path).
* **Persona prompt**: whether the persona names the person's taste depends on the
  instruction (the system message). An instruction that asks for the *reply length* gets
  the method stand-in's persona (it names the favoured length, which the smoke judge
  reads); one that asks to *hedge* gets a persona that names nothing; any other
  instruction names the taste for about half the users (by a hash of the examples). So in
  a smoke run an instruction can be scripted-better than ours; this says nothing about
  real models.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from persona_judge.analyses.smoke import analyses_responder
from persona_judge.method.smoke import SMOKE_PERSONA_PREFIX

PROPOSAL_MARK = "Instructions tried so far"
LENGTH_INSTRUCTION = (
    "[Smoke stand-in instruction] Read the choices and write one paragraph about this "
    "person. State plainly which reply length they favour, longer or shorter, and what "
    "else their choices share.")
HEDGE_INSTRUCTION = (
    "[Smoke stand-in instruction] Write a careful paragraph about this person that hedges "
    "every claim and commits to no particular taste.")


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _proposal(prompt: str) -> str:
    pick = _digest("proposal", prompt) % 4
    if pick == 0:
        return "Be better."  # too short: the unusable-proposal path
    return LENGTH_INSTRUCTION if pick % 2 else HEDGE_INSTRUCTION


def theta_responder(request_json: dict[str, Any] | str) -> str:
    """Answer one OpenAI-style chat request body as chapter 11's scripted stand-in."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    messages = body.get("messages") or []
    system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    if PROPOSAL_MARK in prompt:
        return _proposal(prompt)
    answer = analyses_responder(body)
    if "Reply they picked" not in prompt or not answer:
        return answer
    vague = (f"{SMOKE_PERSONA_PREFIX} This person's choices were read under an instruction "
             "that names no particular taste.")
    if "reply length" in system.lower():
        return answer
    if "hedge" in system.lower() or _digest("names taste", prompt) % 2:
        return vague
    return answer
