"""The Demographics judge reads the survey profile and none of the user's preference pairs."""

from __future__ import annotations

import pytest
from baselines_helpers import marked_user

from persona_judge.baselines.demographics import (
    DEFAULT_INCLUDE,
    JUDGE_DEMOGRAPHICS,
    NO_SURVEY,
    DemographicsMethod,
    survey_coverage,
)
from persona_judge.data.raw_prism import SurveyProfile
from persona_judge.errors import SettingsError
from persona_judge.evaluation.predict import evaluate


def _profile(user_id: str) -> SurveyProfile:
    return SurveyProfile(
        user_id=user_id, age="25-34 years old", gender="Female", reside_country="Kenya",
        stated_prefs={"values": 80, "creativity": 12, "factuality": None},
        self_description="SELFDESC I care about honesty.", system_string="SYSSTRING be brief",
        lm_familiarity="Very familiar")


def test_the_prompt_has_the_profile_and_no_preference_pair() -> None:
    user = marked_user("u1")
    method = DemographicsMethod({"u1": _profile("u1")})
    state = method.fit(user)
    request = method.judge_request(state, user.test[0], "chosen_first")
    assert request.template == JUDGE_DEMOGRAPHICS
    prompt = request.messages[1]["content"]
    survey = prompt[:prompt.rindex("## Conversation")]
    for expected in ("25-34 years old", "Female", "Kenya", "SELFDESC", ": 80", ": 12"):
        assert expected in survey
    # not asked for by default: how they use AI assistants, their system string
    assert "SYSSTRING" not in prompt and "Very familiar" not in prompt
    # no pair of the user in the prompt except the one being judged (after the survey)
    assert "MARK[" not in survey and "CHOSEN[" not in survey
    for pref in (*user.train, *user.val, *user.test[1:]):
        assert pref.conversation_id.removeprefix("conv-") not in prompt


def test_what_is_included_is_a_parameter() -> None:
    user = marked_user("u1")
    method = DemographicsMethod({"u1": _profile("u1")}, include=("demographics",))
    prompt = method.judge_request(method.fit(user), user.test[0], "chosen_first") \
        .messages[1]["content"]
    assert "Kenya" in prompt and "SELFDESC" not in prompt and ": 80" not in prompt
    with_system = DemographicsMethod({"u1": _profile("u1")},
                                     include=(*DEFAULT_INCLUDE, "system_string"))
    assert "SYSSTRING" in with_system.judge_request(
        with_system.fit(user), user.test[0], "chosen_first").messages[1]["content"]
    with pytest.raises(SettingsError, match="survey_include must be .*self_description"):
        DemographicsMethod({}, include=("demographic",))


def test_users_without_a_survey_row_fall_back_to_the_default_judge_and_are_counted() -> None:
    users = [marked_user("u1"), marked_user("ghost"), marked_user("blank")]
    method = DemographicsMethod({"u1": _profile("u1"), "blank": SurveyProfile("blank")})
    states = {u.user_id: method.fit(u) for u in users}
    assert survey_coverage(states) == {"survey profile": 1, "no survey row": 1,
                                       "blank answers": 1}
    ghost = method.judge_request(states["ghost"], users[1].test[0], "chosen_first")
    assert ghost.template == "judge_default@v1"
    assert method.prompt_content(states["ghost"]) == ("nothing", NO_SURVEY)
    assert method.prompt_content(states["u1"]) == ("survey profile", "")


def test_demographics_through_the_client_flags_the_fallback(client) -> None:
    users = [marked_user("u1", n_test=1), marked_user("ghost", n_test=1)]
    method = DemographicsMethod({"u1": _profile("u1")})
    records = evaluate(method, users, client, {u.user_id: method.fit(u) for u in users})
    flags = {(r.user_id, r.flag) for r in records}
    assert flags == {("u1", ""), ("ghost", NO_SURVEY)}
