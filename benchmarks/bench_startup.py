"""Start-up time of the ``persona-judge`` command (a benchmark, not a test).

Issue #8 asks that ``persona-judge --help`` and an error for a mistyped path come back in
under 2 s on the 2-core development machine (they took 8-15 s when nbformat and
jsonschema were imported at start-up). Each case runs the installed command in a fresh
process ``--repeat`` times; the table shows the median and the slowest wall time and
whether the target holds. The test suite checks the cause instead (no heavy module is
imported on these paths: ``tests/cli/test_fit_options.py``), so that no test depends on
the machine's load.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 2.0


def command() -> list[str]:
    exe = Path(sys.executable).with_name("persona-judge")
    return [str(exe)] if exe.exists() else [shutil.which("persona-judge") or "persona-judge"]


def time_once(argv: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    return time.perf_counter() - started, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    base = command()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "prefs"
        folder.mkdir()
        cases = {
            "persona-judge --help": base + ["--help"],
            "persona-judge fit --help": base + ["fit", "--help"],
            "fit <mistyped path> --smoke": base + ["fit", "no/such/prefs.jsonl", "--smoke"],
            "fit <a folder> --smoke": base + ["fit", str(folder), "--smoke"],
            "fit <mistyped path> (real mode)": base + ["fit", "no/such/prefs.jsonl"],
            "python -m persona_judge.study --help": [sys.executable, "-m",
                                                     "persona_judge.study", "--help"],
        }
        print(f"start-up of persona-judge, {args.repeat} runs each, {os.cpu_count()} CPU "
              f"cores, load average {os.getloadavg()[0]:.1f}\n")
        header = f"{'case':<38} {'exit':>4} {'median s':>9} {'max s':>7}  target < 2 s"
        print(header)
        print("-" * len(header))
        for name, argv in cases.items():
            runs = [time_once(argv) for _ in range(args.repeat)]
            times = [t for t, _ in runs]
            code = runs[-1][1]
            ok = "yes" if max(times) < TARGET_SECONDS else "NO"
            print(f"{name:<38} {code:>4} {statistics.median(times):>9.2f} {max(times):>7.2f}  "
                  f"{ok}")


if __name__ == "__main__":
    main()
