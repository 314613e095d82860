"""The fitted result for one user: a plain, JSON-serializable record of everything the fit did.

A :class:`SynthesizeMeArtifact` holds the persona, the chosen demo set, every
reasoning trace (verified or not), every candidate's validation score in both
searches, the seeds and settings, the model, the prompt-template versions, the
fallbacks taken and the calls and tokens spent per step. It is what the next
stage (prediction) reads, and what a person fitting the method on their own
preferences takes home: :meth:`~SynthesizeMeArtifact.save` /
:meth:`~SynthesizeMeArtifact.load` round-trip it through JSON, and it renders
as the final personalized **judge prompt** (messages for any new pair) and as a
**generation prompt** (a system prompt steering a chat model toward the user).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from persona_judge.data.records import Preference, Turn
from persona_judge.errors import PersonaJudgeError
from persona_judge.llm import ChatRequest
from persona_judge.method.bootstrap import Trace
from persona_judge.method.judge import Demo, JudgeStyle, Order, judge_messages, judge_request
from persona_judge.method.selection import CandidateScore, Fallback, Spend
from persona_judge.method.templates import GENERATION_SYSTEM, load_template

ARTIFACT_FORMAT = "persona_judge/synthesizeme-artifact@2"
COMPONENTS = ("persona", "demos")
#: The steps whose judgments are validation verdicts (see ``learned_nothing``).
SEARCH_STEPS = ("bootstrap search", "demo search")


class ArtifactFormatError(PersonaJudgeError, ValueError):
    """A file is not a SynthesizeMe artifact this version can read."""


@dataclass
class SynthesizeMeArtifact:
    """One user's fitted SynthesizeMe prompt and the full record of how it was chosen."""

    user_id: str
    model: str
    seed: int
    settings: dict[str, Any]
    templates: dict[str, str]
    components: tuple[str, ...]
    val_orders: dict[str, Order]
    traces: list[Trace]
    bootstrap_candidates: list[CandidateScore]
    bootstrap_winner: int
    persona: str | None
    persona_source_pairs: list[str]
    demo_candidates: list[CandidateScore]
    demo_winner: int
    demo_set: list[Demo]
    fallbacks: list[Fallback] = field(default_factory=list)
    spend: dict[str, Spend] = field(default_factory=dict)
    label: str = ""
    demo_traces: list[Trace] = field(default_factory=list)  # step 3, reasoned with the persona
    # The demos-only search (demos chosen without a persona; empty when not run).
    demos_only_candidates: list[CandidateScore] = field(default_factory=list)
    demos_only_winner: int = 0
    demos_only_set: list[Demo] = field(default_factory=list)

    # -- what was learnt ---------------------------------------------------------
    @property
    def verified_traces(self) -> list[Trace]:
        """All traces whose prediction matched the user's real choice (training order)."""
        return [t for t in self.traces if t.verified]

    @property
    def winning_traces(self) -> list[Trace]:
        """The verified traces of the winning step-1 candidate (what the persona was written from
        unless a fallback says otherwise)."""
        if not self.bootstrap_candidates:
            return []
        members = set(self.bootstrap_candidates[self.bootstrap_winner].members)
        return [t for t in self.verified_traces if t.pair_id in members]

    @property
    def total_spend(self) -> Spend:
        total = Spend()
        for spend in self.spend.values():
            total = total + spend
        return total

    @property
    def learned_nothing(self) -> str | None:
        """Why this fit learned nothing, in one line, or None when it learned something.

        A fit learned nothing when **no reasoning trace verified** (step 1, or step 3's
        traces written with the persona) **and no validation judgment gave a readable
        verdict** (A or B) in either search: the model never once produced an answer
        the method could check against the user's choices (every answer prose, a tie,
        or unparseable), so the persona and the demos were chosen on nothing. A user
        without validation pairs has no validation verdict to give, so for them no
        verified trace is enough. One verified trace, or one readable validation
        verdict (right or wrong), is learning something: the fit stands, with its
        fallbacks. Computed from the stored record, so a loaded artifact answers too.
        """
        verified = len(self.verified_traces) + sum(t.verified for t in self.demo_traces)
        searches = [self.spend[s] for s in SEARCH_STEPS if s in self.spend]
        judged = sum(s.requests for s in searches)
        readable = judged - sum(s.no_choice for s in searches)
        if verified or readable:
            return None
        total = self.total_spend
        traces = len(self.traces) + len(self.demo_traces)
        checked = (f"none of its {judged} validation judgments gave a readable verdict"
                   if judged else "it had no validation pair to check on")
        return (f"learned nothing: none of its {traces} reasoning traces verified and "
                f"{checked} ({total.unparseable} of {total.samples} answers of the model "
                "could not be read as a verdict)")

    @property
    def fallback_codes(self) -> list[str]:
        return [f.code for f in self.fallbacks]

    def prompt_content(self) -> tuple[str, str]:
        """(what the rendered judge prompt carries, a flag when it lacks everything asked).

        Carries: ``"persona + demos"``, ``"persona"``, ``"demos"`` or ``"nothing"`` (then it
        is the default judge). The flag is set when none of the asked components is there:
        the "just personas" ablation of a user with no usable persona, "just demos" of a user
        whose final prompt has no demos. (The full method carrying only its persona is the
        method working as designed: step 3's *persona only* candidate won.)
        """
        persona, demos = self._profile()
        carries = " + ".join(n for n, v in (("persona", persona), ("demos", demos)) if v)
        if carries:
            return carries, ""
        asked = " and ".join(self.components)
        return "nothing", f"no {asked} for this user; judged by the default judge"

    def with_components(self, components: Sequence[str]) -> SynthesizeMeArtifact:
        """The same fit, rendered with only some components: ``("persona",)`` is the "just
        personas" ablation, ``("demos",)`` "just demos"; nothing is refitted (no calls)."""
        unknown = set(components) - set(COMPONENTS)
        if unknown or not components:
            raise ValueError(f"components must be a non-empty subset of {COMPONENTS}, "
                             f"got {tuple(components)!r}")
        return replace(self, components=tuple(components))

    @property
    def has_demos_only_search(self) -> bool:
        return bool(self.demos_only_candidates)

    def demos_only(self) -> SynthesizeMeArtifact:
        """The "demos only" method as its own search chose it: no persona, the demos of the
        demos-only search, judged by the step-1 judge (which shows demos without a persona).
        No calls. Raises ValueError if the fit did not run that search."""
        if not self.has_demos_only_search:
            raise ValueError(f"user {self.user_id}: this fit did not run the demos-only search "
                             "(demos_only_search=False)")
        from persona_judge.method.bootstrap import with_demos_template

        trace = self.templates["judge_trace"]
        templates = {**self.templates, "judge_default": trace,
                     "judge_personalized": with_demos_template(
                         trace, self.templates["judge_personalized"])}
        return replace(self, persona=None, demo_set=list(self.demos_only_set),
                       components=("demos",), templates=templates)

    # -- rendering ---------------------------------------------------------------
    @property
    def style(self) -> JudgeStyle:
        """The judge layout this fit was made with (recorded in its settings)."""
        return JudgeStyle.from_settings(self.settings)

    def _profile(self) -> tuple[str | None, tuple[Demo, ...]]:
        persona = self.persona if "persona" in self.components else None
        demos = tuple(self.demo_set) if "demos" in self.components else ()
        return persona, demos

    def judge_messages(self, context: Sequence[Turn], response_a: str, response_b: str
                       ) -> tuple[dict[str, str], ...]:
        """The final personalized judge prompt for a new pair (A shown first)."""
        persona, demos = self._profile()
        messages, _ = judge_messages(
            context, response_a, response_b, persona=persona, demos=demos,
            default_template=self.templates["judge_default"],
            personalized_template=self.templates["judge_personalized"], style=self.style)
        return messages

    def judge_request(self, preference: Preference, order: Order, step: str = "test"
                      ) -> ChatRequest:
        """The personalized judge request for ``preference`` shown in ``order``."""
        persona, demos = self._profile()
        return judge_request(preference, order, persona=persona, demos=demos, step=step,
                             default_template=self.templates["judge_default"],
                             personalized_template=self.templates["judge_personalized"],
                             style=self.style)

    def judge_prompt_text(self) -> str:
        """The judge prompt as readable text, with placeholders where a new pair goes."""
        messages = self.judge_messages(
            (Turn("user", "<the conversation to judge>"),), "<reply A>", "<reply B>")
        return "\n\n".join(f"----- {m['role']} -----\n{m['content']}" for m in messages)

    def generation_system_prompt(self, template_id: str | None = None) -> str:
        """A system prompt that steers a chat model toward this user's preferences."""
        template = load_template(template_id or self.templates.get("generation",
                                                                   GENERATION_SYSTEM))
        persona, demos = self._profile()
        profile = ""
        if persona:
            profile += template.render("persona_block", persona=persona)
        if demos:
            rendered = "".join(
                template.render("demo", index=str(i), query=d.preference.query.strip(),
                                chosen=d.preference.chosen.content.strip(),
                                rejected=d.preference.rejected.content.strip())
                for i, d in enumerate(demos, start=1))
            profile += template.render("demos_block", demos=rendered)
        text = template.render("system", profile=profile).strip()
        return re.sub(r"\n{3,}", "\n\n", text) + "\n"

    # -- persistence -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "label": self.label,
            "user_id": self.user_id,
            "model": self.model,
            "seed": self.seed,
            "settings": dict(self.settings),
            "templates": dict(self.templates),
            "components": list(self.components),
            "persona": self.persona,
            "persona_source_pairs": list(self.persona_source_pairs),
            "demo_set": [d.to_dict() for d in self.demo_set],
            "fallbacks": [f.to_dict() for f in self.fallbacks],
            "spend": {step: s.to_dict() for step, s in self.spend.items()},
            "val_orders": dict(self.val_orders),
            "traces": [t.to_dict() for t in self.traces],
            "demo_traces": [t.to_dict() for t in self.demo_traces],
            "bootstrap_winner": self.bootstrap_winner,
            "bootstrap_candidates": [c.to_dict() for c in self.bootstrap_candidates],
            "demo_winner": self.demo_winner,
            "demo_candidates": [c.to_dict() for c in self.demo_candidates],
            "demos_only_winner": self.demos_only_winner,
            "demos_only_candidates": [c.to_dict() for c in self.demos_only_candidates],
            "demos_only_set": [d.to_dict() for d in self.demos_only_set],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthesizeMeArtifact:
        if data.get("format") != ARTIFACT_FORMAT:
            raise ArtifactFormatError(
                f"Not a SynthesizeMe artifact of format {ARTIFACT_FORMAT!r} (found "
                f"{data.get('format')!r}); refit with this version of persona_judge.")
        return cls(
            user_id=str(data["user_id"]), model=str(data["model"]), seed=int(data["seed"]),
            settings=dict(data["settings"]), templates=dict(data["templates"]),
            components=tuple(data["components"]), val_orders=dict(data["val_orders"]),
            traces=[Trace.from_dict(t) for t in data["traces"]],
            bootstrap_candidates=[CandidateScore.from_dict(c)
                                  for c in data["bootstrap_candidates"]],
            bootstrap_winner=int(data["bootstrap_winner"]),
            persona=data.get("persona"),
            persona_source_pairs=list(data.get("persona_source_pairs", [])),
            demo_candidates=[CandidateScore.from_dict(c) for c in data["demo_candidates"]],
            demo_winner=int(data["demo_winner"]),
            demo_set=[Demo.from_dict(d) for d in data["demo_set"]],
            fallbacks=[Fallback.from_dict(f) for f in data.get("fallbacks", [])],
            spend={k: Spend.from_dict(v) for k, v in data.get("spend", {}).items()},
            label=str(data.get("label", "")),
            demo_traces=[Trace.from_dict(t) for t in data.get("demo_traces", [])],
            demos_only_candidates=[CandidateScore.from_dict(c)
                                   for c in data.get("demos_only_candidates", [])],
            demos_only_winner=int(data.get("demos_only_winner", 0)),
            demos_only_set=[Demo.from_dict(d) for d in data.get("demos_only_set", [])],
        )

    def save(self, path: str | Path) -> Path:
        """Write the artifact as JSON, atomically (a crash never leaves a truncated file)."""
        from persona_judge.io import atomic_write_json

        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> SynthesizeMeArtifact:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ArtifactFormatError(f"{path} is not valid JSON ({exc}); is it a SynthesizeMe "
                             "artifact written by `persona-judge fit`?") from None
        return cls.from_dict(data)
