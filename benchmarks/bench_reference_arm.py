"""Our SynthesizeMe beside the authors' code on one synthetic user (a benchmark, not a test).

Both implementations fit the same user (7 train, 3 validation, 6 test pairs with
realistic-length texts) against the same local stand-in server (the smoke responder,
which answers our prompts and DSPy's chat format alike), each through the study's cached
client on its own cache file, then judge the 6 test pairs in both orders. Printed per
implementation and stage: requests that reached the server, cache hits, prompt and
completion tokens (the stand-in's estimate, characters / 4, of the real prompts; its
answers are short, so completion tokens are not a model's), the largest single prompt,
wall time; then a warm rerun, which must send nothing. Ours runs with the chapter's
defaults (``faithful``, n = m = 10, our Θ); the official code with the package's defaults
(n = 10, its released 70B persona program, ``max_tokens`` 8192).

    .venv/bin/python benchmarks/bench_reference_arm.py [--latency 0.0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.evaluation.predict import evaluate, fit_users
from persona_judge.llm import client_from_env
from persona_judge.llm.standin import StandInServer
from persona_judge.method.smoke import smoke_responder
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig
from persona_judge.reference.method import OfficialCodeMethod

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
TOPICS = ("sourdough starter", "a first marathon", "learning Rust", "a balcony garden",
          "negotiating rent", "a budget trip to Lisbon", "fixing a slow laptop",
          "a toddler's bedtime", "a cover letter", "home espresso", "a job interview",
          "a small wedding", "houseplants in winter", "a chess opening", "saving for a car",
          "a dinner party menu")


def _pref(i: int, split: str) -> Preference:
    topic = TOPICS[i]
    short = f"Start small with {topic}: pick one step today and repeat it for a week."
    long = (f"There are many ways to approach {topic}. First, consider your goals and "
            "constraints, then read widely, compare options, make a detailed plan with "
            "milestones, and review it often. " * 3)
    # this user prefers the short, direct reply, except for every fourth pair
    chosen, rejected = (long, short) if i % 4 == 3 else (short, long)
    return Preference("bench-user", f"conv-{i}", (Turn("user", f"How should I handle {topic}?"),),
                      Turn("assistant", chosen), Turn("assistant", rejected), split,
                      flip=bool(i % 2))


def bench_user() -> UserSplit:
    return UserSplit("bench-user", tuple(_pref(i, "train") for i in range(7)),
                     tuple(_pref(i, "val") for i in range(7, 10)),
                     tuple(_pref(i, "test") for i in range(10, 16)))


def _tokens(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4


def run(name: str, method: Any, server: StandInServer, cache: Path) -> dict[str, Any]:
    user = bench_user()
    out: dict[str, Any] = {"implementation": name}
    for attempt in ("cold", "warm"):
        client = client_from_env(MODEL, cache_path=cache, base_url=server.url, progress=False,
                                 preflight=False, structured_output="off")
        seen = len(server.requests)
        start = time.perf_counter()
        states = fit_users(method, [user], client, max_workers=1, progress=False)
        fit = client.stats.to_dict()
        fit_s = time.perf_counter() - start
        fit_seen = len(server.requests)
        records = evaluate(method, [user], client, states)
        total = client.stats.to_dict()
        bodies = [r.body for r in server.requests[seen:]]
        client.close()
        if attempt == "warm":
            out["warm rerun requests"] = len(server.requests) - seen
            continue
        out.update({
            "fit requests": fit_seen - seen, "fit cache hits": fit["cache_hits"],
            "fit prompt tokens": fit["prompt_tokens"],
            "fit completion tokens": fit["completion_tokens"], "fit seconds": round(fit_s, 2),
            "test requests": len(server.requests) - fit_seen,
            "test prompt tokens": total["prompt_tokens"] - fit["prompt_tokens"],
            "largest prompt (tokens)": max(map(_tokens, bodies)) if bodies else 0,
            "accuracy (smoke)": round(sum(r.correct for r in records) / len(records), 3)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            StandInServer(responder=smoke_responder, latency=args.latency) as server:
        rows = [run("ours (faithful)", SynthesizeMe(SynthesizeMeConfig()), server,
                    Path(tmp) / "ours.sqlite"),
                run("official code", OfficialCodeMethod(), server, Path(tmp) / "official.sqlite")]
    print("SMOKE STAND-IN (scripted, not a model): calls and token sizes, not results.")
    keys = list(rows[0])
    width = max(map(len, keys))
    for key in keys[1:]:
        print(f"{key:<{width}}  " + "  ".join(f"{str(r[key]):>16}" for r in rows))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
