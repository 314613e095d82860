"""Time of chapter 10's reward models on the tiny model, and the estimate for a real run.

Trains the tiny Llama (smoke settings) on the smoke fixtures' pooled training pairs on the
CPU, through the same code as a real run, and times: building the model and training the
Bradley–Terry model, a rerun that loads it from its checkpoint (nothing trained), scoring the
test pairs, and the GPO / VPL / PAL heads. Then prints the GPU estimate of a real run for the
real Chatbot Arena and PRISM sizes (characters per pair from the fixtures, pairs from the
paper's benchmark: ~1.34k Chatbot Arena rows, PRISM ~10× more), with the default settings.

    .venv/bin/python benchmarks/bench_reward_models.py [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from persona_judge.reward_models.inputs import rm_messages, training_pairs
from persona_judge.reward_models.settings import SMOKE, RewardModelSettings, gpu_estimate
from persona_judge.reward_models.study import run_reward_models
from persona_judge.reward_models.train import score, train_reward_model
from persona_judge.study.notebook import load_users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    users = load_users("chatbot_arena", "smoke", None, args.seed)
    pairs = training_pairs(users)
    root = Path(tempfile.mkdtemp(prefix="bench-rm-"))
    print(f"tiny model, {len(pairs)} pooled training pairs, {SMOKE.epochs} epochs, CPU")

    start = time.perf_counter()
    trained = train_reward_model(pairs, SMOKE, seed=args.seed, folder=root / "bt",
                                 progress=False)
    print(f"  build + train BT: {time.perf_counter() - start:6.1f} s ({trained.steps} steps)")
    start = time.perf_counter()
    again = train_reward_model(pairs, SMOKE, seed=args.seed, folder=root / "bt", progress=False)
    print(f"  rerun (reused={again.reused}): {time.perf_counter() - start:6.1f} s")
    inputs = [rm_messages(p, r) for u in users for p in u.test for r in (p.chosen, p.rejected)]
    start = time.perf_counter()
    score(again, inputs, settings=SMOKE)
    print(f"  score {len(inputs)} replies: {time.perf_counter() - start:6.1f} s")
    start = time.perf_counter()
    run_reward_models(users, users, SMOKE, seed=args.seed, mode="smoke",
                      methods=("GPO", "VPL", "PAL"), progress=False, root=root)
    print(f"  embed + GPO, VPL, PAL: {time.perf_counter() - start:6.1f} s")

    chars = sum(2 * sum(len(t.content) for t in p.context) + len(p.chosen.content)
                + len(p.rejected.content) for u in users for p in (*u.train, *u.val, *u.test))
    per_pair = chars / sum(len(u.train) + len(u.val) + len(u.test) for u in users)
    print(f"\nreal run estimate (default settings: {RewardModelSettings().base_model}, LoRA), "
          f"{per_pair:.0f} characters per pair as in the fixtures:")
    for name, rows in (("Chatbot Arena", 1340), ("PRISM", 13000)):
        e = gpu_estimate(RewardModelSettings(), int(0.7 * rows * per_pair),
                         int(0.3 * rows * per_pair), n_models=2)
        print(f"  {name:13s} ~{rows} pairs: {e.gpu_hours:7.3f} GPU-hours, "
              f"{e.memory_gb:.0f} GB on one GPU ({e.assumptions})")


if __name__ == "__main__":
    main()
