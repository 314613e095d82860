"""Hub and fixture copies: one code path, no cache between copies, pinned revisions."""

import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from persona_judge import paths
from persona_judge.data import benchmark
from persona_judge.data.benchmark import (
    DataUnavailableError,
    RevisionMismatchError,
    dataset_revision,
    load_benchmark,
    local_copy,
    pinned_revision,
    read_revision_record,
)
from persona_judge.data.fixtures import JUDGE_MODELS, fixture_rows, write_fixture
from persona_judge.data.validation import PreferenceDataError, TooManyBadRowsError, validate_rows

# The row schema of PersonalRewardBench: STUDY.md, and the columns the paper's own loader drops.
PUBLISHED_COLUMNS = {
    "user_id", "conversation_id", "context", "chosen", "rejected", "turns", "type", "split",
    "flip", "chosen_score", "rejected_score", "dataset", "query_reasoning",
    "personalizable_query", "response_reasoning", "personalizable_responses", "agreement",
} | {f"{kind}_{m}" for m in JUDGE_MODELS
     for kind in ("prediction", "reasoning", "prediction_flip", "reasoning_flip")}
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


@pytest.fixture
def fake_hub(monkeypatch):
    """Stand in for the Hub: resolve revisions to commits; the snapshot is a fixture copy."""
    calls = []

    def dataset_info(self, repo_id, revision=None, **kw):
        calls.append(("info", repo_id, revision))
        return SimpleNamespace(sha=COMMIT_A if revision in (None, "main") else COMMIT_B)

    def snapshot_download(repo_id, repo_type, revision, local_dir):
        calls.append(("snapshot", repo_id, repo_type, revision))
        write_fixture("prism", Path(local_dir), seed=5)
        (Path(local_dir) / benchmark.REVISION_FILE).unlink()  # the Hub has no such file
        return str(local_dir)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


@pytest.mark.parametrize("dataset", ["chatbot_arena", "prism"])
def test_fixture_files_have_exactly_the_published_columns(dataset, data_root):
    folder = write_fixture(dataset, data_root / "fx")
    files = sorted((folder / "data").glob("*.parquet"))
    assert [f.name.split("-")[0] for f in files] == ["test", "train", "validation"]
    for path in files:
        schema = pq.read_schema(path)
        assert set(schema.names) == PUBLISHED_COLUMNS
        assert schema.field("context").type == pa.list_(schema.field("chosen").type)
        assert schema.field("flip").type == pa.bool_()
        assert schema.field("turns").type == pa.int64()
    assert "SYNTHETIC" in (folder / "README.md").read_text()


def test_hub_download_resolves_and_records_the_revision(data_root, fake_hub):
    real = load_benchmark("prism", "real", on_error="skip")
    assert fake_hub == [("info", "MichaelR207/prism_personalized_0125", None),
                        ("snapshot", "MichaelR207/prism_personalized_0125", "dataset", COMMIT_A)]
    folder = local_copy("prism", "real")
    assert folder == paths.hub_dir() / "MichaelR207/prism_personalized_0125"
    record = read_revision_record(folder)
    assert (record["requested"], record["resolved"]) == (None, COMMIT_A)
    assert real.revision == COMMIT_A == dataset_revision("prism", "real")
    assert real.source == "MichaelR207/prism_personalized_0125"
    expected = validate_rows(enumerate(fixture_rows("prism", seed=5), 1), "x", "skip")
    def by_id(prefs):
        return sorted(prefs, key=lambda p: p.pair_id)

    assert by_id(real.preferences) == by_id(expected.preferences)
    # downloaded once: later loads read the local copy without asking the Hub
    load_benchmark("prism", "real", on_error="skip")
    assert len(fake_hub) == 2
    assert not list(folder.parent.glob(".*partial*"))


def test_a_pinned_commit_is_downloaded_as_is_and_a_branch_is_resolved(data_root, fake_hub):
    benchmark.download("prism", revision=COMMIT_B)
    assert fake_hub == [("snapshot", "MichaelR207/prism_personalized_0125", "dataset",
                         COMMIT_B)]
    shutil.rmtree(local_copy("prism", "real"))
    benchmark.download("prism", revision="v1.0")
    assert fake_hub[1:] == [("info", "MichaelR207/prism_personalized_0125", "v1.0"),
                            ("snapshot", "MichaelR207/prism_personalized_0125", "dataset",
                             COMMIT_B)]
    assert dataset_revision("prism", "real") == f"{COMMIT_B} (requested v1.0)"


