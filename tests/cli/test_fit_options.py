"""Every ``fit`` option reaches the code (each with a value unlike the others and unlike its
default); bugs and expected problems exit differently; smoke runs use --cache, leave no
temporary files and send no key; start-up imports nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SMALL, output_map, rows, write_jsonl

import persona_judge.data.user_file as user_file
import persona_judge.llm as llm
import persona_judge.method.synthesizeme as synthesizeme
from persona_judge.cli import BUG_REPORT, build_parser
from persona_judge.llm import ClientConfig, standin
from persona_judge.llm.standin import StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record what the loader, the client factory and the fit receive (then call them)."""
    seen: dict[str, list[Any]] = {"load": [], "client": [], "fit": []}
    real_load, real_client, real_fit = (user_file.load_preferences_file, llm.client_from_env,
                                        synthesizeme.fit_user)

    def load(*args: Any, **kwargs: Any) -> Any:
        seen["load"].append(kwargs)
        return real_load(*args, **kwargs)

    def client(model: str, **kwargs: Any) -> Any:
        seen["client"].append({"model": model, **kwargs})
        return real_client(model, **kwargs)

    def fit(user: Any, client: Any, config: Any) -> Any:
        seen["fit"].append(config)
        return real_fit(user, client, config)

    monkeypatch.setattr(user_file, "load_preferences_file", load)
    monkeypatch.setattr(llm, "client_from_env", client)
    monkeypatch.setattr(synthesizeme, "fit_user", fit)
    return seen


def test_every_option_reaches_the_code(
    tmp_path: Path, endpoint: StandInServer, run, spies: dict[str, list[Any]]
) -> None:
    data = rows("bob", 6) + rows("bob", 1) + [{"user_id": "ann", "prompt": "half a row"}]
    prefs = write_jsonl(tmp_path / "two.jsonl", data)
    theta = tmp_path / "theta.txt"
    theta.write_text("=== system ===\nWrite a persona.\n=== user ===\nChoices:\n$examples\n"
                     "=== example ===\n$index $conversation $chosen $rejected $chosen_letter "
                     "$rejected_letter $reasoning\n")
    out, cache = tmp_path / "results", tmp_path / "answers.sqlite"
    code, printed, err = run(
        "fit", prefs, "--out", out, "--model", "served-judge", "--user", "bob",
        "--seed", "7", "--n-candidates", "3", "--m-candidates", "2",
        "--persona-instruction", theta, "--cache", cache, "--skip-bad-rows",
        "--drop-duplicates", "--timeout", "11.5", "--connect-timeout", "2.5",
        "--max-retries", "4", "--max-timeout-retries", "1", "--max-concurrency", "3",
        "--structured-output", "json_object",
        "--variant", "ours")  # our variant's JSON verdicts take the structured form
    assert code == 0, err
    (load,) = spies["load"]
    assert load == {"seed": 7, "user": "bob", "drop_duplicates": True, "on_error": "skip"}
    (client,) = spies["client"]
    assert client["model"] == "served-judge" and Path(client["cache_path"]) == cache
    settings = {k: client[k] for k in ("timeout", "connect_timeout", "max_retries",
                                       "max_timeout_retries", "max_concurrency",
                                       "structured_output")}
    assert settings == {"timeout": 11.5, "connect_timeout": 2.5, "max_retries": 4,
                        "max_timeout_retries": 1, "max_concurrency": 3,
                        "structured_output": "json_object"}
    defaults = ClientConfig()
    assert all(getattr(defaults, k) != v for k, v in settings.items())  # none is a default
    (config,) = spies["fit"]
    assert (config.n_candidates, config.m_candidates, config.seed) == (3, 2, 7)
    assert config.persona_instruction == str(theta) and config.variant == "ours"
    art = SynthesizeMeArtifact.load(out / "bob" / "artifact.json")
    assert art.model == "served-judge" and art.templates["persona_synthesis"].startswith("theta@")
    # faithful: step 1 adds labels-only and the full set to the n random candidates; step 3
    # adds persona-only, labels-only and the full set to the m random ones
    assert art.settings["n_candidates"] == 3 and len(art.bootstrap_candidates) == 3 + 2
    assert art.settings["m_candidates"] == 2 and len(art.demo_candidates) == 2 + 3
    assert cache.is_file() and set(output_map(out)) == {"bob"}
    # and they reached the wire: the structured form and the server actually used
    assert {(r.body.get("response_format") or {}).get("type") for r in endpoint.requests
            if "## Reply A" in str(r.body["messages"])} == {"json_object"}
    assert all(r.body["model"] == "served-judge" for r in endpoint.requests)
    assert "dropped duplicate" in printed and "1 row(s) of other users" in printed


def test_without_options_the_client_keeps_its_defaults(
    tmp_path: Path, run, spies: dict[str, list[Any]]
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    assert run("fit", prefs, "--out", tmp_path / "o", "--smoke", *SMALL)[0] == 0
    (client,) = spies["client"]
    assert not {"timeout", "connect_timeout", "max_retries", "max_timeout_retries",
                "max_concurrency", "structured_output"} & set(client)
    (load,) = spies["load"]
    assert load == {"seed": 0, "user": None, "drop_duplicates": False, "on_error": "raise"}


def test_skip_bad_rows_reports_each_skipped_row(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3) + ['{"prompt": "x"',
                                                                {"prompt": "y", "chosen": "z"}])
    code, printed, err = run("fit", prefs, "--out", tmp_path / "o", "--smoke", *SMALL)
    assert code == 2 and "line 4: not valid JSON" in err
    code, printed, err = run("fit", prefs, "--out", tmp_path / "o", "--smoke",
                             "--skip-bad-rows", *SMALL)
    assert code == 0, err
    assert "skipped 2 bad row(s)" in printed
    assert "line 4: not valid JSON" in printed and "line 5: field 'rejected': missing" in printed


