"""``persona-judge fit`` under dead endpoints, bad users, hostile ids, crashes and bad paths:
it fails loudly, writes nothing that looks like a result, and loses no finished user."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import SMALL, output_map, result_files, rows, write_jsonl

import persona_judge.io as pj_io
from persona_judge.errors import OutputError
from persona_judge.llm.standin import Fault, SilentServer, StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# -- a dead endpoint ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["closed port", "400 to everything", "never answers"])
def test_dead_endpoint_exits_non_zero_fast_and_writes_no_result(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 5))
    out = tmp_path / "out"
    extra: list[str] = []
    with StandInServer(always=Fault("status", status=400)) as bad, SilentServer() as silent:
        url = {"closed port": closed_port_url(), "400 to everything": bad.url,
               "never answers": silent.url}[kind]
        if kind == "never answers":
            extra = ["--timeout", "1"]  # the preflight waits min(timeout, 20 s)
        monkeypatch.setenv("LLM_BASE_URL", url)
        code, printed, err = run("fit", prefs, "--out", out, "--cache", tmp_path / "c.sqlite",
                                 *extra)
    assert code == 2
    assert err.startswith("error: the LLM endpoint") and url in err and "curl" in err
    assert len(err.strip().splitlines()) == 1
    assert result_files(out) == []  # no persona, no prompts, no artifact
    assert output_map(out)["me"]["status"] == "not run"


# -- one bad user must not cost the others --------------------------------------------------
def test_users_are_fitted_independently(tmp_path: Path, endpoint: StandInServer, run) -> None:
    data = rows("good", 5) + rows("solo", 1) + rows("flaky", 4, marker="FLAKY")
    prefs = write_jsonl(tmp_path / "all.jsonl", data)
    out = tmp_path / "out"
    # the first call of flaky fails for good (2 attempts with --max-retries 1; one call in
    # flight at a time, so both faults meet the same call)
    endpoint.inject(*[Fault("500", match="FLAKY")] * 2)
    code, printed, err = run("fit", prefs, "--out", out, "--cache", tmp_path / "c.sqlite",
                             "--max-retries", "1", "--max-concurrency", "1", *SMALL)
    assert code == 2
    status = {uid: e["status"] for uid, e in output_map(out).items()}
    assert status == {"good": "fitted", "solo": "failed", "flaky": "failed"}
    assert SynthesizeMeArtifact.load(out / "good" / "artifact.json").user_id == "good"
    assert not (out / "solo").exists() and not (out / "flaky").exists()
    assert "2 of 3 user(s) could not be fitted" in err
    assert "'solo': 1 preference(s) to fit on" in err
    assert "'flaky': 1 LLM call(s) failed after all retries" in err and "HTTP 500" in err


def test_a_run_wide_stop_keeps_the_users_already_finished(
    tmp_path: Path, endpoint: StandInServer, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("persona_judge.cli.USER_WORKERS", 1)  # one user after the other
    prefs = write_jsonl(tmp_path / "three.jsonl",
                        rows("first", 4) + rows("second", 4) + rows("third", 4))

    def dies_at_second(body: dict) -> str:
        from persona_judge.method.smoke import smoke_responder

        if any("second asks" in str(m.get("content")) for m in body["messages"]):
            endpoint.always = Fault("500")  # the server dies here
        return smoke_responder(body)

    endpoint.responder = dies_at_second
    out = tmp_path / "out"
    code, printed, err = run("fit", prefs, "--out", out, "--cache", tmp_path / "c.sqlite",
                             "--max-retries", "0", "--max-concurrency", "1", *SMALL)
    assert code == 2 and "stopped after 3 calls in a row failed" in err
    status = {uid: e["status"] for uid, e in output_map(out).items()}
    assert status == {"first": "fitted", "second": "not run", "third": "not run"}
    assert (out / "first" / "artifact.json").is_file() and not (out / "second").exists()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_failed_calls_never_replace_an_earlier_result(
    tmp_path: Path, endpoint: StandInServer, run
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 5))
    out, cache = tmp_path / "out", tmp_path / "c.sqlite"
    assert run("fit", prefs, "--out", out, "--cache", cache, *SMALL)[0] == 0
    before = (out / "me" / "artifact.json").read_bytes()
    # the first new call of the next run fails (its request holds the user's text; the
    # preflight's does not)
    endpoint.inject(*[Fault("500", match="me asks")] * 2)
    code, printed, err = run("fit", prefs, "--out", out, "--cache", cache, "--seed", "5",
                             "--max-retries", "1", "--max-concurrency", "1", *SMALL)
    assert code == 2 and "LLM call(s) failed" in err
    assert (out / "me" / "artifact.json").read_bytes() == before
    entry = output_map(out)["me"]
    assert entry["status"] == "failed" and "still holds the fit of" in entry["reason"]


# -- output paths are data, not trust --------------------------------------------------------
def test_hostile_user_ids_stay_inside_out_and_never_collide(
    tmp_path: Path, run
) -> None:
    ids = ["..", "a/b", "a?b", "Me", "me", "/etc/passwd", "CON"]
    data = [r for uid in ids for r in rows(uid, 2)]
    prefs = write_jsonl(tmp_path / "ids.jsonl", data)
    out = tmp_path / "nest" / "out"
    code, printed, err = run("fit", prefs, "--out", out, "--smoke", *SMALL)
    assert code == 0, err
    mapping = output_map(out)
    assert set(mapping) == set(ids)
    folders = [mapping[uid]["folder"] for uid in ids]
    assert len({f.lower() for f in folders}) == len(ids)  # unique, even ignoring case
    assert mapping["me"]["folder"] == "me"  # a plain id is its own folder
    for uid in ids:
        folder = out / mapping[uid]["folder"]
        assert folder.resolve().parent == out.resolve()
        assert SynthesizeMeArtifact.load(folder / "artifact.json").user_id == uid
    assert sorted(p.name for p in (tmp_path / "nest").iterdir()) == ["out"]


def test_whitespace_only_user_id_is_refused(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "ws.jsonl", rows("   ", 2))
    code, printed, err = run("fit", prefs, "--out", tmp_path / "out", "--smoke")
    assert code == 2 and "line 1: field 'user_id': blank" in err


def test_a_crash_while_writing_leaves_no_partial_result(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 4))
    out = tmp_path / "out"
    real = pj_io.atomic_write_text
    calls = []

    def disk_full_on_second_file(path, text, encoding="utf-8"):
        calls.append(path)
        if len(calls) == 2:
            raise OutputError(f"could not write {path}: No space left on device")
        return real(path, text, encoding)

    monkeypatch.setattr(pj_io, "atomic_write_text", disk_full_on_second_file)
    code, printed, err = run("fit", prefs, "--out", out, "--smoke", *SMALL)
    assert code == 2 and "No space left on device" in err
    assert result_files(out) == []  # the staging folder was never swapped in, and is gone
    assert [p.name for p in out.iterdir()] == ["users.json"]


def test_a_folder_of_someone_elses_is_not_overwritten(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    out = tmp_path / "out"
    (out / "me").mkdir(parents=True)
    (out / "me" / "thesis.tex").write_text("precious")
    code, printed, err = run("fit", prefs, "--out", out, "--smoke", *SMALL)
    assert code == 2 and "was not written by persona-judge" in err
    assert (out / "me" / "thesis.tex").read_text() == "precious"


# -- bad paths and settings are found before anything is paid for ------------------------------
def test_out_that_is_a_file(tmp_path: Path, endpoint: StandInServer, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    (tmp_path / "taken").write_text("x")
    code, printed, err = run("fit", prefs, "--out", tmp_path / "taken")
    assert code == 2 and "is a file, not a folder" in err
    assert endpoint.requests_seen == 0


@pytest.mark.parametrize("problem", ["folder", "not sqlite", "truncated"])
def test_unusable_cache_is_reported_before_any_call(
    tmp_path: Path, endpoint: StandInServer, run, problem: str
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    cache = tmp_path / "cache.sqlite"
    if problem == "folder":
        cache.mkdir()
    elif problem == "not sqlite":
        cache.write_text("hello")
    else:
        conn = sqlite3.connect(cache)
        conn.execute("CREATE TABLE completions (key TEXT, text TEXT)")
        conn.executemany("INSERT INTO completions VALUES (?, ?)",
                         [(str(i), "x" * 3000) for i in range(200)])
        conn.commit()
        conn.close()
        with cache.open("r+b") as handle:
            handle.truncate(cache.stat().st_size // 2)
    code, printed, err = run("fit", prefs, "--out", tmp_path / "out", "--cache", cache)
    assert code == 2 and str(cache) in err and "LLM cache" in err
    assert len(err.strip().splitlines()) == 1
    assert endpoint.requests_seen == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=== system ===\nWrite personas.\n=== example ===\n$chosen\n", "lacks the "
                                                                        "section\\(s\\) "
                                                                        "'=== user ==='"),
        ("=== system ===\ns\n=== user ===\nWrite one.\n=== example ===\n$chosen $rejected\n",
         "never uses \\$examples"),
        ("=== system ===\ns\n=== user ===\n$examples\n=== example ===\n$chosen $flavour\n",
         "uses \\$flavour, which Θ files do not fill in \\(available there: \\$index"),
        # several problems are reported at once, in one line
        ("=== system ===\nCosts $ 5 and $budget.\n=== exmaple ===\n$chosen\n",
         "4 problems: \\(1\\) it lacks the section\\(s\\) '=== user ===', '=== example ==='.*"
         "\\(2\\) '=== exmaple ===' is not a Θ section.*\\(3\\) '=== system ===' has a lone "
         "'\\$' on line 2.*\\(4\\) '=== system ===' uses \\$budget"),
    ],
)
def test_a_broken_persona_instruction_is_refused_before_any_call(
    tmp_path: Path, endpoint: StandInServer, run, text: str, expected: str
) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    theta = tmp_path / "theta.txt"
    theta.write_text(text)
    code, printed, err = run("fit", prefs, "--out", tmp_path / "out",
                             "--persona-instruction", theta)
    assert code == 2
    assert f"error: --persona-instruction {theta}: " in err
    assert len(err.strip().splitlines()) == 1
    import re

    assert re.search(expected, err), err
    assert endpoint.requests_seen == 0


def test_missing_persona_instruction_file(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    code, printed, err = run("fit", prefs, "--smoke", "--out", tmp_path / "o",
                             "--persona-instruction", tmp_path / "nope.txt")
    assert code == 2 and "does not exist" in err


def test_bad_option_values_are_usage_errors(tmp_path: Path, capsys) -> None:
    from persona_judge.cli import main

    for option, value in (("--timeout", "0"), ("--max-retries", "-1"),
                          ("--max-concurrency", "0"), ("--n-candidates", "two"),
                          ("--structured-output", "yaml")):
        with pytest.raises(SystemExit) as info:
            main(["fit", "x.jsonl", option, value])
        assert info.value.code == 2
        assert option in capsys.readouterr().err


def test_no_result_folder_outside_out_even_for_staging(tmp_path: Path, run) -> None:
    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 3))
    out = tmp_path / "out"
    assert run("fit", prefs, "--out", out, "--smoke", *SMALL)[0] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.jsonl", "out"]
    assert sorted(p.name for p in out.iterdir()) == ["me", "users.json"]


# -- working folders a crashed run left behind ------------------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_staging_folders_of_dead_runs_are_cleaned_live_ones_kept(
    tmp_path: Path, run
) -> None:
    prefs = write_jsonl(tmp_path / "two.jsonl", rows("me", 3) + rows("you", 3))
    out = tmp_path / "out"
    assert run("fit", prefs, "--out", out, "--smoke", *SMALL)[0] == 0
    dead_a, dead_b = _dead_pid(), _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [out / f".staging-me-{dead_a}", out / f".staging-you-{dead_b}"]
        for folder in stale:  # a crash (kill -9) while writing: a partial file inside
            folder.mkdir()
            (folder / "artifact.json").write_text('{"format": "persona_judge/synth')
        busy = out / f".staging-me-{live.pid}"  # a run still writing right now
        busy.mkdir()
        (busy / "persona.txt").write_text("being written")
        code, printed, err = run("fit", prefs, "--out", out, "--smoke", "--user", "you",
                                 *SMALL)
        assert code == 0, err
        assert not any(folder.exists() for folder in stale)
        assert (busy / "persona.txt").read_text() == "being written"
        for pid in (dead_a, dead_b):
            assert f"removed .staging-{'me' if pid == dead_a else 'you'}-{pid}/, a " \
                   f"half-written result left by a run that stopped (process {pid})" in printed
        assert sorted(p.name for p in out.iterdir()) == sorted(
            ["me", "you", "users.json", busy.name])
        assert SynthesizeMeArtifact.load(out / "me" / "artifact.json").user_id == "me"
    finally:
        live.kill()
        live.wait()


# -- a fit that learned nothing ----------------------------------------------------------------
PROSE = ("Both replies have their merits, and which one is better depends on what the user "
         "values; I would rather not pick one.")


@pytest.mark.parametrize("seed", [0, 7])
def test_a_fit_that_never_saw_a_readable_verdict_is_not_a_success(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A server answering every request about ben with prose (no JSON mode to enforce a
    verdict): ben's fit learned nothing and is reported so; ana's fit is unaffected."""
    from persona_judge.method.smoke import smoke_responder

    def responder(body: dict) -> str:
        text = "\n".join(str(m.get("content", "")) for m in body["messages"])
        return PROSE if "ben asks" in text else smoke_responder(body)

    prefs = write_jsonl(tmp_path / "two.jsonl", rows("ana", 5) + rows("ben", 5))
    out, cache = tmp_path / "out", tmp_path / "c.sqlite"
    with StandInServer(responder=responder, accept_formats=()) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        code, printed, err = run("fit", prefs, "--out", out, "--cache", cache,
                                 "--seed", seed, *SMALL)
        assert code == 2
        users = output_map(out)
        assert users["ana"]["status"] == "fitted"
        assert users["ben"]["status"] == "failed"
        reason = users["ben"]["reason"]
        assert reason.startswith("learned nothing: none of its ") and "\n" not in reason
        assert "reasoning traces verified" in reason and "gave a readable verdict" in reason
        assert "--structured-output" in reason and "cached" in reason
        assert not (out / "ben").exists()  # no junk persona presented as a fit
        assert SynthesizeMeArtifact.load(out / "ana" / "artifact.json").learned_nothing is None
        assert "1 of 2 user(s) could not be fitted" in err and "'ben': learned nothing" in err
        assert len(err.strip().splitlines()) == 1
        # every finished call stays cached: the same command again sends nothing
        seen = server.requests_seen
        again, _, err_again = run("fit", prefs, "--out", out, "--cache", cache,
                                  "--seed", seed, *SMALL)
        assert again == 2 and server.requests_seen == seen
        assert output_map(out)["ben"]["reason"] == reason


