"""Calls, tokens and time of fitting and evaluating SynthesizeMe (a benchmark, not a test).

Everything runs against :class:`~persona_judge.llm.standin.StandInServer`, through
the real ``together`` SDK and the study's cached client; the server counts the
requests that reach it. Token counts are the stand-in's estimate (characters / 4)
of the method's real prompts, so prompt tokens are realistic in size; completion
tokens reflect the stand-in's short answers, not a model's reasoning.

1. **Budget, worst case**: one user with 7 train, 3 val and 6 test pairs, n = m = 10,
   a scripted judge under which every training trace verifies and no candidate can
   reach the early stop on validation. Targets: at most 91 calls per faithful fit
   (7 + 36 + 1 + 7 + 39; 69 for the lite variant), exactly 12 for the 6-pair
   evaluation, 0 on a warm-cache rerun.
2. **Critical path**: the same user against a stand-in answering after ``--path-latency``
   seconds (default 0.3, a real 70B endpoint's order of magnitude), with room for every
   call of a round in flight. "Before" is the one-candidate-at-a-time search
   (``search_batch_size=1``); "after" scores every candidate of a search in one round.
   Prints rounds (client batches waited for one after another), wall time and calls.
   Target: at most 6 rounds per faithful fit.
3. **Smoke users**: the fixture users of the smoke run with the smoke responder,
   fitted one at a time and then concurrently across users (with ``--latency`` seconds
   per answer standing in for generation time).

    .venv/bin/python benchmarks/bench_method.py [--latency 0.05] [--path-latency 0.3]
        [--users 8] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import re
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

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
_PAIR = re.compile(r"## Reply A\n(.*?)\n\n## Reply B\n(.*?)\n\n## Your answer", re.DOTALL)


def worst_case_judge(body: dict[str, Any]) -> str:
    """Picks a reply marked [right]; a reply marked [needs:tK] only if demo tK is in the prompt."""
    prompt = body["messages"][-1]["content"]
    pairs = _PAIR.findall(prompt)
    if not pairs:
        return "A reader who likes short, concrete answers and dislikes padding or hedging."
    a, b = pairs[-1]
    profile = prompt[: prompt.rindex("## Conversation\n")]

    def wins(reply: str) -> bool | None:
        if "[right]" in reply:
            return True
        need = re.search(r"\[needs:(\w+)\]", reply)
        return None if need is None else f"conv-{need.group(1)}" in profile

    verdict = wins(a)
    choice = ("A" if verdict else "B") if verdict is not None else (
        "B" if wins(b) else "A")
    reasoning = "Reply A reads as more useful to this person." if choice == "A" else \
        "Reply B reads as more useful to this person."
    return json.dumps({"reasoning": reasoning * 6, "preferred": choice})


def _pref(name: str, split: str, chosen: str = "", rejected: str = "") -> Preference:
    text = "Here is a practical answer with a few steps and an example. " * 6
    return Preference("bench-user", name, (Turn("user", f"Question conv-{name}: how do I start?"),),
                      Turn("assistant", f"{text} {chosen}"),
                      Turn("assistant", f"{text} Also some caveats. {rejected}"), split)


def worst_case_user() -> UserSplit:
    train = tuple(_pref(f"t{i}", "train", chosen="[right]") for i in range(1, 8))
    val = (_pref("v1", "val", chosen="[needs:t1]"), _pref("v2", "val", chosen="[needs:t5]"),
           _pref("v3", "val", rejected="[right]"))
    test = tuple(_pref(f"s{i}", "test") for i in range(1, 7))
    return UserSplit("bench-user", train, val, test)


def budget(tmp: Path) -> None:
    user = worst_case_user()
    print("1. Budget, worst case (7 train / 3 val / 6 test, n = m = 10, no early stop)")
    for algorithm, target in (("faithful", 91), ("lite", 69)):
        method = SynthesizeMe(SynthesizeMeConfig(algorithm=algorithm))
        with StandInServer(responder=worst_case_judge) as server:
            # preflight off: the server's count is then the method's own requests
            client = client_from_env(MODEL, cache_path=tmp / f"budget-{algorithm}.sqlite",
                                     base_url=server.url, progress=False, preflight=False)
            start = time.monotonic()
            art = method.fit(user, client)
            fit_s = time.monotonic() - start
            fit_calls, fit_stats = server.requests_seen, client.stats.to_dict()
            server.reset_counters()
            records = evaluate(method, [user], client, {user.user_id: art})
            eval_calls = server.requests_seen
            after = client.stats.to_dict()
            server.reset_counters()
            method.fit(user, client)
            evaluate(method, [user], client, {user.user_id: art})
            rerun_calls = server.requests_seen
            client.close()
        eval_prompt = after["prompt_tokens"] - fit_stats["prompt_tokens"]
        print(f"   {algorithm}: fit {fit_calls:3d} calls (target <= {target}; endpoint "
              f"attempts {fit_stats['attempts']}), {fit_stats['prompt_tokens']:,} prompt + "
              f"{fit_stats['completion_tokens']:,} completion tokens, {fit_s:.2f} s")
        for step, spend in art.spend.items():
            print(f"     {step:17s} {spend.requests:3d} requests in {spend.rounds} round(s), "
                  f"{spend.prompt_tokens:,} prompt + {spend.completion_tokens:,} completion "
                  "tokens")
        print(f"     evaluation: {eval_calls} calls for {len(user.test)} test pairs (target 12), "
              f"{eval_prompt:,} prompt tokens, {len(records)} judgments; warm-cache rerun of "
              f"fit + evaluation: {rerun_calls} calls (target 0)")


def critical_path(tmp: Path, latency: float) -> None:
    user = worst_case_user()
    print(f"\n2. Critical path of one fit (7 train / 3 val, stand-in answering after "
          f"{latency:.2f} s, up to 64 calls in flight)")
    runs = (("lite", 1, "before: lite, one candidate at a time (the earlier algorithm)"),
            ("faithful", 1, "faithful, one candidate at a time"),
            ("lite", None, "lite, each search in one round"),
            ("faithful", None, "after: faithful, each search in one round (default)"))
    for algorithm, batch, label in runs:
        config = SynthesizeMeConfig(algorithm=algorithm, search_batch_size=batch)
        with StandInServer(responder=worst_case_judge, latency=latency) as server:
            # preflight off: rounds and wall time are the fit's own (a real run adds one
            # preflight round per client, not per fit)
            client = client_from_env(MODEL, cache_path=tmp / f"path-{algorithm}-{batch}.sqlite",
                                     base_url=server.url, progress=False, max_concurrency=64,
                                     preflight=False)
            start = time.monotonic()
            art = SynthesizeMe(config).fit(user, client)
            wall = time.monotonic() - start
            calls = server.requests_seen
            client.close()
        rounds = art.total_spend.rounds
        print(f"   {label:58s} {rounds:3d} rounds, {wall:6.2f} s, {calls:3d} calls"
              f" (~{wall / latency:4.1f} latencies)")


def smoke_users(tmp: Path, latency: float, n_users: int, workers: int) -> None:
    from persona_judge.study.notebook import load_users

    users = load_users("chatbot_arena", "smoke", n_users, 0)
    method = SynthesizeMe()
    print(f"\n3. Smoke users ({len(users)} fixture users, smoke responder, {latency:.2f} s per "
          "answer)")
    for label, max_workers in (("one user at a time", 1), (f"{workers} users at once", workers)):
        with StandInServer(responder=smoke_responder, latency=latency) as server:
            client = client_from_env(MODEL, cache_path=tmp / f"smoke-{max_workers}.sqlite",
                                     base_url=server.url, progress=False, preflight=False)
            start = time.monotonic()
            states = fit_users(method, users, client, max_workers=max_workers, progress=False)
            fit_s = time.monotonic() - start
            fit_calls = server.requests_seen
            fit_tokens = client.stats.to_dict()
            start = time.monotonic()
            evaluate(method, users, client, states)
            eval_s = time.monotonic() - start
            eval_calls = server.requests_seen - fit_calls
            in_flight = server.max_in_flight
            client.close()
        per_fit = [a.total_spend.requests for a in states.values()]
        n_test = sum(len(u.test) for u in users)
        print(f"   {label:20s} fit {fit_calls:4d} calls in {fit_s:5.2f} s "
              f"(per user {min(per_fit)}-{max(per_fit)}, mean {sum(per_fit) / len(per_fit):.1f}; "
              f"{fit_tokens['prompt_tokens']:,} prompt + {fit_tokens['completion_tokens']:,} "
              f"completion tokens); evaluation {eval_calls} calls for {n_test} test pairs in "
              f"{eval_s:.2f} s; max in flight {in_flight}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--path-latency", type=float, default=0.3)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        budget(Path(tmp))
        critical_path(Path(tmp), args.path_latency)
        smoke_users(Path(tmp), args.latency, args.users, args.workers)


if __name__ == "__main__":
    main()
