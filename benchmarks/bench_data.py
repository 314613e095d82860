"""Time to load a PRISM-sized PersonalRewardBench copy (a benchmark, not a test).

The real ``prism_personalized_0125`` cannot be read on this machine, so this
writes a Hub-shaped copy of the same size and shape: the fixture generator's rows
scaled up to ``--rows`` rows (default 12,000: 723 users at the benchmark's ~15
pairs each), with replies and the ten recorded judge reasonings padded to
realistic lengths with row-specific filler (``--reply-chars``, ``--reasoning-chars``;
the Hub parquet files of the earlier PRISM release total about 40 MB). It then times the real-mode
loader (parquet read, row validation, pair ids, the uniqueness check) and the
study's user grouping. Target: under 15 s for 12,000 rows on one core.

    .venv/bin/python benchmarks/bench_data.py [--rows 12000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path


def write_scaled_copy(folder: Path, rows: int, reply_chars: int, reasoning_chars: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from persona_judge.data.fixtures import fixture_rows, fixture_schema

    base = [r for r in fixture_rows("prism") if r["rejected"]["content"]]
    rng = random.Random(0)

    def pad(text: str, chars: int) -> str:  # row-specific filler, so parquet cannot dedupe it
        return f"{text} {rng.getrandbits(4 * max(chars - len(text), 8)):x}"

    out = []
    for i in range(rows):
        row = dict(base[i % len(base)])
        copy = i // len(base)
        row["user_id"] = f"user{(i // 15) % 1500}"
        row["conversation_id"] = f"c{copy}-{row['conversation_id']}"
        for name in ("chosen", "rejected"):
            row[name] = {"content": pad(row[name]["content"], reply_chars),
                         "role": row[name]["role"]}
        for key in row:
            if key.startswith("reasoning_"):
                row[key] = pad(row[key], reasoning_chars)
        out.append(row)
    (folder / "data").mkdir(parents=True)
    schema = fixture_schema("prism")
    for split, hub in (("train", "train"), ("val", "validation"), ("test", "test")):
        part = [r for r in out if r["split"] == split]
        pq.write_table(pa.Table.from_pylist(part, schema=schema),
                       folder / "data" / f"{hub}-00000-of-00001.parquet")
    return sum(f.stat().st_size for f in (folder / "data").iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=12_000)
    parser.add_argument("--reply-chars", type=int, default=1_500)
    parser.add_argument("--reasoning-chars", type=int, default=800)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="persona-judge-bench-data-") as tmp:
        os.environ["PERSONA_JUDGE_DATA"] = tmp
        from persona_judge.data.benchmark import load_benchmark, local_copy
        from persona_judge.data.validation import check_user_splits

        size = write_scaled_copy(local_copy("prism", "real"), args.rows, args.reply_chars,
                                 args.reasoning_chars)
        start = time.perf_counter()
        report = load_benchmark("prism", "real", offline=True, on_error="skip",
                                max_bad_row_share=0.02)
        loaded = time.perf_counter() - start
        users = check_user_splits(report, on_error="skip")
        grouped = time.perf_counter() - start - loaded
        print(f"{args.rows:,} rows in {size / 1e6:.1f} MB of parquet: loaded and validated "
              f"{len(report.preferences):,} preferences in {loaded:.2f} s "
              f"({1e6 * loaded / args.rows:.0f} µs per row); {report.n_skipped} skipped; "
              f"{len(users)} users grouped in {grouped:.2f} s.")


if __name__ == "__main__":
    main()