def test_the_learned_nothing_threshold(tmp_path: Path, run) -> None:
    """No verified trace and no readable validation verdict: learned nothing. One verified
    trace, or one readable validation verdict (even a wrong one), is learning something."""
    import dataclasses

    prefs = write_jsonl(tmp_path / "me.jsonl", rows("me", 5) + rows("you", 4))
    assert run("fit", prefs, "--out", tmp_path / "out", "--smoke", *SMALL)[0] == 0
    for user in ("me", "you"):
        art = SynthesizeMeArtifact.load(tmp_path / "out" / user / "artifact.json")
        assert art.learned_nothing is None
        blind = dataclasses.replace(
            art, traces=[dataclasses.replace(t, verified=False, prediction=None)
                         for t in art.traces],
            demo_traces=[dataclasses.replace(t, verified=False) for t in art.demo_traces],
            spend={k: dataclasses.replace(v, no_choice=v.requests) for k, v in art.spend.items()})
        assert blind.learned_nothing is not None
        assert f"none of its {len(art.traces) + len(art.demo_traces)} reasoning traces" \
            in blind.learned_nothing
        one_trace = dataclasses.replace(
            blind, traces=[dataclasses.replace(art.traces[0], verified=True),
                           *blind.traces[1:]])
        assert one_trace.learned_nothing is None
        search = blind.spend["bootstrap search"]
        one_verdict = dataclasses.replace(blind, spend={
            **blind.spend, "bootstrap search": dataclasses.replace(
                search, no_choice=search.requests - 1)})
        assert one_verdict.learned_nothing is None


