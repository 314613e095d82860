import json

import pytest

from persona_judge.data import PreferenceDataError, check_user_splits, load_preferences_file
from persona_judge.paths import project_root


def _write(tmp_path, rows, name="prefs.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


ROW = {"prompt": "Plan a weekend in Lisbon", "chosen": "Day 1: Alfama.", "rejected": "Go."}


def test_the_shipped_example_file_loads_with_seeded_splits():
    report = load_preferences_file(project_root() / "examples" / "my_preferences.jsonl")
    users = check_user_splits(report, require=("val",))
    assert list(users) == ["me"]
    assert (len(users["me"].train), len(users["me"].val)) == (5, 2)
    again = load_preferences_file(project_root() / "examples" / "my_preferences.jsonl")
    assert [p.split for p in again.preferences] == [p.split for p in report.preferences]


def test_shorthand_is_expanded_to_the_benchmark_schema(tmp_path):
    report = load_preferences_file(_write(tmp_path, [ROW, {**ROW, "chosen": "Day 1: Belém."}]))
    pref = report.preferences[0]
    assert [t.to_dict() for t in pref.context] == [{"role": "user",
                                                   "content": "Plan a weekend in Lisbon"}]
    assert pref.chosen.role == "assistant" and pref.chosen.content == "Day 1: Alfama."
    assert (pref.user_id, pref.conversation_id) == ("me", "line1")
    assert sorted(p.split for p in report.preferences) == ["train", "val"]


def test_csv_with_the_same_columns(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text('prompt,chosen,rejected,split\n"Hi, there",Hello!,Greetings.,train\n'
                    'Bye,See you!,Farewell.,val\n')
    report = load_preferences_file(path)
    assert [p.conversation_id for p in report.preferences] == ["line2", "line3"]
    assert report.preferences[0].query == "Hi, there"


def test_a_line_that_is_not_json_is_named_by_line_number(tmp_path):
    path = _write(tmp_path, [ROW, '{"prompt": "oops"', ROW])
    with pytest.raises(PreferenceDataError, match=r"prefs.jsonl, row 2: not valid JSON"):
        load_preferences_file(path)
    report = load_preferences_file(path, on_error="skip")
    assert len(report.preferences) == 2 and [e.row for e in report.skipped] == [2]


def test_mixed_split_and_no_split_rows_are_refused(tmp_path):
    path = _write(tmp_path, [{**ROW, "split": "train"}, ROW])
    with pytest.raises(PreferenceDataError, match="row 2: field 'split': missing"):
        load_preferences_file(path)


def test_too_few_preferences_is_a_clear_error(tmp_path):
    with pytest.raises(PreferenceDataError, match="needs at least 2"):
        load_preferences_file(_write(tmp_path, [ROW]))


def test_chosen_equal_to_rejected_and_wrong_suffix(tmp_path):
    with pytest.raises(PreferenceDataError, match="row 1: field 'rejected': identical"):
        load_preferences_file(_write(tmp_path, [{**ROW, "rejected": ROW["chosen"]}, ROW]))
    with pytest.raises(ValueError, match="use .jsonl or .csv"):
        load_preferences_file(_write(tmp_path, [ROW], name="prefs.txt"))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_preferences_file(tmp_path / "missing.jsonl")
