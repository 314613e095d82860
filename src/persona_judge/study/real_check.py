"""``make real-check``: the study driven by a real model on this machine, not by the stand-in.

Every test talks to :mod:`persona_judge.llm.standin`, which answers what we expect. This
check starts llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct
(:mod:`persona_judge.llm.local_server`; built once from PyPI, cached) on 127.0.0.1 and
drives the real code paths against it:

1. the client's preflight and structured-output probe, then a handful of judge calls;
2. ``persona-judge fit examples/my_preferences.jsonl`` (small n and m), killed with
   SIGKILL once some calls are cached, then rerun to the end, then rerun warm;
3. one smoke-sized setting of chapter 05 through the runner in ``mode=local`` (fixture
   data, the real model), with ``LLM_BASE_URL`` pointing at the server.

It asserts what any real model must give, never accuracy (a 135M model is mostly
noise): verdicts requested with a schema parse, or the share that did not is reported
and stays under a bound; calls and tokens are counted by the client as the server
counted them, and cached; a resumed fit sends no finished call again; a warm rerun sends
nothing (the server's token counters do not move); the pages say "LOCAL MODEL CHECK",
never a smoke run or a result; the server process is gone afterwards. It reports the
server's prompt and generation speed and the wall times. Exit status: 0 passed, 1 a
property failed, 3 this machine cannot run the check (no compiler or cmake, no PyPI).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona_judge import paths
from persona_judge.llm import local_server as ls

MODEL = "SmolLM2-135M-Instruct"
EXIT_FAILED, EXIT_UNAVAILABLE = 1, 3
# Under a JSON-schema grammar every answer that *finishes* parses; a 135M model still
# rambles in "reasoning" until max_tokens now and then (measured: 7 % of the fit's, 16 % of
# chapter 05's answers, all cut at max_tokens). More than this share means the path broke.
MAX_UNPARSED_SHARE = 0.4
TIMEOUT = 900  # seconds per answer: two cores shared with other work can be very slow
PROBE_PAIRS = (
    ("Name a fruit.", "Apple.", "I cannot answer that."),
    ("What is 2 + 2?", "4", "Twenty-two, probably."),
    ("Say hello in French.", "Bonjour!", "Hello."),
    ("Is water wet?", "Yes: it wets what it touches.", "Banana."),
)
SUMMARY = re.compile(
    r"(?P<calls>\d+) calls(?: \(\+(?P<preflight>\d+) preflight\))?, (?P<hits>\d+) cache hits, "
    r"(?P<failures>\d+) failures, (?P<fallbacks>\d+) fallbacks, (?P<unparseable>\d+) "
    r"unparseable answers.*?tokens (?P<prompt>[\d,]+) prompt \+ (?P<completion>[\d,]+) "
    r"completion")


class CheckFailed(AssertionError):
    """A property the check asserts does not hold."""


@dataclass
class Report:
    """What the check measured and which properties held (written as JSON)."""

    facts: dict[str, Any] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, detail: str = "") -> None:
        if not ok:
            raise CheckFailed(f"{what}: {detail}" if detail else what)
        self.passed.append(what)
        print(f"  ok: {what}" + (f" ({detail})" if detail else ""), flush=True)


def parse_summary(output: str) -> dict[str, int]:
    """The counters of the client's last summary line in a command's output."""
    found = list(SUMMARY.finditer(output))
    if not found:
        raise CheckFailed(f"no client summary in the output:\n{output[-2000:]}")
    return {k: int((v or "0").replace(",", "")) for k, v in found[-1].groupdict().items()}


def cache_rows(cache: Path) -> int:
    """Answers stored in a cache file (0 if it does not exist yet)."""
    if not cache.exists():
        return 0
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=30) as db:
        return int(db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])


def schema_verdicts(cache: Path) -> tuple[int, int, int]:
    """Schema-requested judge answers in the cache: (asked, parsed, finished yet unparsed).

    "Finished" is ``finish_reason == "stop"``: the model ended the answer itself, so a
    grammar-constrained answer must parse; one cut at ``max_tokens`` need not.
    """
    from persona_judge.llm import parse_judgment

    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=30) as db:
        rows = db.execute("SELECT request_json, text, finish_reason FROM completions").fetchall()
    asked = parsed = broken = 0
    for request_json, text, finish_reason in rows:
        if "response_format" not in json.loads(request_json).get("params", {}):
            continue  # free text (a persona, a trace): no schema was asked for
        asked += 1
        ok = parse_judgment(text).choice is not None
        parsed += ok
        broken += (not ok) and finish_reason == "stop"
    return asked, parsed, broken


def check_verdicts(cache: Path, what: str, report: Report) -> None:
    """Every finished schema answer parses; the share that did not parse is bounded."""
    asked, parsed, broken = schema_verdicts(cache)
    share = 1 - parsed / asked if asked else 1.0
    report.facts[f"{what}_schema_verdicts"] = {"asked": asked, "parsed": parsed,
                                               "finished_unparsed": broken,
                                               "unparsed_share": round(share, 3)}
    report.check(asked > 0 and broken == 0,
                 f"{what}: every schema-requested answer the model finished parses",
                 f"{asked} asked, {broken} finished but unparseable")
    report.check(share <= MAX_UNPARSED_SHARE,
                 f"{what}: schema-requested answers that did not parse <= "
                 f"{MAX_UNPARSED_SHARE:.0%}", f"{asked - parsed} of {asked} ({share:.1%}), "
                 "cut at max_tokens")


def _env(server: ls.LlamaServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TOGETHER_API_KEY", "LLM_API_KEY", "TOGETHER_BASE_URL")}
    env["LLM_BASE_URL"] = server.url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _persona_judge() -> list[str]:
    return [sys.executable, "-m", "persona_judge.cli"]


def fit_command(out: Path, cache: Path) -> list[str]:
    return [*_persona_judge(), "fit", str(paths.project_root() / "examples" /
                                          "my_preferences.jsonl"),
            "--out", str(out), "--cache", str(cache), "--model", MODEL,
            "--n-candidates", "2", "--m-candidates", "2", "--seed", "0",
            # our variant: JSON verdicts under a schema and our Θ (the public variant's
            # released Θ program is fetched from the network, which CI does not reach)
            "--variant", "ours",
            "--timeout", str(TIMEOUT), "--max-retries", "2", "--max-concurrency", "2"]


def run_fit(cmd: Sequence[str], env: dict[str, str], log: Path) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr)
    return done.returncode, done.stdout + done.stderr, seconds


def kill_fit_midway(cmd: Sequence[str], env: dict[str, str], cache: Path, log: Path,
                    after_rows: int, limit: float) -> int:
    """Start a fit, SIGKILL it once ``after_rows`` answers are cached; return the PID."""
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + limit
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if cache_rows(cache) >= after_rows:
                    break
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    if proc.returncode != -signal.SIGKILL:
        raise CheckFailed(f"the fit ended (status {proc.returncode}) before it could be "
                          f"killed with {after_rows} answers cached; see {log}")
    return proc.pid


def step_probe(server: ls.LlamaServer, work: Path, report: Report) -> None:
    """Preflight, structured-output probe, and a few schema-requested verdicts."""
    from persona_judge.llm import ChatRequest, client_from_env

    print("\n[1/4] preflight and structured-output probe", flush=True)
    before = server.metrics()
    cache = work / "probe.sqlite"
    cache.unlink(missing_ok=True)
    with client_from_env(MODEL, cache_path=cache, base_url=server.url,
                         backend="openai-compatible", keyless=True, timeout=TIMEOUT,
                         preflight_timeout=TIMEOUT, max_concurrency=2, progress=False) as client:
        form = client.structured_output
        report.facts["structured_output"] = form
        report.facts["probe_detail"] = client.capability_detail
        report.check(form in ("json_schema", "json_object"),
                     "llama-server accepts a structured-output form", client.capability_detail)
        requests = [ChatRequest(
            [{"role": "system", "content": "You judge which of two replies is better."},
             {"role": "user", "content": f"Question: {q}\nReply A: {a}\nReply B: {b}\n"
              'Answer with JSON: {"reasoning": "<one sentence>", "preferred": "A" or "B"}'}],
            "real-check-probe@1", temperature=0.0, max_tokens=128,
            labels={"step": "real-check"}) for q, a, b in PROBE_PAIRS]
        judgments = client.judge_many(requests)
        stats = client.stats.to_dict()
    after = server.metrics()
    chosen = sum(j.choice is not None for j in judgments)
    report.facts["probe_verdicts"] = {"asked": len(judgments), "chosen": chosen,
                                      "samples": sum(j.attempts for j in judgments)}
    report.check(all(j.structured_output == form for j in judgments),
                 "every verdict was requested in the probed form", form)
    report.check(chosen >= len(judgments) * (1 - MAX_UNPARSED_SHARE),
                 f"verdicts with a choice >= {1 - MAX_UNPARSED_SHARE:.0%}",
                 f"{chosen} of {len(judgments)}")
    predicted = after.get("tokens_predicted_total", 0) - before.get("tokens_predicted_total", 0)
    report.facts["probe_tokens"] = {"client_completion": stats["completion_tokens"],
                                    "server_predicted": predicted}
    report.check(stats["prompt_tokens"] > 0 and stats["completion_tokens"] == predicted > 0,
                 "the client counted the tokens the server generated",
                 f"{stats['prompt_tokens']} prompt + {stats['completion_tokens']} completion; "
                 f"server predicted {predicted:.0f}")
    report.check(cache_rows(cache) == stats["calls"],
                 "every call sent was cached (preflight calls are not)",
                 f"{stats['calls']} calls, {cache_rows(cache)} cached")


def step_fit(server: ls.LlamaServer, work: Path, report: Report) -> None:
    """Fit killed midway, resumed, then rerun warm; the server counts what arrives."""
    print("\n[2/4] persona-judge fit: kill, resume, warm rerun", flush=True)
    env = _env(server)
    cache, out = work / "fit.sqlite", work / "fit-out"
    cache.unlink(missing_ok=True)
    cmd = fit_command(out, cache)
    pid = kill_fit_midway(cmd, env, cache, work / "fit-killed.log", after_rows=3,
                          limit=TIMEOUT * 2)
    killed_rows = cache_rows(cache)
    report.facts["fit_killed"] = {"pid": pid, "answers_cached_at_kill": killed_rows}
    report.check(killed_rows >= 3, "the killed fit left its finished calls in the cache",
                 f"{killed_rows} answers")

    status, output, seconds = run_fit(cmd, env, work / "fit-resumed.log")
    report.check(status == 0, "the resumed fit finished (exit 0)",
                 f"status {status}; see {work / 'fit-resumed.log'}")
    resumed = parse_summary(output)
    rows = cache_rows(cache)
    report.facts["fit_resumed"] = {**resumed, "wall_seconds": round(seconds, 1),
                                   "answers_cached": rows}
    report.check(resumed["calls"] == rows - killed_rows,
                 "the resumed fit sent only calls the killed one had not finished",
                 f"{resumed['calls']} sent = {rows} cached - {killed_rows} before")
    report.check(resumed["hits"] >= killed_rows,
                 "the resumed fit took the killed fit's answers from the cache",
                 f"{resumed['hits']} hits >= {killed_rows}")
    artifacts = list(out.glob("*/artifact.json"))
    report.check(len(artifacts) >= 1 and all((a.parent / "persona.txt").is_file()
                                             for a in artifacts),
                 "the fit wrote each user's artifact and persona", f"{len(artifacts)} user(s)")
    check_verdicts(cache, "fit", report)

    before = server.metrics()
    status, output, seconds = run_fit(cmd, env, work / "fit-warm.log")
    after = server.metrics()
    warm = parse_summary(output)
    report.facts["fit_warm"] = {**warm, "wall_seconds": round(seconds, 1)}
    report.check(status == 0 and warm["calls"] == 0 and warm["preflight"] == 0
                 and warm["hits"] > 0, "a warm rerun sends no call, not even a preflight",
                 f"{warm['calls']} calls, {warm['preflight']} preflight, {warm['hits']} hits")
    moved = {k: after.get(k, 0) - before.get(k, 0)
             for k in ("prompt_tokens_total", "tokens_predicted_total")}
    report.check(all(v == 0 for v in moved.values()),
                 "the server saw nothing during the warm rerun", str(moved))


def step_chapter(server: ls.LlamaServer, work: Path, report: Report) -> None:
    """One smoke-sized setting of chapter 05 in local mode through the runner."""
    print("\n[3/4] chapter 05, one setting, mode=local, through the runner", flush=True)
    env = _env(server)
    site = work / "site"
    # a fresh data folder (its cache included) and site: a second check on this machine must
    # send the chapter's calls again, or it would count nothing but cache hits
    for folder in (work / "data", site):
        shutil.rmtree(folder, ignore_errors=True)
    settings = json.dumps({"timeout": TIMEOUT, "max_retries": 2, "max_concurrency": 2,
                           "structured_output": "auto"})
    env["PERSONA_JUDGE_DATA"] = str(work / "data")
    cmd = [*_persona_judge(), "run", "--only", "05_main_results", "--site", str(site),
           "--no-book", "-p", "mode=local", "-p", "dataset=chatbot_arena",
           "-p", f"model={MODEL}", "-p", "variant=ours", "-p", "smoke_max_users=2",
           "-p", "n_candidates=2", "-p", "m_candidates=2", "-p", "n_resamples=200",
           "-p", "max_workers=1",
           "-p", f"llm_settings={settings}"]
    status, output, seconds = run_fit(cmd, env, work / "chapter05.log")
    report.facts["chapter05_wall_seconds"] = round(seconds, 1)
    report.check(status == 0, "chapter 05 ran in local mode against the real server",
                 f"status {status}; see {work / 'chapter05.log'}")
    check_chapter_pages(site, work, report)


def check_chapter_pages(site: Path, work: Path, report: Report) -> None:
    """The chapter's page, the book's status and the cache of a local-mode run."""
    pages = sorted((site / "book" / "executed" / "05_main_results").glob("*.ipynb"))
    report.check(len(pages) == 1, "the runner wrote one page for the setting", str(pages))
    text = pages[0].read_text(encoding="utf-8")
    status_md = (site / "book" / "generated" / "run_status.md").read_text(encoding="utf-8")
    from persona_judge.study.book import announcement

    bar = announcement({"mode": "local", "model": MODEL})
    report.check("LOCAL MODEL CHECK" in text and "SMOKE RUN" not in text,
                 "the page labels its numbers as a local model check, not as a smoke run")
    report.check("LOCAL MODEL CHECK" in status_md and "real run" not in status_md.lower()
                 and "LOCAL MODEL CHECK" in bar,
                 "the book's status and announcement bar say local model check")
    summary = parse_summary(text.replace("\\n", "\n"))
    report.facts["chapter05_client"] = summary
    report.check(summary["calls"] > 0 and summary["prompt"] > 0 and summary["completion"] > 0,
                 "the chapter's client counted calls and tokens",
                 f"{summary['calls']} calls, {summary['prompt']}+{summary['completion']} tokens")
    cache = work / "data" / "cache" / "llm-local.sqlite"
    report.check(cache_rows(cache) > 0, "the chapter's answers are in the local-mode cache",
                 f"{cache_rows(cache)} answers in {cache.name}")
    check_verdicts(cache, "chapter 05", report)


def speeds(server: ls.LlamaServer, report: Report) -> None:
    """The server's own prompt and generation throughput over the whole check (per slot)."""
    m = server.metrics()

    def rate(tokens: str, seconds: str) -> float | None:
        return round(m[tokens] / m[seconds], 1) if m.get(seconds) else None

    report.facts["server"] = {
        "prompt_tokens_per_second": rate("prompt_tokens_total", "prompt_seconds_total"),
        "generation_tokens_per_second": rate("tokens_predicted_total",
                                             "tokens_predicted_seconds_total"),
        "prompt_tokens_total": m.get("prompt_tokens_total"),
        "prompt_tokens_cached_total": m.get("prompt_tokens_cached_total"),
        "tokens_predicted_total": m.get("tokens_predicted_total"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m persona_judge.study.real_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=None,
                        help="folder for logs, caches and pages (default: data/real-check)")
    parser.add_argument("--can-run", action="store_true",
                        help="only say whether this machine can run the check (exit 0 or 3)")
    parser.add_argument("--skip", action="append", default=[], choices=("fit", "chapter"),
                        help="leave out a step (for a quicker look)")
    args = parser.parse_args(argv)
    missing, binary = ls.build_prerequisites(), ls.server_binary_path()
    if missing and not binary.is_file():  # before any download
        print(f"REAL CHECK NOT RUN: cannot build llama-server here: {', '.join(missing)} not "
              "found (apt-get install cmake g++).")
        return EXIT_UNAVAILABLE
    if args.can_run:
        print("real-check can run here" + (f" (cached server {binary})" if binary.is_file()
                                           else " (the server will be built first)"))
        return 0
    work = Path(args.work) if args.work else paths.data_dir() / "real-check"
    work.mkdir(parents=True, exist_ok=True)
    report = Report()
    started = time.monotonic()
    try:
        model = ls.ensure_model()
        built = time.monotonic()
        binary = ls.ensure_server_binary()
        report.facts["build"] = ls.build_record()
        report.facts["build_or_reuse_seconds"] = round(time.monotonic() - built, 1)
    except ls.RealCheckUnavailable as err:
        print(f"REAL CHECK NOT RUN: {err}")
        return EXIT_UNAVAILABLE
    # One thread: on 2 cores shared with the check's own Python (and, on a developer's
    # machine, with others' work) two threads spin at ggml's barriers; measured here,
    # generation fell from 68 to under 4 tokens/s under load.
    server = ls.LlamaServer(binary, model, log_path=work / "llama-server.log", threads=1,
                            ctx_size=16384, parallel=2, alias=MODEL)
    failure: BaseException | None = None
    try:
        server.start()
        report.facts["server_pid"] = server.pid
        print(f"llama-server {report.facts['build'].get('version')} (PID {server.pid}) serving "
              f"{model.name} at {server.url}", flush=True)
        step_probe(server, work, report)
        if "fit" not in args.skip:
            step_fit(server, work, report)
        if "chapter" not in args.skip:
            step_chapter(server, work, report)
    except (CheckFailed, ls.LocalServerError) as err:
        failure = err
    finally:
        if "server_pid" in report.facts and server.process.poll() is None:
            try:
                speeds(server, report)
            except OSError as err:  # the speeds are a report, not a property
                print(f"could not read the server's metrics: {err}")
        print("\n[4/4] stopping llama-server by its PID", flush=True)
        how = server.stop()
        report.facts["server_stopped_by"] = how
    try:
        if "server_pid" in report.facts:
            report.check(not ls.pid_alive(report.facts["server_pid"]),
                         "the server process is gone", f"PID {report.facts['server_pid']}, {how}")
    except CheckFailed as err:
        failure = failure or err
    report.facts["check_seconds"] = round(time.monotonic() - started, 1)
    out = work / "real-check.json"
    out.write_text(json.dumps({"passed": report.passed, "failed": str(failure or ""),
                               **report.facts}, indent=2, default=str) + "\n")
    server_facts = report.facts.get("server", {})
    print(f"\nserver: prompt {server_facts.get('prompt_tokens_per_second')} tok/s, generation "
          f"{server_facts.get('generation_tokens_per_second')} tok/s; fit (resumed part) "
          f"{report.facts.get('fit_resumed', {}).get('wall_seconds')} s; check "
          f"{report.facts['check_seconds']} s; build "
          f"{report.facts.get('build', {}).get('build_seconds')} s. Report: {out}")
    if failure is not None:
        print(f"REAL CHECK FAILED: {failure}")
        print(f"{len(report.passed)} passed, 1 failed")
        return EXIT_FAILED
    print(f"{len(report.passed)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
