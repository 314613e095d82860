"""Raw sources from the Hub through the real ``huggingface_hub`` code path, against a local
stand-in that answers like the Hub: pinned revisions, one download, gated refusals, and an
HF_TOKEN that goes nowhere but the Authorization header."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
from hub_standin import HubRepo, HubStandIn

from persona_judge import paths
from persona_judge.construction.estimate import derive_pairs
from persona_judge.construction.pipeline import ConstructionConfig
from persona_judge.data import raw_fixtures
from persona_judge.data.raw_prism import load_prism_survey
from persona_judge.data.raw_sources import (
    GatedSourceError,
    RawSourceUnavailableError,
    download_raw,
    raw_copy_dir,
)

COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture()
def hub_data(tmp_path, monkeypatch):
    """A private data folder and the fixture files a stand-in Hub serves."""
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    raw_fixtures.write_prism_fixture(tmp_path / "prism")
    raw_fixtures.write_arena_fixture(tmp_path / "arena")
    prism = HubRepo.from_folder("HannahRoseKirk/prism-alignment", tmp_path / "prism",
                                commit=COMMIT)
    arena = HubRepo.from_folder("lmsys/chatbot_arena_conversations", tmp_path / "arena",
                                commit=COMMIT, gated=True)
    return tmp_path, prism, arena


def test_download_once_at_the_resolved_revision_and_read_it(hub_data):
    tmp_path, prism, arena = hub_data
    with HubStandIn(prism, arena) as hub:
        copy = download_raw("prism", endpoint=hub.url, progress=False)
        assert copy.revision == COMMIT and copy.folder == raw_copy_dir("prism", "real")
        assert copy.folder.is_relative_to(paths.hub_dir())
        record = json.loads((copy.folder / ".persona_judge_source.json").read_text())
        assert record["commit"] == COMMIT and record["requested_revision"] is None
        served = [path for method, path in hub.requests if method == "GET" and "/resolve/" in path]
        assert all(f"/resolve/{COMMIT}/" in path for path in served)  # exactly that commit
        assert {p.rsplit("/", 1)[-1] for p in served} == {"survey.jsonl", "conversations.jsonl",
                                                           "README.md"}
        before = len(hub.requests)
        again = download_raw("prism", COMMIT, endpoint=hub.url, progress=False)
        assert again.revision == COMMIT and len(hub.requests) == before  # no network at all
        survey = load_prism_survey("real")
        assert list(survey) == [f"user{i}" for i in range(60)]
        pairs, report, described = derive_pairs("prism", "real", ConstructionConfig())
        assert report.records > 200 and described.endswith(COMMIT)
        with pytest.raises(RawSourceUnavailableError, match=r"pins revision 1111111"):
            download_raw("prism", "1111111111111111111111111111111111111111", endpoint=hub.url)


def test_a_partial_copy_is_fetched_again(hub_data):
    tmp_path, prism, arena = hub_data
    with HubStandIn(prism, arena) as hub:
        copy = download_raw("prism", endpoint=hub.url, progress=False)
        (copy.folder / ".persona_judge_source.json").unlink()  # as if killed mid-download
        before = len(hub.requests)
        download_raw("prism", endpoint=hub.url, progress=False)
        assert len(hub.requests) > before
        assert (copy.folder / ".persona_judge_source.json").is_file()


def test_offline_without_a_copy_names_the_folder(hub_data, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RawSourceUnavailableError) as err:
        download_raw("prism")
    assert str(raw_copy_dir("prism", "real")) in str(err.value)
    assert "smoke" in str(err.value)


@pytest.mark.parametrize("token", [None, "hf_not_granted"])
def test_gated_refusal_names_the_page_and_the_variable(hub_data, monkeypatch, token):
    tmp_path, prism, arena = hub_data
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    with HubStandIn(prism, arena) as hub:
        with pytest.raises(GatedSourceError) as err:
            download_raw("chatbot_arena", endpoint=hub.url, progress=False)
    message = str(err.value)
    assert "https://huggingface.co/datasets/lmsys/chatbot_arena_conversations" in message
    assert "export HF_TOKEN=" in message and "accept its terms" in message
    assert ("HF_TOKEN is not set" in message) == (token is None)
    assert ("401" if token is None else "403") in message
    assert token is None or token not in message
    assert not (raw_copy_dir("chatbot_arena", "real") / ".persona_judge_source.json").exists()


def test_fake_token_reaches_only_the_authorization_header(hub_data, monkeypatch, capfd):
    tmp_path, prism, arena = hub_data
    token = "hf_fake_" + secrets.token_hex(16)
    monkeypatch.setenv("HF_TOKEN", token)
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with HubStandIn(prism, arena) as hub:
            with pytest.raises(GatedSourceError) as err:  # not granted yet: refused
                download_raw("chatbot_arena", endpoint=hub.url, progress=True)
            arena.allowed_tokens = {token}  # terms accepted: the same token now works
            copy = download_raw("chatbot_arena", endpoint=hub.url, progress=True)
            assert any(copy.folder.rglob("*.parquet"))
            authorizations = hub.authorizations
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
    assert f"Bearer {token}" in authorizations  # it was used, as the Hub expects
    captured = capfd.readouterr()
    assert token not in captured.out + captured.err + str(err.value)
    leaks = [p for p in Path(tmp_path).rglob("*") if p.is_file()
             and token.encode() in p.read_bytes()]
    assert leaks == [], f"HF_TOKEN written to {leaks}"
