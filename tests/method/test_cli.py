"""The persona-judge command: fit on a person's own preferences file, estimate a study's cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted import PERSONA_TEXT

from persona_judge.cli import build_parser, main
from persona_judge.llm.standin import StandInServer
from persona_judge.method.artifact import SynthesizeMeArtifact


def prefs_file(tmp_path: Path, n: int = 10) -> Path:
    rows = [{"prompt": f"Question {i}: how should I start?",
             "chosen": f"Start small with step {i}. [right]" if i % 3 else f"Short {i}.",
             "rejected": f"A much longer and more elaborate answer number {i}." +
                         ("" if i % 3 else " [right]")} for i in range(n)]
    path = tmp_path / "me.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_fit_smoke_writes_persona_and_prompts(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["fit", str(prefs_file(tmp_path)), "--out", str(out), "--smoke"]) == 0
    folder = out / "me"
    art = SynthesizeMeArtifact.load(folder / "artifact.json")
    assert art.label.startswith("SMOKE RUN") and len(art.traces) == 7  # 10 rows: 7 train, 3 val
    assert art.settings["n_val"] == 3
    for name in ("persona.txt", "judge_prompt.txt", "generation_prompt.txt"):
        assert (folder / name).read_text().startswith("SMOKE RUN")
    assert "## First reply" in (folder / "judge_prompt.txt").read_text()
    printed = capsys.readouterr().out
    assert "verified traces" in printed and "LLM run" in printed


def test_fit_real_path_against_a_server(tmp_path: Path, monkeypatch, server: StandInServer,
                                        ) -> None:
    monkeypatch.setenv("LLM_BASE_URL", server.url)
    out = tmp_path / "out"
    code = main(["fit", str(prefs_file(tmp_path)), "--out", str(out), "--model", "stand-in-judge",
                 "--cache", str(tmp_path / "c.sqlite"), "--n-candidates", "3",
                 "--m-candidates", "3", "--variant", "ours"])  # the scripted judge reads JSON
    assert code == 0
    art = SynthesizeMeArtifact.load(out / "me" / "artifact.json")
    assert art.persona == PERSONA_TEXT and art.label == "" and art.model == "stand-in-judge"
    # faithful step 1: labels only + full set + the 3 random candidates asked for
    assert len(art.bootstrap_candidates) == 3 + 2
    # every request the server saw is the fit's, plus the client's one preflight; the
    # demos-only search repeats step 1's requests (cache hits) besides its "no demos" one
    only = art.spend["demos-only search"]
    assert server.requests_seen == art.total_spend.requests - only.requests + 3 + 1
    # the scripted judge follows [right]: exactly the pairs whose chosen reply has it verify
    verified = {t.pair_id for t in art.verified_traces}
    assert verified and verified != {t.pair_id for t in art.traces}


def test_fit_errors_are_one_line_messages(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "y"}\nnot json\n')
    assert main(["fit", str(bad), "--smoke"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["fit", str(prefs_file(tmp_path)), "--out", str(tmp_path / "o")]) == 2
    assert "TOGETHER_API_KEY" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "missing.jsonl"), "--smoke"]) == 2


def test_estimate_dry_runs_without_sending(capsys) -> None:
    assert main(["estimate", "-p", "mode=smoke", "-p", "max_users=2", "-p", "n_candidates=2",
                 "-p", "m_candidates=2", "--completion-tokens", "200"]) == 0
    out = capsys.readouterr().out
    assert "fit SynthesizeMe (persona + demos)" in out and "evaluate default judge" in out
    assert "total" in out and "$" in out and "nothing was sent" in out


def test_parser_lists_subcommands() -> None:
    text = build_parser().format_help()
    for name in ("fit", "estimate", "run"):
        assert name in text
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fit"])
