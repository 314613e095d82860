"""A batch of judge calls run in a separate process, so a test can SIGKILL it mid-batch.

Usage: python llm_worker.py <cache_path> <n_requests> <max_concurrency>
(the endpoint comes from LLM_BASE_URL, as in real runs).
"""

from __future__ import annotations

import sys

from llm_helpers import FAST, MODEL, judge_request

from persona_judge.llm import client_from_env


def main() -> None:
    cache_path, n, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    options = {**FAST, "max_concurrency": concurrency, "timeout": 30.0}
    with client_from_env(MODEL, cache_path=cache_path, **options) as client:
        print("ready", flush=True)
        client.judge_many([judge_request(i) for i in range(n)])
        print(client.summary(), flush=True)


if __name__ == "__main__":
    main()
