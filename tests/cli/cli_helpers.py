"""Helpers shared by the command-line tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Small searches keep each fit to a couple of dozen stand-in calls.
SMALL = ["--n-candidates", "2", "--m-candidates", "2"]


def rows(user: str, n: int, marker: str = "") -> list[dict[str, Any]]:
    """``n`` preferences of ``user``; the chosen reply is the shorter one. ``marker`` goes into
    the first row's prompt only (so a fault can target one request)."""
    return [{"user_id": user, "prompt": f"{user} asks question {i}? {marker if i == 0 else ''}"
             .strip(),
             "chosen": f"Short answer {i}.",
             "rejected": f"A much longer and more elaborate answer number {i} for {user}."}
            for i in range(n)]


def write_jsonl(path: Path, data: list[Any]) -> Path:
    path.write_text("\n".join(d if isinstance(d, str) else json.dumps(d) for d in data) + "\n",
                    encoding="utf-8")
    return path


def output_map(out: Path) -> dict[str, dict[str, Any]]:
    return json.loads((out / "users.json").read_text())["users"]


def result_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != "users.json")
