"""The raw fixtures have the released schemas of PRISM and Chatbot Arena, with real quirks."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from persona_judge.data import raw_fixtures
from persona_judge.data.raw_sources import raw_copy
from persona_judge.paths import project_root

REFERENCE = project_root().parent / "shared" / "reference" / "prism"
# The release's conversation columns (prism-alignment src/data_processing/prepare_conversations.py).
CONVERSATION_COLUMNS = [
    "conversation_id", "user_id", "included_in_balanced_subset", "generated_datetime",
    "timing_duration_s", "timing_duration_mins", "conversation_type", "opening_prompt",
    "conversation_turns", "conversation_history", "performance_attributes",
    "choice_attributes", "open_feedback"]
MODEL_ENTRY_KEYS = {"turn", "role", "content", "model_provider", "model_name", "score",
                    "if_chosen", "within_turn_id"}
# The release's survey columns (prepare_survey.py plus the Hub's subset flags).
SURVEY_COLUMNS = {
    "user_id", "survey_only", "num_completed_conversations", "consent", "consent_age",
    "lm_familiarity", "lm_indirect_use", "lm_direct_use", "lm_frequency_use",
    "self_description", "system_string", "age", "gender", "employment_status", "education",
    "marital_status", "english_proficiency", "study_id", "study_locale", "religion",
    "ethnicity", "location", "lm_usecases", "stated_prefs", "order_lm_usecases",
    "order_stated_prefs", "generated_datetime", "timing_duration_s", "timing_duration_mins",
    "included_in_US_REP", "included_in_UK_REP", "included_in_balanced_subset"}


@pytest.fixture(scope="module")
def prism_rows():
    folder = raw_copy("prism", "smoke").folder
    read = lambda name: [json.loads(line) for line in (folder / name).open()]  # noqa: E731
    return read("survey.jsonl"), read("conversations.jsonl")


def test_prism_conversations_follow_the_release(prism_rows):
    _, conversations = prism_rows
    assert len(conversations) > 200
    equal_scores = empty = later_turns = 0
    for row in conversations:
        assert list(row) == CONVERSATION_COLUMNS
        history = row["conversation_history"]
        assert history[0] == {"turn": 0, "role": "user", "content": row["opening_prompt"]}
        assert row["conversation_turns"] == max(e["turn"] for e in history) + 1
        by_turn: dict[int, list] = {}
        for entry in history:
            by_turn.setdefault(entry["turn"], []).append(entry)
            if entry["role"] == "user":
                assert set(entry) == {"turn", "role", "content"}
                assert "[synthetic" in entry["content"]
            else:
                assert set(entry) == MODEL_ENTRY_KEYS
                assert isinstance(entry["score"], int) and 1 <= entry["score"] <= 100
                empty += entry["content"] == "EMPTY STRING"
        for turn, entries in by_turn.items():
            models = [e for e in entries if e["role"] == "model"]
            assert sum(e["role"] == "user" for e in entries) == 1
            assert sum(e["if_chosen"] for e in models) == 1
            best = max(e["score"] for e in models)
            assert next(e for e in models if e["if_chosen"])["score"] == best
            equal_scores += sum(e["score"] == best for e in models) > 1
            if turn == 0:
                assert 2 <= len(models) <= 4
                assert len({e["model_name"] for e in models}) == len(models)
            else:
                later_turns += 1
                assert [e["within_turn_id"] for e in models] == [0, 1]
                assert len({e["model_name"] for e in models}) == 1
    assert equal_scores and empty and later_turns  # the quirks the construction must handle


def test_prism_survey_covers_user0_to_user59_with_the_release_columns(prism_rows):
    survey, conversations = prism_rows
    assert [r["user_id"] for r in survey] == [f"user{i}" for i in range(60)]
    for row in survey:
        assert set(row) == SURVEY_COLUMNS
        assert set(row["religion"]) == {"self_described", "categorised", "simplified"}
    assert any(r["survey_only"] for r in survey)
    assert any(r["stated_prefs"]["diversity"] is None for r in survey)
    assert any(r["self_description"] is None for r in survey)
    assert any(r["ethnicity"]["simplified"] == "Prefer not to say" for r in survey)
    per_user = Counter(r["user_id"] for r in conversations)
    for row in survey:
        assert per_user[row["user_id"]] == row["num_completed_conversations"]
    assert set(per_user.values()) > {6, 1}


def test_qualtrics_layout_has_exactly_the_109_survey_columns():
    rows = raw_fixtures.prism_survey_rows(layout="qualtrics")
    assert len(raw_fixtures.QUALTRICS_COLUMNS) == 109
    assert all(list(r) == list(raw_fixtures.QUALTRICS_COLUMNS) for r in rows)
    mapping = REFERENCE / "survey_question_mapping.json"
    if not mapping.is_file():
        pytest.skip(f"reference file {mapping} is not on this machine")
    assert list(json.loads(mapping.read_text())) == list(raw_fixtures.QUALTRICS_COLUMNS)


def test_arena_fixture_has_the_release_schema_and_quirks():
    folder = raw_copy("chatbot_arena", "smoke").folder
    table = pq.read_table(folder / "data" / "train-00000-of-00001.parquet")
    assert table.schema.equals(raw_fixtures._arena_schema())
    assert table.column_names == ["question_id", "model_a", "model_b", "winner", "judge",
                                  "conversation_a", "conversation_b", "turn", "anony",
                                  "language", "tstamp", "openai_moderation", "toxic_chat_tag"]
    rows = table.to_pylist()
    assert {r["winner"] for r in rows} == {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert {r["turn"] for r in rows} >= {1, 2, 3}
    for row in rows:
        assert len(row["conversation_a"]) == 2 * row["turn"]
        assert [m["role"] for m in row["conversation_a"][:2]] == ["user", "assistant"]
    assert {r["language"] for r in rows} - {"English"}
    assert any(r["openai_moderation"]["flagged"] for r in rows)
    assert any(r["toxic_chat_tag"]["t5-large"]["flagged"] for r in rows)
    votes = Counter(r["judge"] for r in rows)
    assert max(votes.values()) >= 40 and min(votes.values()) == 1
    assert all(j.startswith("arena_user_") for j in votes)
    assert len({r["question_id"] for r in rows}) == len(rows)
