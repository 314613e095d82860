"""The pairwise LLM judge: render one preference into a judge request, in a given order.

A judge request shows a conversation and two replies, A (shown first) and B
(shown second), and asks the model to reason step by step and answer which one
*this user* preferred: in the public code's shape, "Reasoning: ... Preference:
First|Second" in free text (the ``*_first_second@v1`` templates), or in ours, JSON
``{"reasoning": ..., "preferred": "A"|"B"}``; both are parsed by
``persona_judge.llm.parse_judgment``. :class:`JudgeStyle` says where the persona
and the demos go (system message or user message; conversation turns or inline),
the answer cap, whether the endpoint may constrain the answer, and how an
unparseable answer is retried. The **default** judge
(template ``judge_default@v1``) knows nothing about the user; the
**personalized** judge (``judge_personalized@v1``) also sees a persona, a few
demonstrations (earlier choices of the user, with a verified reasoning trace
where one exists), or both.

``order`` says which response is shown first: ``"chosen_first"`` puts the
user's chosen response in slot A, ``"rejected_first"`` in slot B. Evaluation
judges every test pair in both orders; fitting judges each training and
validation pair in one **display order** (:func:`display_order`): the
dataset's ``flip`` column when the pair has one (``flip=True`` shows the chosen
reply first, as in the paper's public code) or a seeded hash of the pair id
otherwise (:func:`draw_order`), so that all candidates of a user are scored on
the same prompts. A demonstration keeps the order its reasoning trace was
generated in, so that "A" and "B" in the reasoning still refer to the right
replies.

:class:`DefaultJudgeMethod` is the non-personalized baseline behind the
``PreferenceMethod`` interface used by evaluation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from persona_judge.data.records import Preference, Turn, UserSplit, flip_order
from persona_judge.llm import ChatRequest
from persona_judge.method.templates import JUDGE_DEFAULT, JUDGE_PERSONALIZED, load_template

Order = Literal["chosen_first", "rejected_first"]
ORDERS: tuple[Order, Order] = ("chosen_first", "rejected_first")
Letter = Literal["A", "B"]

#: Judge answers are reasoning plus one letter; this leaves room for long reasoning.
JUDGE_MAX_TOKENS = 1024


def correct_letter(order: Order) -> Letter:
    """The slot holding the user's chosen response when the pair is shown in ``order``."""
    if order == "chosen_first":
        return "A"
    if order == "rejected_first":
        return "B"
    raise ValueError(f"Unknown order {order!r}; use one of {ORDERS}.")


def draw_order(pair_id: str, seed: int) -> Order:
    """A seeded, stable choice of display order for one pair (independent of other pairs)."""
    digest = hashlib.sha256(f"order|{seed}|{pair_id}".encode()).digest()
    return ORDERS[digest[0] & 1]


ORDER_SOURCES = ("flip", "hash")


def display_order(preference: Preference, seed: int, source: str = "flip") -> Order:
    """The one order a training or validation pair is shown in while fitting.

    ``source="flip"``: the dataset's ``flip`` column (True = chosen reply first), falling
    back to the seeded hash for a pair without one; ``source="hash"``: always the hash.
    """
    if source not in ORDER_SOURCES:
        raise ValueError(f"display order source must be one of {ORDER_SOURCES}, got {source!r}")
    if source == "flip" and preference.flip is not None:
        return flip_order(preference.flip)  # type: ignore[return-value]
    return draw_order(preference.pair_id, seed)


def derive_seed(*parts: object) -> int:
    """A 32-bit seed derived from the study seed and names (user, step); stable across runs."""
    text = "|".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def render_conversation(context: Sequence[Turn]) -> str:
    """The conversation as plain text: one paragraph per turn, prefixed by who spoke."""
    names = {"user": "User", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names.get(t.role, t.role.title())}: {t.content}" for t in context)


def pair_slots(preference: Preference, order: Order) -> tuple[str, str]:
    """(reply A, reply B) for ``preference`` shown in ``order``."""
    if correct_letter(order) == "A":
        return preference.chosen.content, preference.rejected.content
    return preference.rejected.content, preference.chosen.content


