import copy

import pytest

from persona_judge.data.validation import (
    LoadReport,
    PreferenceDataError,
    check_user_splits,
    validate_rows,
)

GOOD = {
    "user_id": "u1", "conversation_id": "c1",
    "context": [{"role": "user", "content": "Which city should I visit?"}],
    "chosen": {"role": "assistant", "content": "Lisbon."},
    "rejected": {"role": "assistant", "content": "It depends on many factors."},
    "split": "train", "turns": 1, "flip": False, "agreement": 0.2,
}


def _with(**changes):
    row = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            del row[key]
        else:
            row[key] = value
    return row


def _error(row) -> PreferenceDataError:
    with pytest.raises(PreferenceDataError) as info:
        validate_rows([(7, row)], "prefs.jsonl")
    return info.value


def test_a_good_row_becomes_a_preference_with_its_extra_columns():
    report = validate_rows([(1, GOOD)], "prefs.jsonl")
    assert len(report.preferences) == 1 and report.n_skipped == 0
    assert report.preferences[0].extra == {"agreement": 0.2}


@pytest.mark.parametrize(("row", "field", "words"), [
    (_with(user_id=...), "user_id", "missing"),
    (_with(conversation_id=""), "conversation_id", "missing or empty"),
    (_with(context=[]), "context", "missing or empty"),
    (_with(chosen=...), "chosen", "missing"),
    (_with(rejected={"role": "assistant", "content": "   "}), "rejected.content", "empty"),
    (_with(chosen={"role": "assistant"}), "chosen.content", "missing"),
    (_with(rejected={"role": "assistant", "content": "Lisbon. "}), "rejected", "identical"),
    (_with(split="dev"), "split", "unknown split 'dev'"),
    (_with(context="Which city?"), "context", "expected a list"),
    (_with(context=[{"role": "user", "content": 3}]), "context[0].content", "expected a string"),
    (_with(context=[{"role": "robot", "content": "hi"}]), "context[0].role", "unknown role"),
    (_with(chosen="Lisbon."), "chosen", "expected an object"),
    (_with(turns="one"), "turns", "expected int"),
    (_with(user_id=["u1"]), "user_id", "expected a string"),
])
def test_each_problem_is_named_with_file_row_and_field(row, field, words):
    err = _error(row)
    assert (err.source, err.row, err.field) == ("prefs.jsonl", 7, field)
    assert words in str(err)
    assert str(err).startswith(f"prefs.jsonl, row 7: field '{field}'")


def test_skip_mode_counts_and_reports_every_bad_row():
    rows = [(1, GOOD), (2, _with(split="dev")), (3, _with(conversation_id="c2")),
            (4, PreferenceDataError("prefs.jsonl", 4, None, "not valid JSON"))]
    report = validate_rows(rows, "prefs.jsonl", on_error="skip")
    assert [p.conversation_id for p in report.preferences] == ["c1", "c2"]
    assert [e.row for e in report.skipped] == [2, 4]
    assert "2 preferences loaded, 2 skipped" in report.summary()
    assert "row 4" in report.summary()


def test_raise_mode_stops_at_the_first_bad_row():
    with pytest.raises(PreferenceDataError, match="row 2"):
        validate_rows([(1, GOOD), (2, _with(split="dev")), (3, GOOD)], "prefs.jsonl")


def test_a_user_without_validation_or_test_preferences_is_named():
    report = validate_rows([(1, GOOD), (2, _with(conversation_id="c2", split="val"))], "bench")
    with pytest.raises(PreferenceDataError, match="user 'u1' has no test preferences"):
        check_user_splits(report)
    assert set(check_user_splits(report, require=("val",))) == {"u1"}


def test_skip_mode_drops_the_incomplete_user_and_records_why():
    rows = [(1, GOOD), (2, _with(conversation_id="c2", split="val")),
            (3, _with(conversation_id="c3", split="test")),
            (4, _with(user_id="u2", conversation_id="c4"))]
    report = validate_rows(rows, "bench")
    users = check_user_splits(report, on_error="skip")
    assert list(users) == ["u1"]
    assert report.n_skipped == 1 and "user 'u2' has no val or test" in str(report.skipped[0])


def test_unknown_on_error_setting_is_refused():
    with pytest.raises(ValueError, match="on_error"):
        validate_rows([], "x", on_error="ignore")  # type: ignore[arg-type]
    assert LoadReport("x").summary() == "x: 0 preferences loaded"
