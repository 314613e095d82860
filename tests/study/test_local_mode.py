"""Local mode (``make real-check``): fixture data, a real model from LLM_BASE_URL, its own cache,
and a label on every page that says "local model check" (never a smoke run, never a result)."""

from __future__ import annotations

import pytest

from persona_judge import paths
from persona_judge.errors import SettingsError
from persona_judge.evaluation.main_results import user_limit
from persona_judge.llm import ChatRequest
from persona_judge.llm.standin import StandInServer
from persona_judge.study import book, notebook
from persona_judge.study.config import StudyRunError, load_config

ENDPOINT_VARS = ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LLM_BASE_URL", "LLM_API_KEY")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    for name in ENDPOINT_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def test_local_mode_reads_the_smoke_fixtures_never_the_hub(data_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for dataset in ("prism", "chatbot_arena"):
        local = notebook.load_benchmark_data(dataset, "local")
        smoke = notebook.load_benchmark_data(dataset, "smoke")
        assert [u.user_id for u in local.users] == [u.user_id for u in smoke.users]
        assert local.users and local.report.revision == smoke.report.revision
    assert not paths.hub_dir().exists()
    assert notebook.data_mode("local") == "smoke" and notebook.data_mode("real") == "real"


def test_local_mode_asks_the_configured_endpoint_and_keeps_its_own_cache(data_dir, monkeypatch):
    with StandInServer() as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        client = notebook.open_llm("local", "tiny", structured_output="off", progress=False)
        try:
            request = ChatRequest([{"role": "user", "content": "hello"}], "t@1")
            assert client.chat(request).error is None
        finally:
            client.close()
        assert server.requests_seen == 2  # the preflight and the call: a real endpoint
    assert client.cache_path == data_dir / "cache" / "llm-local.sqlite"
    assert client.cache_path != paths.cache_path("real") != paths.cache_path("smoke")


def test_local_mode_without_an_endpoint_says_how_to_configure_one(data_dir):
    from persona_judge.llm import NoEndpointError

    with pytest.raises(NoEndpointError, match="LLM_BASE_URL"):
        notebook.open_llm("local", "tiny")


@pytest.mark.parametrize(("mode", "label"), [
    ("local", "LOCAL MODEL CHECK (a tiny local model on fixture data, not a result). "),
    ("smoke", "SMOKE RUN (scripted stand-in, not a result). "),
    ("real", ""),
])
def test_every_mode_has_its_caption_label(mode, label):
    assert notebook.run_label(mode) == label


def test_an_unknown_mode_is_refused_with_the_three_modes(tmp_path, monkeypatch):
    with pytest.raises(SettingsError, match="'real', 'smoke' or 'local', got 'tiny'"):
        notebook.check_mode("tiny")
    (tmp_path / "study.yaml").write_text("mode: local\n")
    assert load_config(tmp_path / "study.yaml")["mode"] == "local"
    with pytest.raises(StudyRunError, match="real, smoke or local"):
        load_config(tmp_path / "study.yaml", {"mode": "tiny"})


def test_the_banner_says_local_model_check(capsys):
    notebook.show_mode_banner("local", needs_llm=True)
    out = capsys.readouterr().out
    assert "LOCAL MODEL CHECK — not a result" in out and "tiny model" in out
    assert "SMOKE" not in out


@pytest.mark.parametrize(("max_users", "cap", "expected"), [(None, 1, 1), (5, 2, 2), (1, 4, 1)])
def test_local_mode_takes_the_smoke_sized_user_cap(max_users, cap, expected):
    assert user_limit("local", max_users, cap) == expected
    assert user_limit("real", max_users, cap) == max_users


def test_the_book_labels_a_local_model_check(data_dir, tmp_path):
    config = {"mode": "local", "model": "SmolLM2-135M-Instruct", "seed": 0}
    bar = book.announcement(config)
    assert "LOCAL MODEL CHECK — not a result." in bar and "tiny local model" in bar
    assert "SMOKE" not in bar and "Real run" not in bar
    assert book.data_label(config) == "synthetic fixtures"
    status = book.write_status(book.Site(tmp_path / "site"), config, ["05_main_results"], {})
    text = status.read_text()
    assert "LOCAL MODEL CHECK" in text and "real run" not in text.lower()
    assert "SMOKE" not in text
