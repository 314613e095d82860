"""The DSPy persona-synthesis program that MIPROv2 tunes (needs the ``[reference]`` extra).

Written for this study, shaped like the program the authors released (so that
:func:`persona_judge.method.theta.program_template_text` reads its saved state): one
chain-of-thought predictor named ``synthesize`` (saved as ``synthesize.predict``), input
``past_judgements``, outputs ``reasoning`` then ``synthesized_persona``. The instruction
and the field descriptions are ours. The input is the user's history rendered exactly as
the public variant's Θ file shows it to the persona writer (see
:func:`persona_judge.method.persona.render_history`), so an instruction and worked
demonstrations tuned here are tuned on the text a fit later sends.

This module imports DSPy when it is imported; :mod:`persona_judge.optimisation.miprov2`
imports it only after checking that the extra is installed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from persona_judge.reference.extra import import_dspy

dspy = import_dspy()

#: Our starting instruction (MIPROv2's candidate 0), in our own words.
SEED_INSTRUCTION = (
    "You are shown one person's past judgements: conversations in which they compared two "
    "assistant replies, the reply they preferred and, where there is one, an analysis of "
    "why. Work out what this person looks for in a reply (its content and stance, its "
    "form, length and tone) and write a short persona that another reader could use to "
    "predict which of two new replies this person would prefer. Say only what the "
    "judgements support.")
#: Signature fields whose values a saved demonstration must hold (the converter's fields).
DEMO_FIELDS = ("past_judgements", "reasoning", "synthesized_persona")


class WritePersona(dspy.Signature):  # type: ignore[misc, name-defined]
    __doc__ = SEED_INSTRUCTION

    past_judgements: str = dspy.InputField(
        desc="The person's earlier choices between two replies, one block per choice, "
             "with the analysis of the choice where one was verified.")
    synthesized_persona: str = dspy.OutputField(
        desc="A few sentences describing this person's preferences, usable by a judge "
             "that must predict their next choice.")


class PersonaProgram(dspy.Module):  # type: ignore[misc, name-defined]
    """Reason about one person's past judgements, then write their persona."""

    def __init__(self) -> None:
        super().__init__()
        self.synthesize = dspy.ChainOfThought(WritePersona)

    def forward(self, past_judgements: str) -> Any:
        answer = self.synthesize(past_judgements=past_judgements)
        return dspy.Prediction(reasoning=answer.reasoning,
                               synthesized_persona=answer.synthesized_persona,
                               candidate=fingerprint(self))


def predictor(program: Any) -> Any:
    """The ``synthesize`` predictor (DSPy's inner ``Predict`` of the chain of thought)."""
    return program.synthesize.predict


def instruction_of(program: Any) -> str:
    return str(predictor(program).signature.instructions)


def demos_of(program: Any) -> list[dict[str, Any]]:
    """The program's demonstrations as plain dicts (DSPy keeps them as Examples)."""
    return [dict(d.toDict() if hasattr(d, "toDict") else d) for d in predictor(program).demos]


def fingerprint(program: Any) -> str:
    """A short id of what a candidate program sends: its instruction and the fields of its
    demonstrations (MIPROv2's candidates differ in exactly these)."""
    shown = [{k: str(d.get(k, "")) for k in DEMO_FIELDS} for d in demos_of(program)]
    text = json.dumps({"instruction": instruction_of(program), "demos": shown},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def saved_state(program: Any) -> dict[str, Any]:
    """The program's DSPy state as plain JSON (what ``program.save`` would write)."""
    state = program.dump_state()
    return json.loads(json.dumps(state, default=lambda o: o.toDict() if hasattr(o, "toDict")
                                 else str(o)))