# -- a server slower than --timeout ------------------------------------------------------------
def _slow_server(seconds: float) -> StandInServer:
    """A stand-in taking ``seconds`` per answer, the tiny preflight at once (a server slow
    on long prompts only); it counts the copies of one request it works on at once."""
    from persona_judge.method.smoke import smoke_responder

    def latency(body: dict[str, Any]) -> float:
        text = json.dumps(body["messages"])
        return 0.0 if "Connectivity check" in text or "Which reply is shorter?" in text \
            else seconds

    return StandInServer(responder=smoke_responder, latency=latency)


def _each_request_sent_once(server: StandInServer) -> bool:
    bodies = Counter(json.dumps(r.body, sort_keys=True) for r in server.requests)
    return set(bodies.values()) == {1}


@pytest.mark.parametrize("users", [("ana",), ("ana", "ben")])
def test_a_slow_server_is_waited_for_one_copy_at_a_time(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch, users: tuple[str, ...]
) -> None:
    server = _slow_server(1.0)
    prefs = write_jsonl(tmp_path / "p.jsonl", [r for u in users for r in rows(u, 3)])
    with server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        code, printed, err = run("fit", prefs, "--out", tmp_path / "out", "--cache",
                                 tmp_path / "c.sqlite", "--timeout", "0.4", *SMALL)
    assert code == 0, err
    assert {u: e["status"] for u, e in output_map(tmp_path / "out").items()} == \
        dict.fromkeys(users, "fitted")
    assert server.max_copies_in_flight == 1 and _each_request_sent_once(server)
    assert "answers slower than timeout=0.4 s" in printed and "never sent twice" in printed


def test_a_server_slower_than_the_timeout_allows_names_the_setting(
    tmp_path: Path, run, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _slow_server(3.0)
    prefs = write_jsonl(tmp_path / "p.jsonl", rows("ana", 4) + rows("ben", 4))
    with server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        code, printed, err = run("fit", prefs, "--out", tmp_path / "out", "--cache",
                                 tmp_path / "c.sqlite", "--timeout", "0.5",
                                 "--max-timeout-retries", "1", *SMALL)
    assert code == 2
    assert "--timeout" in err and "llm_settings.timeout" in err and "now 0.5 s" in err
    assert "no answer within 1.5 s" in err
    assert len(err.strip().splitlines()) == 1
    assert server.max_copies_in_flight == 1 and _each_request_sent_once(server)
    assert result_files(tmp_path / "out") == []
