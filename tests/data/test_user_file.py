"""A person's preferences file: every problem named by file, line and the field as written;
BOMs, JSON arrays, CSV quirks, duplicates, per-user splits and user selection."""

import json

import pytest

from persona_judge.data import PreferenceDataError, check_user_splits, load_preferences_file
from persona_judge.data.user_file import MAX_NESTING, PreferenceFileError
from persona_judge.errors import PersonaJudgeError
from persona_judge.paths import project_root


def _write(tmp_path, rows, name="prefs.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n",
                    encoding="utf-8")
    return path


ROW = {"prompt": "Plan a weekend in Lisbon", "chosen": "Day 1: Alfama.", "rejected": "Go."}
ROW2 = {"prompt": "Dinner idea?", "chosen": "Egg fried rice.", "rejected": "Many options."}


def rows_for(user, n):
    return [{"user_id": user, "prompt": f"{user} question {i}", "chosen": f"yes {i}",
             "rejected": f"no {i}"} for i in range(n)]


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


def test_errors_are_expected_errors_that_say_line(tmp_path):
    path = _write(tmp_path, [ROW, '{"prompt": "oops"', ROW2])
    with pytest.raises(PreferenceFileError, match=r"prefs.jsonl, line 2: not valid JSON "
                                                  r"\(Expecting ',' delimiter at column 18\)"):
        load_preferences_file(path)
    assert issubclass(PreferenceFileError, PreferenceDataError)
    assert issubclass(PreferenceFileError, PersonaJudgeError)
    report = load_preferences_file(path, on_error="skip")
    assert len(report.preferences) == 2 and [e.row for e in report.skipped] == [2]
    assert any("skipped 1 bad row" in n for n in report.notes())


# -- encodings ---------------------------------------------------------------------------
def test_utf8_bom_is_accepted_in_jsonl_and_csv(tmp_path):
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + (json.dumps(ROW) + "\n" + json.dumps(ROW2)).encode())
    assert len(load_preferences_file(jsonl).preferences) == 2
    csv_path = tmp_path / "bom.csv"
    csv_path.write_bytes(b"\xef\xbb\xbfprompt,chosen,rejected\nHi,Hello!,Greetings.\n"
                         b"Bye,See you!,Farewell.\n")
    report = load_preferences_file(csv_path)
    assert [p.query for p in report.preferences] == ["Hi", "Bye"]