# -- bugs versus expected problems ------------------------------------------------------------
def test_a_bug_shows_its_traceback_and_exits_1(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("an internal invariant broke")  # a ValueError, but not an input error

    monkeypatch.setattr(synthesizeme, "fit_user", broken)
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    code, printed, err = run("fit", prefs, "--out", tmp_path / "o", "--smoke", *SMALL)
    assert code == 1
    assert "Traceback (most recent call last)" in err and "an internal invariant broke" in err
    assert BUG_REPORT in err


def test_expected_problems_exit_2_with_one_paragraph(tmp_path: Path, run) -> None:
    code, printed, err = run("fit", tmp_path / "missing.jsonl", "--smoke")
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_interrupt_exits_130_and_says_the_calls_are_kept(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(synthesizeme, "fit_user", interrupted)
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    code, printed, err = run("fit", prefs, "--out", tmp_path / "o", "--smoke", *SMALL)
    assert code == 130 and "finished LLM calls are in the cache" in err


def test_no_endpoint_is_an_expected_problem_before_any_output(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    code, printed, err = run("fit", prefs, "--out", tmp_path / "o")
    assert code == 2 and "TOGETHER_API_KEY" in err and "LLM_BASE_URL" in err
    assert not (tmp_path / "o").exists()


# -- smoke runs ----------------------------------------------------------------------------------
def test_smoke_fit_honours_cache_and_leaves_no_temporary_files(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 4))
    cache = tmp_path / "smoke.sqlite"
    code, first, err = run("fit", prefs, "--out", tmp_path / "a", "--smoke", "--cache", cache,
                           *SMALL)
    assert code == 0 and cache.is_file()
    code, second, err = run("fit", prefs, "--out", tmp_path / "b", "--smoke", "--cache", cache,
                            *SMALL)
    assert code == 0
    assert ": 0 calls" in second and " 0 cache hits" not in second  # all answers from --cache
    assert (tmp_path / "a" / "me" / "persona.txt").read_text() == \
        (tmp_path / "b" / "me" / "persona.txt").read_text()
    assert run("fit", prefs, "--out", tmp_path / "c", "--smoke", *SMALL)[0] == 0
    assert list(scratch.iterdir()) == []  # the throw-away cache folder is gone


def test_smoke_fit_sends_no_key_at_all(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers: list[StandInServer] = []

    class Watched(standin.StandInServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(standin, "StandInServer", Watched)
    monkeypatch.setenv("TOGETHER_API_KEY", "tgp-real-looking-key-0123456789")
    monkeypatch.setenv("LLM_API_KEY", "sk-local-secret-key")
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    assert run("fit", prefs, "--out", tmp_path / "o", "--smoke", *SMALL)[0] == 0
    (server,) = servers
    assert server.requests_seen > 5
    assert set(server.authorizations) == {None}


# -- start-up ------------------------------------------------------------------------------------
def test_help_and_a_mistyped_path_import_nothing_heavy(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from persona_judge.cli import main\n"
        "try:\n"
        "    main(['fit', sys.argv[1], '--smoke'])\n"
        "finally:\n"
        "    heavy = [m for m in ('nbformat', 'jsonschema', 'papermill', 'together', 'pandas',"
        " 'datasets', 'httpx') if m in sys.modules]\n"
        "    print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "typo.jsonl")],
                            capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    help_text = build_parser().format_help()
    assert "fit" in help_text and "Exit status" in help_text
    modules = subprocess.run(
        [sys.executable, "-c", "import sys; from persona_judge.cli import build_parser; "
         "build_parser().format_help(); print(sorted(m for m in ('nbformat', 'papermill', "
         "'together', 'pandas') if m in sys.modules))"],
        capture_output=True, text=True, timeout=60)
    assert modules.stdout.strip() == "[]", modules.stderr


def test_fit_help_lists_the_client_options(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "--help"])
    text = capsys.readouterr().out
    for option in ("--timeout", "--connect-timeout", "--max-retries", "--max-timeout-retries",
                   "--max-concurrency",
                   "--structured-output", "--skip-bad-rows", "--drop-duplicates"):
        assert option in text


def test_users_json_is_valid_and_names_the_source(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    out = tmp_path / "o"
    assert run("fit", prefs, "--out", out, "--smoke", *SMALL)[0] == 0
    data = json.loads((out / "users.json").read_text())
    assert data["format"] == "persona_judge/fit-outputs@1"
    assert data["users"]["me"]["source"] == str(prefs)


@pytest.mark.parametrize(("param", "expected"), [
    ("n_candidates=0", "n_candidates must be a whole number >= 1"),
    ("max_users=-2", "max_users must be a whole number >= 1 or null"),
    ("dataset=arena", "dataset must be one of chatbot_arena, prism"),
])
def test_estimate_settings_are_checked_first(run, param: str, expected: str) -> None:
    code, printed, err = run("estimate", "-p", "mode=smoke", "-p", param)
    assert code == 2 and expected in err and "Traceback" not in err
