"""Row validation: every problem named by source, row and field; typed columns; unique pairs."""

import copy

import numpy as np
import pandas as pd
import pytest

from persona_judge.data.validation import (
    COLUMN_TYPES,
    JUDGE_COLUMN_TYPES,
    LoadReport,
    PreferenceDataError,
    TooManyBadRowsError,
    check_bad_row_share,
    check_unique_pairs,
    check_user_splits,
    field_pattern,
    validate_rows,
)

JUDGE = "Qwen/Qwen2.5-72B-Instruct"
GOOD = {
    "user_id": "u1", "conversation_id": "c1",
    "context": [{"role": "user", "content": "Which city should I visit?"}],
    "chosen": {"role": "assistant", "content": "Lisbon."},
    "rejected": {"role": "assistant", "content": "It depends on many factors."},
    "split": "train", "turns": 1, "flip": False, "agreement": 0.2, "type": "values guided",
    "dataset": "prism", "chosen_score": 80, "rejected_score": 12.5,
    "query_reasoning": "open", "response_reasoning": "differ in length",
    "personalizable_query": True, "personalizable_responses": "yes",
    f"prediction_{JUDGE}": "First", f"reasoning_{JUDGE}": "because",
    f"prediction_flip_{JUDGE}": "Second", f"reasoning_flip_{JUDGE}": "because, reversed",
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


def test_a_good_row_becomes_a_preference_with_its_typed_fields_and_extra_columns():
    report = validate_rows([(1, GOOD)], "prefs.jsonl")
    assert len(report.preferences) == 1 and report.n_skipped == 0 and report.n_rows == 1
    pref = report.preferences[0]
    assert (pref.turns, pref.flip, pref.type, pref.dataset) == (1, False, "values guided",
                                                                "prism")
    assert pref.extra["agreement"] == 0.2 and pref.extra[f"prediction_{JUDGE}"] == "First"
    assert set(pref.extra) == set(GOOD) - {"user_id", "conversation_id", "context", "chosen",
                                           "rejected", "split", "turns", "flip", "type",
                                           "dataset"}
    assert report.origins[0].row == 1 and report.origins[0].source == "prefs.jsonl"


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
    (_with(context=[{"role": "user", "content": 3}]), "context[0].content", "expected text"),
    (_with(context=[{"role": "robot", "content": "hi"}]), "context[0].role", "unknown role"),
    (_with(chosen="Lisbon."), "chosen", "expected an object"),
    (_with(user_id=["u1"]), "user_id", "expected text"),
    (_with(pair_id=""), "pair_id", "empty"),
])
def test_each_problem_is_named_with_file_row_and_field(row, field, words):
    err = _error(row)
    assert (err.source, err.row, err.field) == ("prefs.jsonl", 7, field)
    assert words in str(err)
    assert str(err).startswith(f"prefs.jsonl, row 7: field '{field}'")


# One wrong value per typed column: a list is never a scalar; text is never a number or
# a flag; a number is never text; a flag is never a count or a score.
WRONG = {
    "pair_id": 5, "turns": "one", "type": 3, "flip": "no", "dataset": ["prism"],
    "chosen_score": "80", "rejected_score": True, "query_reasoning": 1.5,
    "response_reasoning": {"a": 1}, "personalizable_query": ["yes"],
    "personalizable_responses": {"yes": True}, "agreement": [0.2],
}
JUDGE_WRONG = {"reasoning_flip_": 3, "reasoning_": None, "prediction_flip_": ["First"],
               "prediction_": {"First": 1}}


def test_every_typed_column_has_a_wrong_value_case():
    assert set(WRONG) == set(COLUMN_TYPES)
    assert set(JUDGE_WRONG) == set(JUDGE_COLUMN_TYPES)


@pytest.mark.parametrize("column", sorted(COLUMN_TYPES))
def test_a_wrong_type_in_a_typed_column_is_named(column):
    err = _error(_with(**{column: WRONG[column]}))
    assert err.field == column and err.reason == "wrong type"
    assert f"field '{column}': expected " in str(err)
    assert type(WRONG[column]).__name__ in str(err)


@pytest.mark.parametrize("prefix", sorted(JUDGE_COLUMN_TYPES))
def test_a_wrong_type_in_a_judge_column_is_named(prefix):
    column = f"{prefix}{JUDGE}"
    value = JUDGE_WRONG[prefix] if JUDGE_WRONG[prefix] is not None else 7
    err = _error(_with(**{column: value}))
    assert err.field == column and "expected" in str(err)


