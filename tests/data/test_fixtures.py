"""The fixtures reproduce the real data's quirks (see the fixtures module for what is a guess)."""

import collections
import re

import pandas as pd
import pytest

from persona_judge.data.benchmark import load_benchmark
from persona_judge.data.describe import all_users, user_table
from persona_judge.data.fixtures import JUDGE_MODELS, fixture_rows, write_fixture
from persona_judge.data.validation import check_user_splits, validate_rows


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    return tmp_path


def _load(dataset):
    return validate_rows(enumerate(fixture_rows(dataset), 1), dataset, "skip")


def test_prism_ids_roles_and_several_pairs_per_conversation():
    report = _load("prism")
    users = {p.user_id for p in report.preferences}
    assert all(re.fullmatch(r"user\d+", u) and 0 <= int(u[4:]) <= 59 for u in users)
    assert all(re.fullmatch(r"c\d+", p.conversation_id) for p in report.preferences)
    assert {p.chosen.source_role for p in report.preferences} == {"model"}
    per_conversation = collections.Counter((p.user_id, p.conversation_id)
                                           for p in report.preferences)
    assert max(per_conversation.values()) >= 3
    assert sum(n > 1 for n in per_conversation.values()) >= 10
    # pairs of one conversation share context and chosen reply, never a pair id
    assert len({p.pair_id for p in report.preferences}) == len(report.preferences)
    multi = [p for p in report.preferences if len(p.context) > 1]
    assert multi and all(p.context[1].published_role == "model" for p in multi)
    assert all(p.turns == sum(t.role == "user" for t in p.context) for p in report.preferences)


def test_arena_ids_and_roles_follow_the_source_dataset():
    report = _load("chatbot_arena")
    assert all(re.fullmatch(r"arena_user_\d+", p.user_id) for p in report.preferences)
    assert all(re.fullmatch(r"[0-9a-f]{32}", p.conversation_id) for p in report.preferences)
    assert {p.chosen.role for p in report.preferences} == {"assistant"}
    assert {p.chosen.source_role for p in report.preferences} == {None}
    assert all(p.extra["chosen_score"] is None for p in report.preferences)


@pytest.mark.parametrize("dataset", ["chatbot_arena", "prism"])
def test_per_user_split_sizes_are_skewed_like_the_real_ones(dataset):
    table = user_table(all_users(_load(dataset))).set_index("user_id")
    assert (table["train"] == 1).sum() >= 1
    assert (table["val"] == 0).sum() >= 2 and (table["val"] == 1).sum() >= 2
    assert table["total"].min() <= 6 and table["total"].max() >= 15  # small and larger users
    if dataset == "chatbot_arena":  # Hub splits 305 / 235 / 798: test splits are the largest
        assert table["test"].median() > table["train"].median() >= table["val"].median()
    report = _load(dataset)
    kept = check_user_splits(report, on_error="skip")
    assert len(report.set_aside) == 1 and len(kept) == len(table) - 1


def test_judge_columns_are_consistent_with_agreement():
    for row in fixture_rows("prism"):
        chosen_first = row["flip"]  # flip True: the row shows the chosen reply first
        votes = sum((row[f"prediction_{m}"] == "First") == chosen_first for m in JUDGE_MODELS)
        votes += sum((row[f"prediction_flip_{m}"] == "First") != chosen_first
                     for m in JUDGE_MODELS)
        assert row["agreement"] == votes / 10 and 0.2 <= row["agreement"] <= 0.8
        assert 1 <= row["rejected_score"] < row["chosen_score"] <= 100
        assert row["personalizable_query"] is True and row["type"] in (
            "unguided", "values guided", "controversy guided")


def test_fixtures_are_seeded_and_texts_visibly_synthetic():
    assert fixture_rows("prism", seed=3) == fixture_rows("prism", seed=3)
    assert fixture_rows("prism", seed=3) != fixture_rows("prism", seed=4)
    for row in fixture_rows("chatbot_arena"):
        texts = [t["content"] for t in row["context"]] + [row["chosen"]["content"],
                                                          row["rejected"]["content"]]
        assert all(t.startswith("[synthetic") for t in texts)


def test_the_prism_fixture_carries_two_bad_rows_that_a_study_load_skips(data_root):
    report = load_benchmark("prism", "smoke", on_error="skip", max_bad_row_share=0.02)
    assert sorted(e.reason for e in report.skipped) == ["duplicate row", "empty"]
    assert report.n_rows == len(fixture_rows("prism"))
    assert load_benchmark("chatbot_arena", "smoke").n_skipped == 0


def test_parquet_through_pandas_gives_numpy_arrays_the_loader_accepts(tmp_path):
    folder = write_fixture("chatbot_arena", tmp_path / "fx")
    frame = pd.read_parquet(folder / "data" / "test-00000-of-00001.parquet")
    assert type(frame.iloc[0]["context"]).__module__ == "numpy"
    report = validate_rows(((i, row) for i, row in frame.iterrows()), "pandas")
    assert len(report.preferences) == len(frame)


def test_a_fixture_copy_from_an_older_generator_is_rewritten(data_root):
    from persona_judge.data.benchmark import REVISION_FILE, local_copy

    folder = local_copy("prism", "smoke")
    write_fixture("prism", folder, seed=9)
    (folder / "data" / "test-00000-of-00001.parquet").unlink()  # what an old generator left
    (folder / REVISION_FILE).write_text('{"fixture_seed": 9}')
    report = load_benchmark("prism", "smoke", on_error="skip")
    assert report.revision == "fixture (synthetic, seed 0)"
    assert report.n_rows == len(fixture_rows("prism"))
    assert len(list(folder.glob("data/*.parquet"))) == 3