@dataclass(frozen=True)
class Demo:
    """One demonstration: an earlier choice of the user, shown in ``order``.

    ``reasoning`` is the verified reasoning trace for this pair when step 1 produced
    one, else ``None`` (the demo then shows only the user's choice).
    """

    preference: Preference
    order: Order
    reasoning: str | None = None

    @property
    def answer(self) -> Letter:
        return correct_letter(self.order)

    def to_dict(self) -> dict[str, Any]:
        return {"preference": self.preference.to_dict(), "order": self.order,
                "reasoning": self.reasoning}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Demo:
        return cls(Preference.from_dict(data["preference"]), data["order"], data.get("reasoning"))


PLACEMENTS = ("system", "user")
DEMO_PLACEMENTS = ("turns", "inline")


@dataclass(frozen=True)
class JudgeStyle:
    """How a judge request is laid out and answered (the settings of chapter 02's table).

    persona_placement: ``"user"`` (in the user message, before the pair: ours) or
                       ``"system"`` (appended to the system message: the public code)
    demo_placement:    ``"inline"`` (one user message holds the demos: ours) or
                       ``"turns"`` (each demo a user turn and an assistant answer: the
                       public code's chat format)
    max_tokens:        the answer cap (ours 1024; the public code 8192)
    free_text:         never ask the endpoint for structured (JSON-schema) output, even
                       when the client's ``structured_output`` would (answers such as
                       "Preference: First" are then parsed from text)
    parse_retry:       ``"client"`` (resample at the client's temperature, 0.7) or
                       ``"same_temperature"`` (retry at 0, then a tie: the public code)

    The default is the study's earlier layout ("ours"), so artifacts that predate these
    settings render as they were fitted.
    """

    persona_placement: str = "user"
    demo_placement: str = "inline"
    max_tokens: int = JUDGE_MAX_TOKENS
    free_text: bool = False
    parse_retry: str = "client"

    def __post_init__(self) -> None:
        if self.persona_placement not in PLACEMENTS:
            raise ValueError(f"persona_placement must be one of {PLACEMENTS}, "
                             f"got {self.persona_placement!r}")
        if self.demo_placement not in DEMO_PLACEMENTS:
            raise ValueError(f"demo_placement must be one of {DEMO_PLACEMENTS}, "
                             f"got {self.demo_placement!r}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> JudgeStyle:
        """The style recorded in a fit's settings (defaults for settings it lacks)."""
        base = cls()
        max_tokens = settings.get("max_tokens")
        return cls(persona_placement=str(settings.get("persona_placement",
                                                      base.persona_placement)),
                   demo_placement=str(settings.get("demo_placement", base.demo_placement)),
                   max_tokens=int(max_tokens) if max_tokens else base.max_tokens,
                   free_text=settings.get("answer_format", "json") == "first_second",
                   parse_retry=str(settings.get("parse_retry", base.parse_retry)))


OURS = JudgeStyle()


def _demo_answer(demo: Demo, template: Any) -> str:
    """The demo's answer in the template's answer format (JSON unless it has an
    ``answer`` section), so demos double as format examples."""
    ordinal = "First" if demo.answer == "A" else "Second"
    if template.has_section("answer"):
        if demo.reasoning:
            return template.render("answer", reasoning=demo.reasoning.strip(),
                                   preferred_ordinal=ordinal, preferred=demo.answer)
        return template.render("answer_choice_only", preferred_ordinal=ordinal,
                               preferred=demo.answer)
    if demo.reasoning:
        return json.dumps({"reasoning": demo.reasoning, "preferred": demo.answer},
                          ensure_ascii=False)
    return json.dumps({"preferred": demo.answer})


def render_profile(persona: str | None, demos: Sequence[Demo],
                   template_id: str = JUDGE_PERSONALIZED) -> str:
    """The 'what we know about this user' part of a personalized judge prompt (inline)."""
    template = load_template(template_id)
    parts = []
    if persona:
        parts.append(template.render("persona_block", persona=persona.strip()))
    if demos:
        rendered = []
        for i, demo in enumerate(demos, start=1):
            a, b = pair_slots(demo.preference, demo.order)
            rendered.append(template.render(
                "demo", index=str(i), conversation=render_conversation(demo.preference.context),
                response_a=a, response_b=b, answer=_demo_answer(demo, template)))
        parts.append(template.render("demos_block", demos="\n".join(rendered)))
    return "\n".join(parts)


def _system_with_persona(template: Any, persona: str) -> str:
    block = ("persona_system" if template.has_section("persona_system")
             else "persona_block")
    return (template.render("system").rstrip() + "\n\n"
            + template.render(block, persona=persona.strip()).strip())


def judge_messages(context: Sequence[Turn], response_a: str, response_b: str, *,
                   persona: str | None = None, demos: Sequence[Demo] = (),
                   default_template: str = JUDGE_DEFAULT,
                   personalized_template: str = JUDGE_PERSONALIZED,
                   style: JudgeStyle = OURS,
                   ) -> tuple[tuple[dict[str, str], ...], str]:
    """Messages asking which of two replies the user preferred, and the template id used.

    With neither a persona nor demos this is the default judge; otherwise the
    personalized judge, laid out as ``style`` says (persona in the system or user
    message; demos inline or as conversation turns).
    """
    values = {"conversation": render_conversation(context), "response_a": response_a,
              "response_b": response_b, "profile": ""}
    if not (persona or demos):
        # A template without a $profile placeholder simply ignores the empty value.
        template = load_template(default_template)
        return ({"role": "system", "content": template.render("system")},
                {"role": "user", "content": template.render("user", **values)}), template.id
    template = load_template(personalized_template)
    in_system = bool(persona) and style.persona_placement == "system"
    as_turns = bool(demos) and style.demo_placement == "turns"
    system = (_system_with_persona(template, persona) if in_system  # type: ignore[arg-type]
              else template.render("system"))
    values["profile"] = render_profile(None if in_system else persona,
                                       () if as_turns else demos, personalized_template)
    messages = [{"role": "system", "content": system}]
    for demo in demos if as_turns else ():
        a, b = pair_slots(demo.preference, demo.order)
        messages.append({"role": "user", "content": template.render(
            "user", profile="", conversation=render_conversation(demo.preference.context),
            response_a=a, response_b=b).lstrip("\n")})
        messages.append({"role": "assistant", "content": _demo_answer(demo, template)})
    user = template.render("user", **values)
    messages.append({"role": "user", "content": user.lstrip("\n") if not values["profile"]
                     else user})
    return tuple(messages), template.id


def judge_request(preference: Preference, order: Order, *, persona: str | None = None,
                  demos: Sequence[Demo] = (), step: str = "judge",
                  default_template: str = JUDGE_DEFAULT,
                  personalized_template: str = JUDGE_PERSONALIZED,
                  temperature: float = 0.0, sample_index: int = 0,
                  style: JudgeStyle = OURS) -> ChatRequest:
    """The judge request for ``preference`` shown in ``order`` (default or personalized)."""
    a, b = pair_slots(preference, order)
    messages, template_id = judge_messages(
        preference.context, a, b, persona=persona, demos=demos,
        default_template=default_template, personalized_template=personalized_template,
        style=style)
    return ChatRequest(
        messages=messages, template=template_id, temperature=temperature,
        max_tokens=style.max_tokens, sample_index=sample_index, free_text=style.free_text,
        parse_retry=style.parse_retry,
        labels={"user": preference.user_id, "pair": preference.pair_id,
                "step": f"{step} ({order})"},
    )


class DefaultJudgeMethod:
    """The non-personalized baseline: the default judge, nothing learnt about the user."""

    name = "default judge"

    def __init__(self, template: str = JUDGE_DEFAULT, style: JudgeStyle = OURS) -> None:
        self.template = template
        self.style = style

    def fit(self, user_split: UserSplit, client: Any) -> None:
        """Nothing to fit: the default judge ignores the user's history (no LLM calls)."""
        return None

    def judge_request(self, state: None, preference: Preference, order: Order) -> ChatRequest:
        return judge_request(preference, order, step="test", default_template=self.template,
                             style=self.style)

    def prompt_content(self, state: None) -> tuple[str, str]:
        """The default judge's prompt carries nothing about the user, by design (no flag)."""
        return "nothing", ""
