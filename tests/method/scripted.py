"""A scripted judge for the method's tests: its answers depend on the request's content.

Preferences are built with tokens inside their replies; the judge reads the pair
it is asked about (the last ``## Reply A`` / ``## Reply B`` of the prompt) and
the profile before it (persona and demonstrations):

* ``[right]`` in a reply: the judge picks that reply, whatever the profile says;
* ``[needs:t1+t3]`` in a reply: the judge picks it only if the profile shows the
  demos of training conversations ``conv-t1`` and ``conv-t3``, else the other one;
* ``[persona]`` in a reply: picked only if the profile carries a persona;
* ``[tie]`` in either reply: the judge declares a tie (a valid answer, no choice);
* otherwise: reply A.

Persona prompts get ``PERSONA_TEXT`` (or whatever ``persona_answers`` pops next).
"""

from __future__ import annotations

import json
import re
from typing import Any

from persona_judge.data.records import Preference, Turn, UserSplit

PERSONA_TEXT = "A careful reader who values short, direct answers with concrete steps."
_PAIR = re.compile(r"## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n## Your answer", re.DOTALL)
_NEEDS = re.compile(r"\[needs:([\w+]+)\]")


def user_prompt(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")


def final_pair(body: dict[str, Any]) -> tuple[str, str, str]:
    """(profile, reply A, reply B) of a judge request body."""
    prompt = user_prompt(body)
    match = list(_PAIR.finditer(prompt))[-1]
    profile = prompt[: prompt.rindex("## Conversation\n", 0, match.start())]
    return profile, match.group(1), match.group(2)


def is_judge(body: dict[str, Any]) -> bool:
    return "## Reply A" in user_prompt(body)


def _wins(reply: str, profile: str) -> bool | None:
    if "[right]" in reply:
        return True
    needs = _NEEDS.search(reply)
    if needs:
        return all(f"conv-{name}" in profile for name in needs.group(1).split("+"))
    if "[persona]" in reply:
        return "## About this person" in profile
    return None


class ScriptedJudge:
    """The responder; ``persona_answers`` is a queue of texts for persona requests."""

    def __init__(self, persona_answers: list[str] | None = None) -> None:
        self.persona_answers = list(persona_answers or [])

    def __call__(self, body: dict[str, Any]) -> str:
        if not is_judge(body):
            return self.persona_answers.pop(0) if self.persona_answers else PERSONA_TEXT
        profile, a, b = final_pair(body)
        if "[tie]" in a or "[tie]" in b:
            return json.dumps({"reasoning": "Both are equally good.", "preferred": "tie"})
        win_a, win_b = _wins(a, profile), _wins(b, profile)
        if win_a is not None:
            choice = "A" if win_a else "B"
        elif win_b is not None:
            choice = "B" if win_b else "A"
        else:
            choice = "A"
        return json.dumps({"reasoning": f"Scripted: reply {choice} fits.", "preferred": choice})


def pref(user: str, name: str, split: str, chosen: str = "", rejected: str = "") -> Preference:
    """A preference whose conversation is ``conv-<name>``; tokens go in chosen / rejected."""
    return Preference(
        user_id=user, conversation_id=name,
        context=(Turn("user", f"Question conv-{name}: what should I do?"),),
        chosen=Turn("assistant", f"Chosen reply for {name}. {chosen}".strip()),
        rejected=Turn("assistant", f"Rejected reply for {name}, a bit longer. {rejected}".strip()),
        split=split, dataset="unit-test")


def user_split(user: str, train: list[Preference], val: list[Preference],
               test: list[Preference] | None = None) -> UserSplit:
    return UserSplit(user, tuple(train), tuple(val), tuple(test or []))
