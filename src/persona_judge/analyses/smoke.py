"""A scripted stand-in for the further studies' prompts, for smoke runs and tests only.

``analyses_responder(request_body) -> str`` plugs into
``persona_judge.llm.standin.StandInServer`` (``open_llm(mode, model,
responder=analyses_responder)``). It is deterministic, reads only the request, and is
**not a model**; it answers so that a smoke run walks every path of chapters 07-09:

* **Matching prompt** (``## Portrait`` with ``## Person A`` / ``## Person B``): each profile
  gets a score from a hash of the persona's stated taste and the profile; the higher
  score is the answer, so both orders agree and the pick carries no real information.
* **Ratings prompt** (``## The survey``): ratings that follow the smoke persona's taste
  (a persona favouring longer replies weighs factuality and helpfulness, one favouring
  shorter replies fluency and personalisation), plus hash noise. For about one persona in
  five the first (temperature-0) answer is prose without JSON, so the re-ask path runs.
* **Judge prompts** go to the method's :func:`~persona_judge.method.smoke.smoke_responder`;
  when the request's ``model`` names a small model (``3B`` / ``8B``) a hash-chosen share
  of its answers (30% / 15%) is flipped, so judges of different "sizes" differ in smoke
  runs of the transfer chapter. A small model's persona (prompt with ``Reply they picked``)
  is, for about one user in three, the method stand-in's "no consistent taste" persona, so
  a strong writer's persona can differ from a small judge's own.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from persona_judge.data.raw_prism import STATED_PREF_ATTRIBUTES
from persona_judge.method.smoke import SMOKE_PERSONA_PREFIX, smoke_responder

_MATCH = re.compile(r"## Portrait\n(.*?)\n\n## Person A\n(.*?)\n\n## Person B\n(.*?)\n\n"
                    r"## Your answer", re.DOTALL)
_RATE = re.compile(r"## Portrait\n(.*?)\n\n## The survey\n", re.DOTALL)
_STYLE = re.compile(r"favours the (longer|shorter)")
#: Share of a small model's judge answers that the stand-in flips.
FLIP_SHARE = {"3B": 0.30, "8B": 0.15}
_LEANING = {
    "longer": {"factuality": 85, "helpfulness": 80, "diversity": 65, "fluency": 60},
    "shorter": {"fluency": 80, "personalisation": 75, "helpfulness": 70, "factuality": 45},
}


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:4], "big")


def _style(persona: str) -> str:
    found = _STYLE.search(persona)
    return found.group(1) if found else "none"


def _match(persona: str, a: str, b: str) -> str:
    style = _style(persona)
    score_a, score_b = _digest("match", style, a), _digest("match", style, b)
    choice = "A" if score_a >= score_b else "B"
    return json.dumps({"reasoning": "Scripted smoke stand-in: a hash of the portrait's taste "
                                    f"and each profile favours Person {choice}.",
                       "preferred": choice})


def _ratings(persona: str, temperature: float) -> str:
    if temperature == 0.0 and _digest("prose", persona) % 5 == 0:
        return "Scripted smoke stand-in: this person probably cares most about factuality."
    leaning = _LEANING.get(_style(persona), {})
    out = {}
    for key in STATED_PREF_ATTRIBUTES:
        noise = _digest("rate", persona, key) % 21 - 10
        out[key] = max(1, min(100, leaning.get(key, 50) + noise))
    return json.dumps(out)


def _share(body: dict[str, Any]) -> float:
    model = str(body.get("model") or "")
    return next((s for size, s in FLIP_SHARE.items() if size in model), 0.0)


def _vague_persona(answer: str, body: dict[str, Any], prompt: str) -> str:
    if not _share(body) or not answer or _digest("vague", prompt) % 3:
        return answer
    return (f"{SMOKE_PERSONA_PREFIX} Across these choices this person showed no consistent "
            "taste for longer or shorter replies.")


def _flip(answer: str, body: dict[str, Any], prompt: str) -> str:
    model = str(body.get("model") or "")
    share = _share(body)
    if not share or _digest("flip", model, prompt) % 100 >= 100 * share:
        return answer
    try:
        data = json.loads(answer)
    except ValueError:
        return answer
    if data.get("preferred") not in ("A", "B"):
        return answer
    data["preferred"] = "B" if data["preferred"] == "A" else "A"
    data["reasoning"] = f"Scripted smoke stand-in ({model}, a noisier judge): " + \
        str(data.get("reasoning", ""))
    return json.dumps(data)


def analyses_responder(request_json: dict[str, Any] | str) -> str:
    """Answer one OpenAI-style chat request body as the further studies' scripted stand-in."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    messages = body.get("messages") or []
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")
    found = _MATCH.search(prompt)
    if found:
        return _match(*found.groups())
    found = _RATE.search(prompt)
    if found:
        return _ratings(found.group(1), float(body.get("temperature") or 0.0))
    answer = smoke_responder(body)
    if "## Reply A" in prompt and "## Reply B" in prompt:
        return _flip(answer, body, prompt)
    if "Reply they picked" in prompt:
        return _vague_persona(answer, body, prompt)
    return answer
