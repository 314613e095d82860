"""The Demographics baseline (PRISM only): the judge reads what the user said about themselves.

PRISM participants filled in a survey before their conversations; Chatbot Arena has no
such survey, so this baseline exists for PRISM users only. The judge (template
``judge_demographics@v1``, our wording) sees the user's profile as
:meth:`persona_judge.data.raw_prism.SurveyProfile.render` writes it, with the sections in
``include`` (default :data:`DEFAULT_INCLUDE`: demographics, the stated importance of
eight qualities of an AI assistant, and the self-description; ``lm_use`` and
``system_string`` can be added). It sees **none** of the user's preference pairs: no
conversation they had, no reply they chose.

Fallback: a user **without a survey row** (the survey and the benchmark disagree about
who took part), or whose included sections are all unanswered, is judged by the default
judge; the judgment records say so (``flag``) and the chapter counts them
(:func:`survey_coverage`). Nothing is fitted and no LLM call is made before judging.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from persona_judge.data.raw_prism import RENDER_SECTIONS, SurveyProfile
from persona_judge.data.records import Preference, UserSplit
from persona_judge.errors import SettingsError
from persona_judge.llm import ChatRequest
from persona_judge.method.judge import (
    JUDGE_MAX_TOKENS,
    Order,
    judge_request,
    pair_slots,
    render_conversation,
)
from persona_judge.method.templates import JUDGE_DEFAULT, load_template

JUDGE_DEMOGRAPHICS = "judge_demographics@v1"
NAME = "Demographics"
DEFAULT_INCLUDE = ("demographics", "stated_prefs", "self_description")
NO_SURVEY = "no survey row for this user; judged by the default judge"
EMPTY_PROFILE = "survey answers left blank; judged by the default judge"


def check_include(include: Sequence[str]) -> tuple[str, ...]:
    """The profile sections, checked: a typo is a settings error naming the valid ones."""
    include = tuple(include)
    unknown = [s for s in include if s not in RENDER_SECTIONS]
    if unknown or not include:
        raise SettingsError("survey_include must be a non-empty list of "
                            f"{', '.join(RENDER_SECTIONS)}; got {list(include)!r}")
    return include


@dataclass(frozen=True)
class DemographicsState:
    """One user's rendered survey profile (None: the default judge is used, ``reason`` says why)."""

    user_id: str
    profile: str | None
    reason: str = ""


class DemographicsMethod:
    """The Demographics baseline behind the ``PreferenceMethod`` interface."""

    name = NAME

    def __init__(self, survey: Mapping[str, SurveyProfile],
                 include: Sequence[str] = DEFAULT_INCLUDE, template: str = JUDGE_DEMOGRAPHICS,
                 default_template: str = JUDGE_DEFAULT) -> None:
        self.survey = survey
        self.include = check_include(include)
        self.template = template
        self.default_template = default_template

    def fit(self, user_split: UserSplit, client: Any = None) -> DemographicsState:
        """Look the user up in the survey (no LLM call, no preference pair read)."""
        profile = self.survey.get(user_split.user_id)
        if profile is None:
            return DemographicsState(user_split.user_id, None, NO_SURVEY)
        text = profile.render(self.include).strip()
        if not text:
            return DemographicsState(user_split.user_id, None, EMPTY_PROFILE)
        return DemographicsState(user_split.user_id, text)

    def judge_request(self, state: DemographicsState, preference: Preference, order: Order
                      ) -> ChatRequest:
        if state.profile is None:
            return judge_request(preference, order, step="test",
                                 default_template=self.default_template)
        template = load_template(self.template)
        a, b = pair_slots(preference, order)
        values = {"profile": state.profile, "conversation": render_conversation(preference.context),
                  "response_a": a, "response_b": b}
        messages = ({"role": "system", "content": template.render("system")},
                    {"role": "user", "content": template.render("user", **values)})
        return ChatRequest(messages=messages, template=template.id, temperature=0.0,
                           max_tokens=JUDGE_MAX_TOKENS,
                           labels={"user": preference.user_id, "pair": preference.pair_id,
                                   "step": f"test ({order})"})

    def prompt_content(self, state: DemographicsState) -> tuple[str, str]:
        if state.profile is None:
            return "nothing", state.reason
        return "survey profile", ""


def survey_coverage(states: Mapping[str, DemographicsState]) -> dict[str, int]:
    """How many users got a profile, had no survey row, or had only blank answers."""
    out = {"survey profile": 0, "no survey row": 0, "blank answers": 0}
    for state in states.values():
        if state.profile is not None:
            out["survey profile"] += 1
        elif state.reason == NO_SURVEY:
            out["no survey row"] += 1
        else:
            out["blank answers"] += 1
    return out
