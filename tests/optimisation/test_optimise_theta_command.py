"""``persona-judge optimise-theta``: end to end in smoke mode and against a real HTTP server;
the written Θ is accepted by ``fit --persona-instruction``; bad input exits 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from theta_helpers import GOOD, ThetaScript

from persona_judge.cli import check_persona_instruction, main
from persona_judge.llm.standin import StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.optimisation.theta_search import TIPS

SMALL = ["--n-candidates", "2", "--max-candidates", "3", "--rounds", "2"]


def prefs(tmp_path: Path, users: dict[str, int]) -> Path:
    rows = []
    for name, n in users.items():
        for i in range(n):
            rows.append({"user_id": name, "prompt": f"{name} asks question {i}?",
                         "chosen": f"Reply {i} that {name} chose. [chosen]",
                         "rejected": f"A longer reply {i} that {name} passed over."})
    path = tmp_path / "prefs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_smoke_search_writes_a_theta_the_fit_accepts(tmp_path: Path, capsys) -> None:
    file = prefs(tmp_path, {"ana": 7, "ben": 8, "cy": 6})
    out = tmp_path / "theta.txt"
    assert main(["optimise-theta", str(file), "--out", str(out), "--smoke", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "dry run (nothing sent)" in printed and "SMOKE RUN" in printed
    assert printed.index("dry run") < printed.index("LLM run")  # the estimate comes first
    search = json.loads((tmp_path / "theta_search" / "search.json").read_text())
    assert len(search["candidates"]) == 1 + 3 and search["train_users"] == ["ana", "ben", "cy"]
    assert any("SMOKE RUN" in n for n in search["notes"])
    best = search["candidates"][search["best"]]
    assert out.read_text().split("=== user ===")[0].strip() == \
        "=== system ===\n" + best["instruction"]
    assert check_persona_instruction(str(out))
    fitted = tmp_path / "fitted"
    assert main(["fit", str(file), "--out", str(fitted), "--smoke", "--user", "ana",
                 "--n-candidates", "2", "--m-candidates", "2",
                 "--persona-instruction", str(out)]) == 0
    art = SynthesizeMeArtifact.load(fitted / "ana" / "artifact.json")
    assert art.settings["persona_instruction"] == str(out)


def test_against_a_server_the_better_instruction_is_written(tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    with StandInServer(responder=ThetaScript({TIPS[1]: GOOD})) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        out = tmp_path / "mine.txt"
        code = main(["optimise-theta", str(prefs(tmp_path, {"ana": 7, "ben": 8})),
                     "--out", str(out), "--model", "stand-in", "--cache",
                     str(tmp_path / "c.sqlite"), "--max-concurrency", "2", *SMALL])
        assert code == 0, capsys.readouterr().err
        sent = server.requests_seen
        assert "=== system ===\n" + GOOD in out.read_text()
        # the same command again: everything from the cache
        assert main(["optimise-theta", str(prefs(tmp_path, {"ana": 7, "ben": 8})),
                     "--out", str(out), "--model", "stand-in", "--cache",
                     str(tmp_path / "c.sqlite"), *SMALL]) == 0
        assert server.requests_seen == sent  # nothing sent again (not even a preflight)
    rows = (tmp_path / "mine_search" / "candidates.csv").read_text().splitlines()
    assert len(rows) == 1 + 1 + 3


def test_estimate_only_sends_nothing_and_writes_nothing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "theta.txt"
    assert main(["optimise-theta", str(prefs(tmp_path, {"ana": 7, "ben": 7})), "--out",
                 str(out), "--smoke", "--estimate-only", *SMALL]) == 0
    assert "dry run (nothing sent)" in capsys.readouterr().out
    assert not out.exists() and not (tmp_path / "theta_search").exists()


@pytest.mark.parametrize(("users", "args", "message"), [
    ({"ana": 1, "ben": 1}, [], "none of its 2 user(s) has both 'train' and 'val' rows"),
    ({"ana": 7}, ["--out", "{tmp}"], "is a folder"),
    ({"ana": 7}, ["--out", "{tmp}/theta.json"], "must end in .txt"),
    ({"ana": 7}, ["--start-from", "nope.txt"], "--start-from nope.txt: Prompt template file"),
    ({"ana": 7}, ["--max-calls", "5"], "above max_calls=5"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys, users, args, message) -> None:
    file = prefs(tmp_path, users)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "theta.txt")]
    assert main(["optimise-theta", str(file), "--smoke", *SMALL, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