@pytest.mark.parametrize(("column", "value"), [
    ("turns", 2), ("flip", True), ("chosen_score", 7.5), ("chosen_score", 80),
    ("agreement", 3), ("agreement", "high"), ("personalizable_query", "Yes"),
    (f"prediction_{JUDGE}", 1), (f"prediction_{JUDGE}", "A"), ("chosen_score", None),
    ("unknown_extra_column", [1, 2]),
])
def test_accepted_value_forms(column, value):
    pref = validate_rows([(1, _with(**{column: value}))], "x").preferences[0]
    assert pref.to_dict()[column] == value


def test_a_missing_type_reads_as_empty_text():
    assert validate_rows([(1, _with(type=None))], "x").preferences[0].type == ""


def test_model_roles_read_as_assistant_and_keep_the_published_role():
    row = _with(context=[{"role": "user", "content": "Hi"}, {"role": "model", "content": "Hello"},
                         {"role": "user", "content": "Which city?"}],
                chosen={"role": "model", "content": "Lisbon."},
                rejected={"role": "model", "content": "Porto."})
    pref = validate_rows([(1, row)], "x").preferences[0]
    assert [t.role for t in pref.context] == ["user", "assistant", "user"]
    assert (pref.chosen.role, pref.chosen.source_role) == ("assistant", "model")
    assert pref.context[1].published_role == "model"


def test_numpy_arrays_and_scalars_from_pandas_are_accepted():
    """What parquet read through pandas gives: object arrays of dicts, numpy scalars, NaN."""
    row = _with(context=np.array([{"content": "Hi", "role": "user"}], dtype=object),
                turns=np.int64(1), flip=np.bool_(True), chosen_score=np.float64("nan"),
                agreement=np.float32(0.5))
    pref = validate_rows([(1, row)], "x").preferences[0]
    assert pref.context[0].content == "Hi" and pref.turns == 1 and pref.flip is True
    assert type(pref.turns) is int and type(pref.flip) is bool
    assert pref.extra["chosen_score"] is None and pref.extra["agreement"] == 0.5
    # a pandas row (Series) is a row too
    series = pd.Series({**GOOD, "context": np.array(GOOD["context"], dtype=object)})
    assert validate_rows([(1, series)], "x").preferences[0] == \
        validate_rows([(1, GOOD)], "x").preferences[0]


def test_skip_mode_counts_and_reports_every_bad_row():
    rows = [(1, GOOD), (2, _with(split="dev")), (3, _with(conversation_id="c2")),
            (4, PreferenceDataError("prefs.jsonl", 4, None, "not valid JSON"))]
    report = validate_rows(rows, "prefs.jsonl", on_error="skip")
    assert [p.conversation_id for p in report.preferences] == ["c1", "c2"]
    assert [e.row for e in report.skipped] == [2, 4]
    assert report.n_rows == 4 and [o.row for o in report.origins] == [1, 3]
    assert "2 preferences loaded, 2 skipped" in report.summary()
    assert "row 4" in report.summary()


def test_raise_mode_stops_at_the_first_bad_row():
    with pytest.raises(PreferenceDataError, match="row 2"):
        validate_rows([(1, GOOD), (2, _with(split="dev")), (3, GOOD)], "prefs.jsonl")


# -- unique pairs -------------------------------------------------------------------------
def test_an_exact_duplicate_row_is_bad_and_names_both_rows():
    rows = [(3, GOOD), (4, _with(conversation_id="c2")), (9, copy.deepcopy(GOOD))]
    with pytest.raises(PreferenceDataError) as info:
        validate_rows(rows, "bench.jsonl")
    err = info.value
    assert (err.row, err.field, err.reason) == (9, "pair_id", "duplicate row")
    assert str(err).startswith("bench.jsonl, row 9: field 'pair_id': an exact duplicate of "
                               "row 3")
    report = validate_rows(rows, "bench.jsonl", on_error="skip")
    assert [o.row for o in report.origins] == [3, 4] and [e.row for e in report.skipped] == [9]


def test_the_same_pair_with_another_value_is_a_duplicate_pair():
    report = validate_rows([(1, GOOD), (2, _with(split="test"))], "b", on_error="skip")
    assert len(report.preferences) == 1 and report.preferences[0].split == "train"
    assert report.skipped[0].reason == "duplicate pair"
    assert "as row 1, with other values changed" in str(report.skipped[0])