def test_a_copy_of_another_revision_is_refused_not_mixed(data_root, fake_hub):
    benchmark.download("prism")  # resolves to COMMIT_A
    benchmark.download("prism", revision=COMMIT_A)
    benchmark.download("prism", revision=COMMIT_A[:8])  # a short hash of the same commit
    with pytest.raises(RevisionMismatchError) as info:
        load_benchmark("prism", "real", revision=COMMIT_B)
    message = str(info.value)
    assert f"pins revision {COMMIT_B}" in message and f"is revision {COMMIT_A}" in message
    assert f"Delete {local_copy('prism', 'real')}" in message
    assert len(fake_hub) == 2  # nothing was downloaded over the existing copy


def test_a_copy_without_a_record_is_used_unpinned_and_refused_pinned(data_root):
    folder = local_copy("chatbot_arena", "real")
    write_fixture("chatbot_arena", folder)
    (folder / benchmark.REVISION_FILE).unlink()
    report = load_benchmark("chatbot_arena", "real", offline=True)
    assert report.revision == "unknown (local copy without a revision record)"
    with pytest.raises(RevisionMismatchError, match="has no record of its revision"):
        load_benchmark("chatbot_arena", "real", offline=True, revision=COMMIT_A)


def test_an_interrupted_download_leaves_no_copy(data_root, monkeypatch):
    import huggingface_hub

    def broken(repo_id, repo_type, revision, local_dir):
        (Path(local_dir) / "data").mkdir(parents=True)
        (Path(local_dir) / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
        raise ConnectionError("connection reset by peer")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", broken)
    with pytest.raises(DataUnavailableError, match="ConnectionError: connection reset"):
        benchmark.download("prism", revision=COMMIT_A)
    assert not local_copy("prism", "real").exists()
    assert not list(local_copy("prism", "real").parent.glob(".*"))


def test_the_fixture_copy_names_its_seed(data_root):
    report = load_benchmark("chatbot_arena", "smoke")
    assert report.revision == "fixture (synthetic, seed 0)"
    assert dataset_revision("chatbot_arena", "smoke") == report.revision


def test_a_fixture_copy_from_other_generator_code_is_regenerated(data_root, monkeypatch):
    # a generator edit that changes rows (a column's meaning, say) must never leave a stale
    # copy on disk, even when nobody bumped a version number
    first = load_benchmark("prism", "smoke", on_error="skip")
    from persona_judge.data import fixtures

    real_rows = fixtures.fixture_rows

    def edited_rows(*args, **kwargs):
        rows = real_rows(*args, **kwargs)
        for row in rows:
            row["flip"] = not row["flip"]
        return rows

    monkeypatch.setattr(fixtures, "fixture_rows", edited_rows)
    again = load_benchmark("prism", "smoke", on_error="skip")
    assert [p.flip for p in again.preferences] == [not p.flip for p in first.preferences]
    monkeypatch.setattr(fixtures, "fixture_rows", real_rows)
    back = load_benchmark("prism", "smoke", on_error="skip")
    assert [p.flip for p in back.preferences] == [p.flip for p in first.preferences]


def test_no_cache_crosses_copies_or_modes(data_root):
    """Regression: a real-mode load once returned the fixture rows cached under the same name."""
    def ids(seed):
        return {p.pair_id for p in
                validate_rows(enumerate(fixture_rows("prism", seed=seed), 1), "x",
                              "skip").preferences}

    smoke = load_benchmark("prism", "smoke", on_error="skip")
    hub = local_copy("prism", "real")
    write_fixture("prism", hub, seed=1)
    real = load_benchmark("prism", "real", offline=True, on_error="skip")
    assert {p.pair_id for p in smoke.preferences} == ids(0)
    assert {p.pair_id for p in real.preferences} == ids(1) != ids(0)
    shutil.rmtree(hub)  # replace the copy's contents: the next load must see the new rows
    write_fixture("prism", hub, seed=2)
    again = load_benchmark("prism", "real", offline=True, on_error="skip")
    assert {p.pair_id for p in again.preferences} == ids(2)
    assert {p.pair_id for p in load_benchmark("prism", "smoke", on_error="skip").preferences} \
        == ids(0)


def test_loading_never_goes_through_the_datasets_cache(data_root, monkeypatch, tmp_path):
    try:
        import datasets
    except ImportError:  # not installed: it cannot be used either
        datasets = None

    def refuse(*args, **kwargs):
        raise AssertionError("datasets.load_dataset keeps a cache shared between copies")

    if datasets is not None:
        monkeypatch.setattr(datasets, "load_dataset", refuse)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    assert load_benchmark("chatbot_arena", "smoke").preferences
    assert not home.exists()


def test_errors_name_the_file_and_row_and_hub_split_names_are_kept(data_root):
    folder = local_copy("chatbot_arena", "real")
    write_fixture("chatbot_arena", folder)
    train = folder / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(train).to_pylist()
    table[2]["chosen"] = {"content": "  ", "role": "assistant"}
    for row in table:
        row["split"] = None  # rows without a split column value take the file's split
    pq.write_table(pa.Table.from_pylist(table, schema=pq.read_schema(train)), train)
    with pytest.raises(PreferenceDataError) as info:
        load_benchmark("chatbot_arena", "real", offline=True)
    assert str(info.value) == (
        "MichaelR207/chatbot_arena_personalized_0125, file data/train-00000-of-00001.parquet, "
        "row 3: field 'chosen.content': empty")
    report = load_benchmark("chatbot_arena", "real", offline=True, on_error="skip")
    parts = {(o.part, p.split) for o, p in zip(report.origins, report.preferences, strict=True)}
    assert parts == {("train", "train"), ("validation", "val"), ("test", "test")}


def test_a_dataset_losing_more_than_the_allowed_share_fails(data_root):
    folder = local_copy("chatbot_arena", "real")
    write_fixture("chatbot_arena", folder)
    test_file = folder / "data" / "test-00000-of-00001.parquet"
    rows = pq.read_table(test_file).to_pylist()
    for row in rows[:5]:
        row["split"] = "dev"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(test_file)), test_file)
    report = load_benchmark("chatbot_arena", "real", offline=True, on_error="skip",
                            max_bad_row_share=0.05)
    assert report.n_skipped == 5 and report.n_rows == 130
    with pytest.raises(TooManyBadRowsError, match=r"5 of 130 rows \(3.8%\) are bad"):
        load_benchmark("chatbot_arena", "real", offline=True, on_error="skip",
                       max_bad_row_share=0.02)


