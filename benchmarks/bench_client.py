"""Throughput of the LLM client against the local stand-in server (a benchmark, not a test).

For each concurrency limit, N judge calls go through the real ``together`` SDK
to :class:`~persona_judge.llm.standin.StandInServer`, which adds a fixed
latency to every answer (standing in for generation time).  With latency L and
limit C the ideal rate is C / L calls per second (and N calls take
ceil(N / C) * L seconds, plus one L for the client's preflight, which also probes
structured output, before the first call); the table shows how close the client
gets, the most requests the server saw in flight, and the time of a warm-cache
rerun (which must make no request at all, not even a preflight).

    .venv/bin/python benchmarks/bench_client.py [--calls 64] [--latency 0.3]
        [--limits 1 4 16 32]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

from persona_judge.llm import ChatRequest, client_from_env
from persona_judge.llm.standin import StandInServer

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def judge_requests(n: int) -> list[ChatRequest]:
    return [
        ChatRequest(
            messages=[
                {"role": "system", "content": "Decide which response this user preferred."},
                {
                    "role": "user",
                    "content": f"Conversation {i}.\nResponse A: ...\nResponse B: ...\n"
                    'Answer as JSON: {"reasoning": ..., "preferred": "A" or "B"}',
                },
            ],
            template="bench_judge@1",
            max_tokens=256,
            labels={"pair": f"bench/{i}"},
        )
        for i in range(n)
    ]


def run(calls: int, latency: float, limits: list[int]) -> None:
    requests = judge_requests(calls)
    print(
        f"{calls} judge calls per run, stand-in latency {latency * 1000:.0f} ms, "
        f"together SDK over HTTP to 127.0.0.1, {os.cpu_count()} CPU cores\n"
    )
    header = (
        f"{'limit':>5}  {'cold s':>7}  {'ideal s':>7}  {'calls/s':>8}  {'ideal/s':>8}  "
        f"{'% ideal':>7}  {'in flight':>9}  {'warm s':>7}  {'warm reqs':>9}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp, StandInServer(latency=latency) as server:
        os.environ["LLM_BASE_URL"] = server.url
        for limit in limits:
            cache = Path(tmp) / f"cache-{limit}.sqlite"
            server.reset_counters()
            with client_from_env(
                MODEL, cache_path=cache, max_concurrency=limit, progress=False
            ) as client:
                started = time.perf_counter()
                judgments = client.judge_many(requests)
                cold = time.perf_counter() - started
            assert all(j.choice for j in judgments), "the stand-in always answers A or B"
            in_flight = server.max_in_flight
            server.reset_counters()
            with client_from_env(
                MODEL, cache_path=cache, max_concurrency=limit, progress=False
            ) as client:
                started = time.perf_counter()
                client.judge_many(requests)
                warm = time.perf_counter() - started
            ideal_time = (math.ceil(calls / limit) + 1) * latency  # + the preflight
            rate, ideal_rate = calls / cold, limit / latency
            print(
                f"{limit:>5}  {cold:>7.2f}  {ideal_time:>7.2f}  {rate:>8.1f}  {ideal_rate:>8.1f}  "
                f"{100 * ideal_time / cold:>6.0f}%  {in_flight:>9}  {warm:>7.3f}  "
                f"{server.requests_seen:>9}"
            )
    print(
        "\n% ideal = ideal time / measured time (a limit above the number of calls cannot "
        "reach limit/latency calls/s; ideal time accounts for that, and for the one "
        "preflight request before the first call)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--limits", type=int, nargs="+", default=[1, 4, 16, 32])
    args = parser.parse_args()
    run(args.calls, args.latency, args.limits)


if __name__ == "__main__":
    main()
