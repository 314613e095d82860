"""Step 2, persona synthesis: verified reasoning traces in, a short persona text out.

The instruction Θ is a prompt template (a packaged id such as
``"persona_synthesis@v1"``, ours, written for this study, or a path to your own
``.txt`` file with ``=== system ===``, ``=== user ===`` (using ``$examples``)
and ``=== example ===`` sections (using ``$index $conversation $chosen
$rejected $chosen_letter $rejected_letter $reasoning``)). The paper optimised Θ
once with DSPy MIPROv2 on PRISM; Θ is a parameter here (``persona-judge
optimise-theta`` searches one, with our search or MIPROv2) and its id enters the cache
key and the artifact.

A Θ file may also carry worked demonstrations (``=== shot_input ===`` /
``=== shot_output ===`` pairs), sent as earlier user and assistant turns; the
README's "Θ file format" lists every section and placeholder, and
:func:`theta_problems` names every problem of a file at once.
``persona_instruction="public"`` (the faithful default) uses the program released with
the paper's public code, fetched at run time (see :mod:`persona_judge.method.theta`).

Inputs and fallbacks (each fallback is recorded in the artifact with its code):

* normally the winning step-1 candidate: its verified traces, each shown with
  the reply the user picked, the one they passed over and the verified
  reasoning, plus its labelled examples (the choice only, "no analysis on
  record"), in training order;
* ``persona from labelled training pairs``: if that candidate shows nothing (the
  cheaper variant's empty candidate), the persona is written from **all training
  pairs with the user's real choices**, with reasoning where a verified trace
  exists;
* ``persona retried``: if the call fails or its text is not usable (empty, or
  fewer than ``MIN_PERSONA_WORDS`` words after removing a heading), it is
  retried once with ``temperature=0.7, sample_index=1`` (a distinct cache entry);
* ``no usable persona``: if that also fails the persona is ``None``; step 3 then
  searches demonstrations without a persona, and the "persona only" ablation of
  that user is flagged in the judgments (it is the default judge).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from string import Template
from typing import Any

from persona_judge.data.records import Preference
from persona_judge.llm import ChatRequest
from persona_judge.method.bootstrap import Trace
from persona_judge.method.judge import ORDERS, correct_letter, pair_slots, render_conversation
from persona_judge.method.selection import CandidateScore, Fallback, Spend
from persona_judge.method.templates import PERSONA_SYNTHESIS, load_template

MIN_PERSONA_WORDS = 5
PERSONA_MAX_TOKENS = 700
NO_REASONING = "no analysis on record for this choice."
# A heading such as "Persona:", "**User persona:**", "## Synthesized Persona" (alone on its
# line). The word must end there, so a persona that starts "Personable ..." keeps its words.
_HEADING = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:the\s+)?(?:(?:synthesi[sz]ed|user(?:'s)?)\s+)?persona\b"
    r"(?:\s*(?:\*\*)?\s*(?::|[-\u2013\u2014](?=\s))\s*(?:\*\*)?|\s*(?:\*\*)?[ \t]*\n)\s*",
    re.IGNORECASE)
# "Persona:" (or "Synthesized persona:") opening a line, after a reasoning part.
_PERSONA_LABEL = re.compile(
    r"^[ \t]*(?:\*\*)?(?:synthesi[sz]ed\s+)?persona(?:\*\*)?\s*:(?:\*\*)?",
    re.IGNORECASE | re.MULTILINE)
_REASONING_LABEL = re.compile(r"^[ \t]*(?:\*\*)?reasoning(?:\*\*)?\s*:",
                              re.IGNORECASE | re.MULTILINE)


@dataclass
class PersonaResult:
    """The persona (or ``None``), which pairs it was written from, fallbacks and cost."""

    persona: str | None
    source_pairs: list[str]
    fallbacks: list[Fallback] = field(default_factory=list)
    spend: Spend = field(default_factory=Spend)
    template: str = PERSONA_SYNTHESIS


def persona_request(examples: Sequence[tuple[Preference, Trace | None]],
                    instruction: str = PERSONA_SYNTHESIS, *, temperature: float = 0.0,
                    sample_index: int = 0, max_tokens: int = PERSONA_MAX_TOKENS,
                    ) -> ChatRequest:
    """The persona-synthesis request for these (preference, verified trace or None) examples.

    Messages: the Θ's ``system`` section; each worked demonstration of the Θ (its
    ``shot_input`` / ``shot_output`` sections, in file order) as a user turn and an
    assistant turn; then the ``user`` section with the user's own history.
    """
    template = load_template(instruction)
    messages = [{"role": "system", "content": template.render("system")}]
    for shot_in, shot_out in zip(template.sections_named("shot_input"),
                                 template.sections_named("shot_output"), strict=True):
        messages.append({"role": "user", "content": Template(shot_in).substitute()})
        messages.append({"role": "assistant", "content": Template(shot_out).substitute()})
    messages.append({"role": "user",
                     "content": template.render("user", examples=render_history(examples,
                                                                                 instruction))})
    user = examples[0][0].user_id if examples else ""
    return ChatRequest(messages=messages, template=template.id, temperature=temperature,
                       max_tokens=max_tokens, sample_index=sample_index,
                       labels={"user": user, "pair": "", "step": "persona synthesis"})


def render_history(examples: Sequence[tuple[Preference, Trace | None]],
                   instruction: str = PERSONA_SYNTHESIS) -> str:
    """The user's history as the Θ's ``example`` section shows it (what ``$examples`` of
    its ``user`` section receives): one block per (preference, verified trace or None)."""
    template = load_template(instruction)
    rendered = []
    for i, (pref, trace) in enumerate(examples, start=1):
        order = trace.order if trace is not None else ORDERS[0]
        chosen_letter = correct_letter(order)
        first, second = pair_slots(pref, order)
        reasoning = trace.reasoning.strip() if trace is not None and trace.verified else ""
        rendered.append(template.render(
            "example", index=str(i), conversation=render_conversation(pref.context),
            chosen=pref.chosen.content, rejected=pref.rejected.content,
            chosen_letter=chosen_letter, rejected_letter="B" if chosen_letter == "A" else "A",
            first=first, second=second,
            preferred_ordinal="First" if chosen_letter == "A" else "Second",
            reasoning=reasoning or NO_REASONING))
    return "\n".join(rendered)


#: What each section of a Θ file may use (see the README's "Θ file format").
THETA_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "system": (),
    "user": ("examples",),
    "example": ("index", "conversation", "chosen", "rejected", "chosen_letter",
                "rejected_letter", "first", "second", "preferred_ordinal", "reasoning"),
    "shot_input": (),
    "shot_output": (),
}
THETA_REQUIRED = ("system", "user", "example")


def theta_problems(text: str) -> list[str]:
    """Every problem of a Θ file's text, in the user's terms (empty: the file is usable)."""
    from persona_judge.method.templates import _SECTION

    problems = []
    marks = list(_SECTION.finditer(text))
    names = [m.group(1) for m in marks]
    missing = [n for n in THETA_REQUIRED if n not in names]
    if missing:
        problems.append("it lacks the section(s) " + ", ".join(f"'=== {n} ==='" for n in missing)
                        + " (a Θ file needs system, user and example)")
    for name in dict.fromkeys(names):
        if name not in THETA_PLACEHOLDERS:
            problems.append(f"'=== {name} ===' is not a Θ section (known: "
                            f"{', '.join(THETA_PLACEHOLDERS)}); check the spelling")
    if names.count("shot_input") != names.count("shot_output"):
        problems.append(f"it has {names.count('shot_input')} '=== shot_input ===' but "
                        f"{names.count('shot_output')} '=== shot_output ===' sections; each "
                        "worked example needs both")
    for i, mark in enumerate(marks):
        name = mark.group(1)
        body = text[mark.end(): marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        allowed = THETA_PLACEHOLDERS.get(name)
        used = []
        for found in Template.pattern.finditer(body):
            if found.group("invalid") is not None:
                line = body.count("\n", 0, found.start()) + mark.string.count(
                    "\n", 0, mark.end()) + 1
                problems.append(f"'=== {name} ===' has a lone '$' on line {line}; write $$ "
                                "for a dollar sign")
            placeholder = found.group("named") or found.group("braced")
            if placeholder:
                used.append(placeholder)
        if allowed is None:
            continue
        for placeholder in dict.fromkeys(used):
            if placeholder not in allowed:
                have = (", ".join(f"${a}" for a in allowed) if allowed
                        else "none: write the text as it should be sent")
                problems.append(f"'=== {name} ===' uses ${placeholder}, which Θ files do not "
                                f"fill in (available there: {have}; write $$ for a dollar "
                                "sign)")
        if name == "user" and "examples" not in used:
            problems.append("'=== user ===' never uses $examples, so the persona would be "
                            "written without seeing a single choice; add $examples")
    if not marks:
        problems = ["it has no sections: start it with a line '=== system ===', then "
                    "'=== user ===' (using $examples) and '=== example ==='"]
    return problems


def clean_persona(text: str | None) -> str | None:
    """The persona text without reasoning before it, a leading 'Persona:' heading or quotes;
    None if unusable.

    A Θ that asks for reasoning first (the released program) is answered "Reasoning: ...
    Persona: ..."; the persona is what follows the last "Persona:" label at a line start.
    """
    if not text:
        return None
    marks = list(_PERSONA_LABEL.finditer(text))
    if marks and _REASONING_LABEL.search(text[:marks[-1].start()]):
        text = text[marks[-1].end():]
    cleaned = _HEADING.sub("", text.strip(), count=1).strip().strip('"').strip()
    return cleaned if len(cleaned.split()) >= MIN_PERSONA_WORDS else None


def persona_examples(train: Sequence[Preference], traces: Sequence[Trace],
                     winner: CandidateScore | None
                     ) -> tuple[list[tuple[Preference, Trace | None]], list[Fallback]]:
    """What step 2 shows of one user (see the module doc): the winning candidate's verified
    traces and labelled examples, else every training pair (with the fallback recorded)."""
    by_pair = {t.pair_id: t for t in traces}
    members = set(winner.members) if winner else set()
    labelled = set(winner.labelled) if winner else set()
    # Verified reasoning for members; the choice only for labelled examples.
    examples = [(p, by_pair[p.pair_id] if p.pair_id in members else None) for p in train
                if (p.pair_id in members and by_pair[p.pair_id].verified)
                or p.pair_id in labelled]
    fallbacks: list[Fallback] = []
    if not examples:
        n_verified = sum(t.verified for t in traces)
        why = ("no training trace verified" if n_verified == 0
               else "the winning candidate showed no pair")
        fallbacks.append(Fallback("persona from labelled training pairs", "persona", why))
        examples = [(p, by_pair.get(p.pair_id)) for p in train]
    return examples, fallbacks


def synthesize_persona(train: Sequence[Preference], traces: Sequence[Trace],
                       winner: CandidateScore | None, client: Any,
                       instruction: str = PERSONA_SYNTHESIS, *,
                       max_tokens: int = PERSONA_MAX_TOKENS) -> PersonaResult:
    """Step 2 for one user: write the persona from the winning candidate (see module doc)."""
    examples, fallbacks = persona_examples(train, traces, winner)
    source = [p.pair_id for p, _ in examples]
    template_id = load_template(instruction).id
    result = PersonaResult(None, source, fallbacks, Spend(), template_id)
    if not examples:
        result.fallbacks.append(Fallback("no usable persona", "persona",
                                         "the user has no training pairs"))
        return result
    problems = []
    for temperature, sample_index in ((0.0, 0), (0.7, 1)):
        reply = client.chat(persona_request(examples, instruction, temperature=temperature,
                                            sample_index=sample_index, max_tokens=max_tokens))
        result.spend.add_chat(reply)
        persona = None if reply.error else clean_persona(reply.text)
        if persona is not None:
            result.persona = persona
            if sample_index:
                result.fallbacks.append(Fallback("persona retried", "persona", problems[0]))
            return result
        problems.append(f"call failed ({reply.error})" if reply.error
                        else f"unusable text {reply.text[:60]!r}")
    result.fallbacks.append(Fallback("no usable persona", "persona", "; ".join(problems)))
    return result