def test_a_non_utf8_byte_names_line_column_and_the_fix(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("prompt,chosen,rejected\nCafé?,Oui,Non merci\n".encode("cp1252"))
    with pytest.raises(PreferenceFileError) as info:
        load_preferences_file(path)
    message = str(info.value)
    assert "excel.csv, line 2: not UTF-8: byte 0xe9 at column 4" in message
    assert "Windows-1252" in message and "iconv -f WINDOWS-1252 -t UTF-8" in message


def test_utf16_is_named(tmp_path):
    path = tmp_path / "u16.jsonl"
    path.write_bytes((json.dumps(ROW) + "\n").encode("utf-16"))
    with pytest.raises(PreferenceFileError, match="the file is UTF-16, not UTF-8.*iconv"):
        load_preferences_file(path)


# -- JSON shapes -------------------------------------------------------------------------
def test_a_json_array_is_accepted_with_the_line_of_each_object(tmp_path):
    path = tmp_path / "prefs.json"
    path.write_text(json.dumps([ROW, ROW2, {"prompt": "x", "chosen": "y"}], indent=2))
    with pytest.raises(PreferenceFileError, match=r"line 12: field 'rejected': missing"):
        load_preferences_file(path)
    report = load_preferences_file(path, on_error="skip")
    assert [p.conversation_id for p in report.preferences] == ["line2", "line7"]


def test_a_broken_json_array_names_its_line(tmp_path):
    path = tmp_path / "prefs.json"
    path.write_text('[\n  {"prompt": "a", "chosen": "b", "rejected": "c"},\n  {"prompt": }\n]')
    with pytest.raises(PreferenceFileError, match=r"line 3: not valid JSON \(Expecting value\) "
                                                  r"at column 14; the file starts with '\['"):
        load_preferences_file(path)


def test_pretty_printed_objects_get_a_one_object_per_line_hint(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text(json.dumps(ROW, indent=2) + "\n")
    with pytest.raises(PreferenceFileError, match="line 1: .*one JSON object on one line"):
        load_preferences_file(path)


def test_pathological_nesting_is_refused_not_a_crash(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = _write(tmp_path, [ROW, ROW2, deep])
    with pytest.raises(PreferenceFileError, match="line 3: JSON nested too deeply"):
        load_preferences_file(path)
    nested = {**ROW, "extra": json.loads("[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1))}
    with pytest.raises(PreferenceFileError, match="line 1: JSON nested too deeply"):
        load_preferences_file(_write(tmp_path, [nested, ROW2], name="n.jsonl"))


def test_a_folder_given_as_the_file(tmp_path):
    _write(tmp_path, [ROW, ROW2])
    with pytest.raises(PreferenceFileError, match=r"is a folder, not a preferences file "
                                                  r"\(it holds prefs.jsonl\)"):
        load_preferences_file(tmp_path)


def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(PreferenceFileError, match="not found"):
        load_preferences_file(tmp_path / "missing.jsonl")
    with pytest.raises(PreferenceFileError, match="use .jsonl"):
        load_preferences_file(_write(tmp_path, [ROW], name="prefs.txt"))


# -- CSV ---------------------------------------------------------------------------------
def test_csv_with_the_same_columns(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text('prompt,chosen,rejected,split\n"Hi, there",Hello!,Greetings.,train\n'
                    'Bye,See you!,Farewell.,val\n')
    report = load_preferences_file(path)
    assert [p.conversation_id for p in report.preferences] == ["line2", "line3"]
    assert report.preferences[0].query == "Hi, there"


def test_csv_headers_in_another_case(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text("Prompt,CHOSEN,Rejected,User_ID\nHi,Hello!,Greetings.,ann\n"
                    "Bye,See you!,Farewell.,ann\n")
    report = load_preferences_file(path)
    assert {p.user_id for p in report.preferences} == {"ann"}
    assert report.preferences[0].chosen.content == "Hello!"


def test_a_csv_row_with_more_fields_than_the_header_is_an_error(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text("prompt,chosen,rejected\nHi,Hello, friend!,Greetings.\nBye,Ciao,Adieu\n")
    with pytest.raises(PreferenceFileError, match=r"line 2: 4 fields, more than the 3 columns "
                                                  r"of the header \(prompt, chosen, rejected\); "
                                                  "put a field that contains a comma"):
        load_preferences_file(path)
    short = tmp_path / "short.csv"
    short.write_text("prompt,chosen,rejected\nHi,Hello\nBye,Ciao,Adieu\n")
    with pytest.raises(PreferenceFileError, match="line 2: 2 fields, fewer than the 3"):
        load_preferences_file(short)


def test_csv_line_numbers_count_file_lines_across_multiline_fields(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text('prompt,chosen,rejected\n"Line one\nline two\nline three",A,B\n\n'
                    'Ok,Same,Same\n')
    with pytest.raises(PreferenceFileError, match=r"line 6: field 'rejected': identical"):
        load_preferences_file(path)


def test_a_csv_without_the_needed_columns(tmp_path):
    path = tmp_path / "prefs.csv"
    path.write_text("question,good,bad\nHi,Hello!,Greetings.\n")
    with pytest.raises(PreferenceFileError, match=r"line 1: the header has no column prompt "
                                                  r"\(or context\), chosen, rejected"):
        load_preferences_file(path)


# -- fields named as the person wrote them ------------------------------------------------
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"prompt": "  ", "chosen": "a", "rejected": "b"}, "field 'prompt': missing or empty"),
        ({"Prompt": "", "chosen": "a", "rejected": "b"}, "field 'Prompt': missing or empty"),
        ({"prompt": "q", "chosen": " ", "rejected": "b"}, "field 'chosen': empty"),
        ({"prompt": "q", "Chosen": {"role": "assistant"}, "rejected": "b"},
         "field 'Chosen.content': missing"),
        ({"prompt": [{"role": "robot", "content": "x"}], "chosen": "a", "rejected": "b"},
         r"field 'prompt\[0\].role': unknown role 'robot'"),
        ({"prompt": "q", "chosen": "a", "rejected": "b", "user_id": "  "},
         "field 'user_id': blank"),
        ({"prompt": "q", "Prompt ": "r", "chosen": "a", "rejected": "b"},
         r"field 'Prompt ': given twice \(as 'prompt' and 'Prompt '"),
    ],
)
def test_fields_are_reported_as_written(tmp_path, row, expected):
    with pytest.raises(PreferenceFileError, match=f"line 1: {expected}"):
        load_preferences_file(_write(tmp_path, [row, ROW2]))


# -- duplicates --------------------------------------------------------------------------
def test_a_duplicate_row_names_both_lines(tmp_path):
    path = _write(tmp_path, [ROW, ROW2, {**ROW, "chosen": {"role": "assistant",
                                                            "content": ROW["chosen"]}}])
    with pytest.raises(PreferenceFileError, match="line 3: the same preference as line 1: .*; "
                                                  "remove one .*--drop-duplicates"):
        load_preferences_file(path)
    report = load_preferences_file(path, drop_duplicates=True)
    assert len(report.preferences) == 2
    assert report.dropped_duplicates == [f"{path}, line 3: same preference as line 1"]


@pytest.mark.parametrize("ids", [("c1", "c2"), ("trip", "trip-again")])
def test_a_duplicate_message_says_what_matched_not_the_conversation(tmp_path, ids):
    # the check compares user, prompt and both replies; the conversation ids differ here
    rows = [{**ROW, "user_id": "ana", "conversation_id": ids[0]}, ROW2,
            {**ROW, "user_id": "ana", "conversation_id": ids[1]}]
    with pytest.raises(PreferenceFileError) as caught:
        load_preferences_file(_write(tmp_path, rows))
    message = str(caught.value)
    assert "line 3: the same preference as line 1: same user 'ana', same prompt, same " \
           "chosen and same rejected reply" in message
    assert f"the conversation_id differs, {ids[0]!r} and {ids[1]!r}, and is not compared" \
        in message
    assert "same conversation" not in message and "user, conversation" not in message


def test_a_duplicate_multi_turn_context_is_named_as_written(tmp_path):
    context = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
               {"role": "user", "content": "Plan a trip"}]
    row = {"Context": context, "chosen": "Day 1.", "rejected": "Go.", "user_id": "bo"}
    with pytest.raises(PreferenceFileError, match=r"line 2: the same preference as line 1: "
                       r"same user 'bo', same Context \(3 turns\), same chosen and same "
                       r"rejected reply; remove") as caught:
        load_preferences_file(_write(tmp_path, [row, row]))
    assert "conversation_id" not in str(caught.value)  # none given: nothing to contrast


def test_a_duplicate_explicit_id_names_both_lines_and_cannot_be_dropped(tmp_path):
    path = _write(tmp_path, [{**ROW, "pair_id": "p1"}, ROW2, {**ROW2, "prompt": "Other?",
                                                              "pair_id": "p1"}])
    for drop in (False, True):
        with pytest.raises(PreferenceFileError, match="line 3: field 'pair_id': 'p1' is "
                                                      "already the id of line 1"):
            load_preferences_file(path, drop_duplicates=drop)


def test_the_same_reply_pair_for_different_users_is_not_a_duplicate(tmp_path):
    rows = [{**ROW, "user_id": "a"}, {**ROW, "user_id": "b"}]
    assert len(load_preferences_file(_write(tmp_path, rows)).preferences) == 2


# -- splits ------------------------------------------------------------------------------
def test_splits_are_drawn_per_user_and_two_rows_give_one_of_each(tmp_path):
    rows = rows_for("big", 10) + rows_for("pair", 2) + rows_for("solo", 1)
    users = check_user_splits(load_preferences_file(_write(tmp_path, rows)), require=())
    assert (len(users["pair"].train), len(users["pair"].val)) == (1, 1)
    assert (len(users["big"].train), len(users["big"].val)) == (7, 3)
    assert (len(users["solo"].train), len(users["solo"].val)) == (1, 0)


def test_a_users_split_does_not_depend_on_other_users(tmp_path):
    alone = load_preferences_file(_write(tmp_path, rows_for("ann", 6), name="a.jsonl"))
    mixed = load_preferences_file(_write(tmp_path, rows_for("bob", 5) + rows_for("ann", 6),
                                         name="b.jsonl"))
    split = {p.query: p.split for p in alone.preferences}
    assert {p.query: p.split for p in mixed.preferences if p.user_id == "ann"} == split


def test_mixed_split_and_no_split_rows_of_one_user_are_refused(tmp_path):
    path = _write(tmp_path, [{**ROW, "split": "train"}, ROW2])
    with pytest.raises(PreferenceFileError, match="line 2: field 'split': missing, while other "
                                                  "rows of user 'me'"):
        load_preferences_file(path)
    # another user's own choice is independent
    rows = [{**ROW, "split": "train", "user_id": "a"}, {**ROW2, "split": "val", "user_id": "a"},
            {**ROW, "user_id": "b"}, {**ROW2, "user_id": "b"}]
    assert len(load_preferences_file(_write(tmp_path, rows, name="ok.jsonl")).preferences) == 4


def test_too_few_preferences_is_a_clear_error(tmp_path):
    with pytest.raises(PreferenceFileError, match="needs at least 2"):
        load_preferences_file(_write(tmp_path, [ROW]))


def test_chosen_equal_to_rejected(tmp_path):
    with pytest.raises(PreferenceFileError, match="line 1: field 'rejected': identical"):
        load_preferences_file(_write(tmp_path, [{**ROW, "rejected": ROW["chosen"]}, ROW2]))


# -- selecting one user ------------------------------------------------------------------
def test_user_is_selected_before_validation_and_the_rest_is_reported(tmp_path):
    rows = rows_for("ann", 3) + [{"user_id": "bob", "prompt": "x"}, "not json at all"]
    path = _write(tmp_path, rows)
    with pytest.raises(PreferenceFileError, match="line 4: field 'chosen'"):
        load_preferences_file(path)
    report = load_preferences_file(path, user="ann")
    assert {p.user_id for p in report.preferences} == {"ann"} and len(report.preferences) == 3
    assert report.ignored_rows == 1 and [e.row for e in report.ignored_unreadable] == [5]
    notes = "\n".join(report.notes())
    assert "1 row(s) of other users" in notes and "ignored, user unknown" in notes
    with pytest.raises(PreferenceFileError, match="no rows with user_id 'cat'; the file has: "
                                                  "'ann', 'bob'"):
        load_preferences_file(path, user="cat")


def test_users_of_the_same_size_get_their_own_draw(tmp_path):
    rows = [r for u in range(8) for r in rows_for(f"u{u}", 6)]
    report = load_preferences_file(_write(tmp_path, rows))
    patterns = {tuple(p.split for p in report.preferences if p.user_id == f"u{u}")
                for u in range(8)}
    assert len(patterns) > 1  # seeded by the user id too, not one pattern for everyone
