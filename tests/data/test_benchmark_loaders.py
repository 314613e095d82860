"""The Hub loader and the fixture copies go through one code path, with the published schema."""

from pathlib import Path

import pytest

from persona_judge import paths
from persona_judge.data import benchmark
from persona_judge.data.benchmark import DataUnavailableError, load_benchmark
from persona_judge.data.fixtures import JUDGE_MODELS, write_fixture

# The row schema of PersonalRewardBench as STUDY.md gives it.
PUBLISHED_COLUMNS = {
    "user_id", "conversation_id", "context", "chosen", "rejected", "turns", "type", "split",
    "flip", "chosen_score", "rejected_score", "dataset", "query_reasoning",
    "personalizable_query", "response_reasoning", "personalizable_responses", "agreement",
} | {f"{kind}_{m}" for m in JUDGE_MODELS
     for kind in ("prediction", "reasoning", "prediction_flip", "reasoning_flip")}


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("dataset", ["chatbot_arena", "prism"])
def test_fixture_has_exactly_the_published_columns(dataset, data_root):
    import datasets

    folder = write_fixture(dataset, data_root / "fx")
    table = datasets.load_dataset(str(folder))
    assert set(table) == {"train", "validation", "test"}
    for split in table.values():
        assert set(split.column_names) == PUBLISHED_COLUMNS
    assert "SYNTHETIC" in (folder / "README.md").read_text()


def test_hub_download_path_reads_the_same_records_as_the_fixture(data_root, monkeypatch):
    """Stand in for the Hub: snapshot_download writes the fixture layout into local_dir."""
    calls = []

    def fake_snapshot_download(repo_id, repo_type, local_dir):
        calls.append((repo_id, repo_type))
        write_fixture("prism", Path(local_dir))
        return local_dir

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    real = load_benchmark("prism", "real")
    smoke = load_benchmark("prism", "smoke")
    assert calls == [("MichaelR207/prism_personalized_0125", "dataset")]
    assert real.preferences == smoke.preferences and len(real.preferences) > 100
    assert real.source == "MichaelR207/prism_personalized_0125"
    assert "smoke run" in smoke.source
    # downloaded once: a second load reads the local copy without asking the Hub
    load_benchmark("prism", "real")
    assert len(calls) == 1
    assert (paths.hub_dir() / "MichaelR207/prism_personalized_0125").is_dir()


def test_splits_come_from_the_rows_and_users_have_all_three(data_root):
    report = load_benchmark("chatbot_arena", "smoke")
    splits = {p.split for p in report.preferences}
    assert splits == {"train", "val", "test"}
    users = {p.user_id for p in report.preferences}
    assert len(users) == 12 and all(u.startswith("fixture-arena-") for u in users)


def test_offline_without_a_local_copy_names_the_folder_and_smoke_mode(data_root, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as info:
        load_benchmark("chatbot_arena", "real")
    message = str(info.value)
    assert str(data_root / "hub" / "MichaelR207/chatbot_arena_personalized_0125") in message
    assert "MODE=smoke" in message


def test_unreachable_hub_gives_an_actionable_message(data_root, monkeypatch):
    """This machine cannot reach the Hub: the real download fails fast and clearly."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(DataUnavailableError, match="could not download .* smoke mode"):
        benchmark.download("prism")


def test_unknown_dataset_and_mode_are_refused(data_root):
    with pytest.raises(ValueError, match="unknown dataset 'arena'"):
        load_benchmark("arena", "smoke")
    with pytest.raises(ValueError, match="mode must be"):
        load_benchmark("prism", "fast")  # type: ignore[arg-type]
