"""The PRISM survey as a library API: typed profiles, both layouts, rendering, clear errors."""

from __future__ import annotations

import json

import pytest

from persona_judge.data import raw_fixtures
from persona_judge.data.raw_prism import (
    STATED_PREF_ATTRIBUTES,
    STATED_PREF_LABELS,
    SurveyProfile,
    load_prism_survey,
    profile_from_row,
    read_prism_survey,
)
from persona_judge.data.raw_sources import RawSourceError
from persona_judge.errors import PersonaJudgeError


@pytest.fixture(scope="module")
def survey() -> dict[str, SurveyProfile]:
    return load_prism_survey("smoke")


def test_smoke_survey_is_user0_to_user59_with_typed_answers(survey):
    assert list(survey) == [f"user{i}" for i in range(60)]
    rows = {r["user_id"]: r for r in raw_fixtures.prism_survey_rows()}
    for uid, profile in survey.items():
        assert set(profile.stated_prefs) == set(STATED_PREF_ATTRIBUTES)
        for attribute, value in profile.stated_prefs.items():
            assert value == rows[uid]["stated_prefs"][attribute]
            assert value is None or (isinstance(value, int) and 1 <= value <= 100)
        assert profile.age == (None if rows[uid]["age"] == "Prefer not to say"
                               else rows[uid]["age"])
        assert profile.reside_country == rows[uid]["location"]["reside_country"]
        assert profile.religion == rows[uid]["religion"]["simplified"]
    user4 = survey["user4"]
    assert user4.stated_prefs["diversity"] is None and user4.stated_prefs["personalisation"] is None
    assert survey["user5"].ethnicity is None  # "Prefer not to say" is a missing answer
    assert survey["user8"].self_description is None


def test_released_and_qualtrics_layouts_read_the_same(survey):
    flat = [profile_from_row(r) for r in raw_fixtures.prism_survey_rows(layout="qualtrics")]
    for profile in flat:
        nested = survey[profile.user_id]
        # The flat export has only the self-described religion/ethnicity, not the categories.
        assert profile == SurveyProfile(**{**nested.__dict__, "religion": profile.religion,
                                           "ethnicity": profile.ethnicity})
        assert profile.stated_prefs == nested.stated_prefs
        assert profile.order_stated_prefs == nested.order_stated_prefs


def test_render_includes_only_the_asked_sections_and_skips_missing_answers(survey):
    profile = survey["user4"]
    text = profile.render()
    assert "age: 55-64 years old" in text
    assert "[synthetic self-description 4]" in text
    assert "sums up several viewpoints" not in text  # diversity was not answered
    ranked = [k for k, _ in profile.ranked_stated_prefs()]
    positions = [text.index(f"it {STATED_PREF_LABELS[k]}") for k in ranked]
    assert positions == sorted(positions)  # most important first
    only = profile.render(include=("demographics",))
    assert "age:" in only and "How important" not in only and "own words" not in only
    assert profile.render(include=("self_description",)).startswith("In their own words")
    assert survey["user8"].render(include=("self_description",)) == ""
    with pytest.raises(ValueError, match="unknown profile section"):
        profile.render(include=("hobbies",))


def _write_survey(tmp_path, rows):
    (tmp_path / "survey.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return tmp_path


def test_bad_rating_names_file_line_user_and_field(tmp_path):
    rows = raw_fixtures.prism_survey_rows()[:3]
    rows[2]["stated_prefs"]["safety"] = 150
    folder = _write_survey(tmp_path, rows)
    with pytest.raises(RawSourceError) as err:
        read_prism_survey(folder)
    message = str(err.value)
    assert "survey.jsonl, line 3" in message and "user2" in message
    assert "stated_prefs.safety" in message and "150" in message
    assert isinstance(err.value, PersonaJudgeError)


def test_duplicate_user_and_broken_json_are_named(tmp_path):
    rows = raw_fixtures.prism_survey_rows()[:2]
    folder = _write_survey(tmp_path, [rows[0], rows[1], rows[0]])
    with pytest.raises(RawSourceError, match=r"line 3: user user0 already appeared on line 1"):
        read_prism_survey(folder)
    (tmp_path / "survey.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(RawSourceError, match=r"line 2: not valid JSON"):
        read_prism_survey(tmp_path)