def test_study_settings_pin_revisions_and_the_bad_row_share():
    settings = {"hub_revisions": {"prism": COMMIT_A, "chatbot_arena": None},
                "max_bad_row_share": 0.05}
    assert pinned_revision("prism", settings) == COMMIT_A
    assert pinned_revision("chatbot_arena", settings) is None
    assert benchmark.bad_row_share_setting(settings) == 0.05
    assert benchmark.bad_row_share_setting({}) == benchmark.DEFAULT_MAX_BAD_ROW_SHARE
    # the project's own study.yaml declares both settings
    assert set(benchmark.study_settings()["hub_revisions"]) == set(benchmark.BENCHMARKS)
    assert benchmark.bad_row_share_setting() == 0.02
    with pytest.raises(Exception, match="max_bad_row_share' must be a share"):
        benchmark.bad_row_share_setting({"max_bad_row_share": "2%"})
    with pytest.raises(Exception, match="hub_revisions' must map"):
        pinned_revision("prism", {"hub_revisions": "abc"})


def test_offline_without_a_local_copy_names_the_folder_and_smoke_mode(data_root, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as info:
        load_benchmark("chatbot_arena", "real")
    message = str(info.value)
    assert str(data_root / "hub" / "MichaelR207/chatbot_arena_personalized_0125") in message
    assert "MODE=smoke" in message


def test_unreachable_hub_gives_an_actionable_message(data_root):
    """This machine cannot reach the Hub: the real download fails fast and clearly."""
    with pytest.raises(DataUnavailableError, match="could not download .* smoke mode"):
        benchmark.download("prism")


def test_unknown_dataset_and_mode_are_refused(data_root):
    with pytest.raises(ValueError, match="unknown dataset 'arena'"):
        load_benchmark("arena", "smoke")
    with pytest.raises(ValueError, match="mode must be"):
        load_benchmark("prism", "fast")  # type: ignore[arg-type]
