"""A scripted stand-in for the Θ search's tests, whose answers depend on the instruction.

* **Proposal prompt** (``theta_proposal@v1``): the instruction listed for the prompt's tip in
  ``proposals`` (tip text -> instruction), else a distinct mediocre one naming the tip.
* **Persona prompt**: an instruction (system message) containing ``GOOD`` gets a persona
  carrying ``[knows-taste]``; any other instruction a plain persona.
* **Judge prompt** (either variant: JSON ``A``/``B`` with the persona in the user message,
  or "Preference: First/Second" with the persona in the system message): with a
  ``[knows-taste]`` persona the judge picks the reply marked ``[chosen]`` (always right);
  otherwise it answers the first reply, which is right in exactly one of a pair's two
  orders. So a GOOD instruction scores 100% on validation, any other 50%.
"""

from __future__ import annotations

import json
from typing import Any

from persona_judge.data.records import Preference, Turn, UserSplit

GOOD = "GOOD instruction: name the person's taste so that a judge can use it directly."


def prompt_of(body: dict[str, Any], role: str = "user") -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == role)


class ThetaScript:
    def __init__(self, proposals: dict[str, str] | None = None) -> None:
        self.proposals = dict(proposals or {})
        self.proposal_prompts: list[str] = []

    def __call__(self, body: dict[str, Any]) -> str:
        user, system = prompt_of(body), prompt_of(body, "system")
        if "Instructions tried so far" in user:
            self.proposal_prompts.append(user)
            tip = user.split("Advice for this attempt: ", 1)[1].split("\n", 1)[0]
            return self.proposals.get(tip, f"Mediocre instruction written for the advice "
                                           f"'{tip}', describing the person in general terms.")
        if "Reply they picked" in user:
            if "GOOD" in system:
                return "[knows-taste] This person always wants the reply marked chosen."
            return "A person with some tastes that are hard to pin down from these choices."
        if "## Reply A" in user:
            last = user.rsplit("## Reply A\n", 1)[1]
            reply_a, rest = last.split("\n\n## Reply B\n", 1)
            if "[knows-taste]" in user:
                choice = "A" if "[chosen]" in reply_a else "B"
            else:
                choice = "A"
            return json.dumps({"reasoning": "Scripted.", "preferred": choice})
        if "## First reply" in user:
            last = user.rsplit("## First reply\n", 1)[1]
            first = last.split("\n\n## Second reply\n", 1)[0]
            knows = "[knows-taste]" in user or "[knows-taste]" in system
            choice = "Second" if knows and "[chosen]" not in first else "First"
            return f"Reasoning: Scripted.\n\nPreference: {choice}"
        return "Scripted reply."


def pref(user: str, name: str, split: str) -> Preference:
    return Preference(
        user_id=user, conversation_id=f"{user}-{name}",
        context=(Turn("user", f"Question {name} of {user}: what should I do?"),),
        chosen=Turn("assistant", f"Reply {name} that {user} chose. [chosen]"),
        rejected=Turn("assistant", f"Reply {name} that {user} passed over, a bit longer."),
        split=split, dataset="unit-test")


def user(user_id: str, n_train: int = 3, n_val: int = 2, n_test: int = 2) -> UserSplit:
    return UserSplit(user_id, tuple(pref(user_id, f"t{i}", "train") for i in range(n_train)),
                     tuple(pref(user_id, f"v{i}", "val") for i in range(n_val)),
                     tuple(pref(user_id, f"x{i}", "test") for i in range(n_test)))
