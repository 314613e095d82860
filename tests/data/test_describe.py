"""The benchmark chapter's tables, checked against hand-counted values."""

from persona_judge.data.describe import (
    all_users,
    hub_split_crosstab,
    lengths_table,
    overview_table,
    set_aside_table,
    skipped_table,
    split_size_summary,
)
from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.data.validation import LoadReport, check_user_splits, validate_rows


def _row(user, conv, split, reply="B"):
    return {"user_id": user, "conversation_id": conv, "split": split,
            "context": [{"role": "user", "content": f"q {conv}"}],
            "chosen": {"role": "model", "content": "A"},
            "rejected": {"role": "model", "content": reply}}


def _report() -> LoadReport:
    """u1: 2 train (one conversation), 1 val, 1 test; u2: 1 train, 0 val, 2 test; u3: val only.

    The Hub's validation file holds one row whose column says test; two rows are bad.
    """
    report = LoadReport("bench")
    validate_rows([(1, _row("u1", "c1", "train")), (2, _row("u1", "c1", "train", "C")),
                   (3, _row("u2", "c2", "train")), (4, _row("u2", "c2", "dev"))],
                  "bench, file train.parquet", "skip", report=report, part="train")
    validate_rows([(1, _row("u1", "c3", "val")), (2, _row("u2", "c4", "test")),
                   (3, _row("u3", "c5", "val"))],
                  "bench, file validation.parquet", "skip", report=report, part="validation")
    validate_rows([(1, _row("u1", "c6", "test")), (2, _row("u2", "c7", "test")),
                   (3, _row("u2", "c7", "test"))],
                  "bench, file test.parquet", "skip", report=report, part="test")
    return report


def test_split_size_summary_counts_users_with_zero_and_one_pair():
    table = split_size_summary({"bench": all_users(_report())}).set_index("split")
    assert table.loc["train", ["users", "pairs", "min", "max", "users with 0", "users with 1"]
                     ].tolist() == [3, 3, 0, 2, 1, 1]
    assert table.loc["val", ["pairs", "users with 0", "users with 1"]].tolist() == [2, 1, 2]
    assert table.loc["test", ["pairs", "median", "users with 0"]].tolist() == [3, 1.0, 1]
    assert table.loc["test", "mean"] == 1.0


def test_hub_split_crosstab_shows_rows_filed_under_another_split():
    table = hub_split_crosstab(_report()).set_index("Hub file split")
    assert list(table.index) == ["train", "validation", "test"]
    assert table.loc["validation"].tolist() == [0, 2, 1, 3]  # train, val, test, total
    assert table.loc["train", "train"] == 3 and table.loc["test", "test"] == 2


def test_skipped_and_set_aside_tables_group_by_field_and_reason():
    report = _report()
    check_user_splits(report, on_error="skip")
    skipped = skipped_table({"bench": report})
    assert skipped[["field", "reason", "rows"]].values.tolist() == [
        ["pair_id", "duplicate row", 1], ["split", "unknown split", 1]]
    assert skipped["share of rows (%)"].tolist() == [10.0, 10.0]
    assert skipped.loc[1, "first example"].startswith("bench, file train.parquet, row 4")
    aside = set_aside_table({"bench": report})
    assert aside[["user_id", "train", "val", "test"]].values.tolist() == [["u3", 0, 1, 0]]
    assert aside.loc[0, "reason"] == "no train or test preferences (0 train, 1 val, 0 test)"
    empty = skipped_table({"clean": LoadReport("clean")})
    assert len(empty) == 0 and list(empty.columns)[:4] == ["dataset", "field", "reason", "rows"]


def _users():
    report = _report()
    check_user_splits(report, on_error="skip")
    return all_users(report)


def test_lengths_table_gives_quartiles_per_dataset_and_text():
    prefs = [Preference(user_id="u", conversation_id=f"c{n}",
                        context=(Turn("user", "q" * n),), chosen=Turn("assistant", "x" * 10 * n),
                        rejected=Turn("assistant", "y" * (60 - 10 * n)), split="train")
             for n in range(1, 6)]  # chosen: 10, 20, 30, 40, 50 characters
    table = lengths_table({"bench": [UserSplit("u", tuple(prefs), (), ())]}).set_index("text")
    assert list(table.index) == ["context", "chosen", "rejected"]
    assert table.loc["chosen", ["pairs", "25%", "median", "75%", "max"]].tolist() == [
        5, 20, 30, 40, 50]
    assert table.loc["rejected", ["25%", "median", "max"]].tolist() == [20, 30, 50]
    assert table.loc["context", ["median", "max"]].tolist() == [3, 5]
    assert set(table["dataset"]) == {"bench"}


def test_overview_table_reads_as_formatted_text_beside_the_papers_count():
    users = _users()
    table = overview_table({"chatbot_arena": users}, {"chatbot_arena": 1234}).set_index("")
    column = table["chatbot_arena"]
    assert column["users shown"] == "3"
    assert column["usable users in the loaded data"] == "1,234"
    assert column["users in the paper"] == "131"
    assert column["preferences shown"] == "8"  # u1: 4, u2: 3, u3: 1
    assert column["train / val / test pairs"] == "3 / 2 / 3"
    assert column["preferences per user (median)"] == "3"
    assert overview_table({"mine": users}).set_index("").loc["users in the paper", "mine"] == "–"
