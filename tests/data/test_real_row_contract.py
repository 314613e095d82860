"""Contract with the real data: one real PersonalRewardBench row loads, and fixtures match it.

The row (``shared/reference/personalrewardbench/prism_row_user584.json``, see its
PROVENANCE note) goes through the path a Hub row takes: a parquet file in a
Hub-shaped folder, read by the real-mode loader; and through pandas, as the
paper's own code reads it (numpy object arrays).
"""

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from persona_judge import paths
from persona_judge.data.benchmark import load_benchmark, local_copy
from persona_judge.data.fixtures import fixture_schema, write_fixture
from persona_judge.data.records import Preference
from persona_judge.data.validation import check_user_splits, validate_rows

REFERENCE = paths.project_root().parent / "shared" / "reference" / "personalrewardbench"
ROW_FILE = REFERENCE / "prism_row_user584.json"


@pytest.fixture
def real_row():
    if not ROW_FILE.is_file():
        pytest.skip(f"the real reference row is not on this machine ({ROW_FILE} is absent)")
    return json.loads(ROW_FILE.read_text())


@pytest.fixture
def hub_copy(real_row, tmp_path, monkeypatch):
    """A Hub-shaped local copy of prism_personalized_0125 holding just the real row."""
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    folder = local_copy("prism", "real")
    (folder / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([real_row]),
                   folder / "data" / "train-00000-of-00001.parquet")
    return folder


def _check_every_field(pref: Preference, row: dict) -> None:
    assert (pref.user_id, pref.conversation_id) == ("user584", "c3156")
    assert len(pref.context) == 1
    assert (pref.context[0].role, pref.context[0].content) == ("user",
                                                               row["context"][0]["content"])
    for name in ("chosen", "rejected"):
        turn = getattr(pref, name)
        assert turn.role == "assistant" and turn.source_role == "model"
        assert turn.content == row[name]["content"]  # exactly, cut where PRISM cut it
    assert (pref.turns, pref.type, pref.split, pref.flip) == (1, "values guided", "train", False)
    assert type(pref.turns) is int and type(pref.flip) is bool
    assert pref.dataset == "" and dict(pref.extra) == {}  # the row has no other columns
    assert re.fullmatch(r"user584/c3156/[0-9a-f]{10}", pref.pair_id)
    assert pref.query.startswith("Hello, my 18 year old daughter")


def test_the_real_row_loads_through_the_hub_path_and_round_trips(real_row, hub_copy):
    report = load_benchmark("prism", "real", offline=True)
    [pref] = report.preferences
    _check_every_field(pref, real_row)
    assert report.origins[0].part == "train" and report.origins[0].row == 1
    assert report.n_skipped == 0 and report.n_rows == 1
    again = Preference.from_dict(json.loads(json.dumps(pref.to_dict())))
    assert again == pref and again.pair_id == pref.pair_id
    assert again.chosen.published_role == "model"
    # a user with only training pairs is set aside by a study, with the reason
    assert check_user_splits(report, on_error="skip") == {}
    assert report.set_aside[0].reason.startswith("no test preferences (1 train, 0 val, 0 test)")


def test_the_real_row_read_through_pandas_gives_the_same_record(real_row, hub_copy):
    frame = pd.read_parquet(hub_copy / "data" / "train-00000-of-00001.parquet")
    raw = frame.iloc[0]
    assert isinstance(raw["context"], np.ndarray)  # what the paper's notebook shows
    from_pandas = validate_rows([(1, raw)], "pandas").preferences[0]
    _check_every_field(from_pandas, real_row)
    from_hub = load_benchmark("prism", "real", offline=True).preferences[0]
    assert from_pandas == from_hub and from_pandas.pair_id == from_hub.pair_id


def test_the_prism_fixture_has_the_real_rows_schema(real_row, tmp_path):
    """Same keys and value types for the shared columns, model roles, list-of-turns context."""
    folder = write_fixture("prism", tmp_path / "fx")
    fixture = pq.read_table(folder / "data" / "train-00000-of-00001.parquet")
    real = pa.Table.from_pylist([real_row])
    for name in real_row:
        assert name in fixture.schema.names
        assert fixture.schema.field(name).type == real.schema.field(name).type, name
    rows = fixture.to_pylist()
    for row in rows:
        for name, value in real_row.items():
            assert type(row[name]) is type(value), name
        assert set(row["chosen"]) == set(real_row["chosen"]) == {"content", "role"}
        assert row["chosen"]["role"] == row["rejected"]["role"] == real_row["chosen"]["role"]
        assert all(t["role"] in ("user", "model") for t in row["context"])
        assert re.fullmatch(r"user\d+", row["user_id"]) and re.fullmatch(r"c\d+",
                                                                        row["conversation_id"])
    assert any(len(r["context"]) > 1 for r in rows)  # multi-turn contexts, with model turns
    assert fixture_schema("prism").field("context").type == real.schema.field("context").type
