"""The smoke stand-in, taught to read the baselines' prompts too (smoke runs only; not a model).

:func:`smoke_responder` answers like :func:`persona_judge.method.smoke.smoke_responder`,
with one more rule, for the Memory judge's prompt (``## This person's earlier
choices``): pick the reply whose length matches what the remembered choices mostly
favoured (longer or shorter), else fall back to the method's responder. The
Demographics prompt carries nothing the fixture tastes depend on, so it gets the
method responder's no-signal answer (a hash of the two replies), as it should.
Deterministic and content-only, like the method's responder, so smoke records are stable.
"""

from __future__ import annotations

import json
import re
from typing import Any

from persona_judge.method import smoke as method_smoke

MEMORY_HEADING = "## This person's earlier choices"
_ENTRY = re.compile(r"The reply they chose:\n(.*?)\n\nThe reply they turned down:\n(.*?)\n\n",
                    re.DOTALL)
_PAIR = re.compile(r"## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n## Your answer", re.DOTALL)


def _memory_answer(prompt: str) -> str | None:
    pair = list(_PAIR.finditer(prompt))
    if not pair:
        return None
    reply_a, reply_b = pair[-1].group(1), pair[-1].group(2)
    style = method_smoke._style_from_lengths(_ENTRY.findall(prompt[: pair[-1].start()]))
    if style is None or len(reply_a) == len(reply_b):
        return None
    choice = "A" if (len(reply_a) > len(reply_b)) == (style == "longer") else "B"
    return json.dumps({"reasoning": "Scripted smoke stand-in: the remembered choices favour the "
                                    f"{style} reply; Reply {choice} is the {style} one.",
                       "preferred": choice})


def smoke_responder(request_json: dict[str, Any] | str) -> str:
    """Answer one chat request body: Memory prompts by the rule above, the rest as the method's
    smoke responder does."""
    body = json.loads(request_json) if isinstance(request_json, str) else request_json
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages") or []
                       if m.get("role") != "system")
    if MEMORY_HEADING in prompt:
        answer = _memory_answer(prompt)
        if answer is not None:
            return answer
    return method_smoke.smoke_responder(body)
