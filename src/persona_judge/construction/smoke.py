"""A scripted stand-in for the construction's LLM prompts, for smoke runs and tests only.

``construction_responder(request_json) -> str`` plugs into
``persona_judge.llm.standin.StandInServer`` (``open_llm(mode, model,
responder=construction_responder)``). It is deterministic, reads only the request,
and is **not a model**; it exists so that a smoke run walks every path of the
filters, each of which then removes something:

* **Personalization prompt** (``## Room for personal taste?``): the query leaves
  no room for taste when it carries the fixtures' ``[synthetic factual question]``
  mark; the replies do not differ in taste for about one pair in eight (by a hash
  of the two replies). About one answer in twenty is first returned unreadable,
  so the re-ask path runs.
* **Consensus prompt** (``## Verdict``): every judge rejects a reply marked
  ``[synthetic clearly worse reply]``; otherwise each judge (the request's
  ``model``) picks by a hash of its name, the order and the replies, so judges
  mostly disagree.
* Anything else goes to the method's :func:`persona_judge.method.smoke.smoke_responder`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from persona_judge.data.raw_fixtures import FACTUAL_MARK, WORSE_MARK
from persona_judge.method.smoke import smoke_responder

_PERSONAL = re.compile(r"## Conversation\n(.*?)\n\n## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n"
                       r"## Room for personal taste\?", re.S)
_CONSENSUS = re.compile(r"## Conversation\n(.*?)\n\n## Candidate 1 \(A\)\n(.*?)\n\n"
                        r"## Candidate 2 \(B\)\n(.*?)\n\n## Verdict", re.S)


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _last_user(conversation: str) -> str:
    turns = [t for t in conversation.split("\n\n") if t.startswith("User: ")]
    return turns[-1] if turns else conversation


def _personalization(match: re.Match[str], sample_index: int) -> str:
    conversation, a, b = match.groups()
    if sample_index == 0 and _digest("unreadable", a, b) % 20 == 0:
        return "Scripted smoke stand-in: I would rather not say."  # exercises the re-ask
    query_ok = FACTUAL_MARK not in _last_user(conversation)
    replies_ok = _digest("taste", a, b) % 8 != 0
    return json.dumps({
        "query_reasoning": "Scripted smoke stand-in: " + (
            "an open question." if query_ok else "a question with one correct answer."),
        "personalizable_query": query_ok,
        "response_reasoning": "Scripted smoke stand-in: " + (
            "the replies differ in style." if replies_ok else "the replies differ in nothing "
                                                               "a person's taste would decide."),
        "personalizable_responses": replies_ok})


def _consensus(match: re.Match[str], model: str) -> str:
    _, a, b = match.groups()
    if WORSE_MARK in a and WORSE_MARK not in b:
        choice, why = "B", "Candidate A is marked clearly worse."
    elif WORSE_MARK in b and WORSE_MARK not in a:
        choice, why = "A", "Candidate B is marked clearly worse."
    else:
        choice = "A" if _digest("consensus", model, a, b) % 2 == 0 else "B"
        why = "no clear quality difference; a hash of the judge and replies decides."
    return json.dumps({"reasoning": f"Scripted smoke stand-in ({model}): {why}",
                       "preferred": choice})


def construction_responder(request_json: dict[str, Any] | str) -> str:
    """Answer one OpenAI-style chat request body as the construction's scripted stand-in."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    messages = body.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    found = _PERSONAL.search(prompt)
    if found:
        # The resampled request differs only in temperature, so read the retry from it.
        retry = float(body.get("temperature") or 0.0) > 0.0
        return _personalization(found, 1 if retry else 0)
    found = _CONSENSUS.search(prompt)
    if found:
        return _consensus(found, str(body.get("model") or ""))
    return smoke_responder(body)