def test_several_pairs_of_one_conversation_are_not_duplicates():
    rows = [(1, GOOD), (2, _with(rejected={"role": "assistant", "content": "Porto, maybe."})),
            (3, _with(rejected={"role": "assistant", "content": "Anywhere sunny."}))]
    report = validate_rows(rows, "b")
    assert len({p.pair_id for p in report.preferences}) == 3


def test_duplicates_across_files_of_one_report_name_the_other_file():
    report = LoadReport("bench")
    validate_rows([(1, GOOD)], "bench, file data/train.parquet", report=report, part="train")
    validate_rows([(5, GOOD)], "bench, file data/test.parquet", "skip", report=report,
                  part="test")
    assert len(report.preferences) == 1 and report.origins[0].part == "train"
    assert "an exact duplicate of bench, file data/train.parquet, row 1" in \
        str(report.skipped[0])
    assert str(report.skipped[0]).startswith("bench, file data/test.parquet, row 5")


def test_exact_duplicates_can_be_dropped_on_request_but_changed_ones_cannot():
    report = validate_rows([(1, GOOD), (2, copy.deepcopy(GOOD))], "me.jsonl",
                           drop_exact_duplicates=True)
    assert len(report.preferences) == 1 and not report.skipped
    assert [e.row for e in report.dropped_duplicates] == [2]
    assert "1 exact duplicate row(s) dropped: 2" in report.summary()
    with pytest.raises(PreferenceDataError, match="row 2: .*same pair"):
        validate_rows([(1, GOOD), (2, _with(split="val"))], "me.jsonl",
                      drop_exact_duplicates=True)


def test_check_unique_pairs_can_run_on_its_own():
    report = validate_rows([(1, GOOD), (2, GOOD)], "me.jsonl", check_unique=False)
    assert len(report.preferences) == 2
    check_unique_pairs(report, on_error="skip")
    assert len(report.preferences) == 1 and report.skipped[0].row == 2


# -- bad-row share ---------------------------------------------------------------------------
def test_the_bad_row_share_stops_a_load_that_lost_too_much():
    rows = [(i, _with(conversation_id=f"c{i}")) for i in range(1, 99)] + \
           [(99, _with(split="dev")), (100, _with(chosen=...))]
    report = validate_rows(rows, "bench", on_error="skip")
    check_bad_row_share(report, 0.02)  # 2 of 100 is allowed
    with pytest.raises(TooManyBadRowsError) as info:
        check_bad_row_share(report, 0.019)
    message = str(info.value)
    assert message.startswith("bench: 2 of 100 rows (2.0%) are bad, more than the 1.9%")
    assert "max_bad_row_share" in message and "row 99" in message
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_bad_row_share(report, 2)


# -- per-user splits -----------------------------------------------------------------------------
def test_a_user_without_a_required_split_is_named():
    report = validate_rows([(1, GOOD), (2, _with(conversation_id="c2", split="val"))], "bench")
    with pytest.raises(PreferenceDataError, match="user 'u1' has no test preferences"):
        check_user_splits(report)
    assert set(check_user_splits(report, require=("val",))) == {"u1"}
    with pytest.raises(ValueError, match="unknown split"):
        check_user_splits(report, require=("validation",))


def test_skip_mode_sets_the_incomplete_user_aside_with_the_reason():
    rows = [(1, GOOD), (2, _with(conversation_id="c2", split="val")),
            (3, _with(conversation_id="c3", split="test")),
            (4, _with(user_id="u2", conversation_id="c4", split="val"))]
    report = validate_rows(rows, "bench")
    users = check_user_splits(report, on_error="skip")
    assert list(users) == ["u1"]
    assert report.n_skipped == 0  # a user set aside is not a bad row
    [aside] = report.set_aside
    assert (aside.user_id, aside.train, aside.val, aside.test) == ("u2", 0, 1, 0)
    assert aside.reason == "no train or test preferences (0 train, 1 val, 0 test)"
    assert "u2: no train or test" in report.summary()


def test_unknown_on_error_setting_is_refused():
    with pytest.raises(ValueError, match="on_error"):
        validate_rows([], "x", on_error="ignore")  # type: ignore[arg-type]
    assert LoadReport("x").summary() == "x: 0 preferences loaded"


def test_field_patterns_group_positions_together():
    assert field_pattern("context[3].role") == field_pattern("context[12].role") == \
        "context[].role"
    assert field_pattern(None) == "(row)" and field_pattern("split") == "split"
