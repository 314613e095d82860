"""A person's own preferences file (JSONL or CSV), for running the method on yourself.

The format (also in the README) is one preference per JSON line::

    {"prompt": "Plan a weekend in Lisbon", "chosen": "...", "rejected": "..."}

or, for a multi-turn conversation, ``"context": [{"role": "user", "content": "..."}, ...]``
instead of ``prompt``. ``chosen`` / ``rejected`` are the two responses, as text or as
``{"role": "assistant", "content": "..."}``. Optional fields: ``user_id`` (default
``"me"``), ``conversation_id`` (default ``line<N>``) and ``split`` (``train`` /
``val`` / ``test``). A CSV file has the same columns (``context``, if used, holds the
JSON list). If no row names a split, the rows are divided at random (seeded) into
train and validation (``val_fraction``, at least one each); either every row names
its split or none does.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from persona_judge.data.validation import LoadReport, OnError, PreferenceDataError, validate_rows

MIN_PREFERENCES = 2  # one to learn from, one to validate on; the paper uses 5-15


def _normalise(raw: Any, source: str, row: int) -> Any:
    """Turn the file's friendly shorthand into the benchmark's row schema."""
    if not isinstance(raw, dict):
        return raw  # validation reports the wrong type
    # an empty optional cell (CSV) means "not given", as an absent key does
    out = {k: v for k, v in raw.items()
           if not (k in ("user_id", "conversation_id", "split") and v in ("", None))}
    if "prompt" in out and "context" not in out:
        prompt = out.pop("prompt")
        out["context"] = [{"role": "user", "content": prompt}] if isinstance(prompt, str) \
            else prompt
    if isinstance(out.get("context"), str):
        text = out["context"]
        try:
            out["context"] = json.loads(text)
        except json.JSONDecodeError:
            out["context"] = [{"role": "user", "content": text}] if text.strip() else []
    for name in ("chosen", "rejected"):
        if isinstance(out.get(name), str):
            out[name] = {"role": "assistant", "content": out[name]}
    out.setdefault("user_id", "me")
    out.setdefault("conversation_id", f"line{row}")
    return out


def _read_jsonl(path: Path, source: str) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line.strip())
            except json.JSONDecodeError as err:
                yield number, PreferenceDataError(
                    source, number, None, f"not valid JSON ({err.msg} at column {err.colno})")


def _read_csv(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        # line 1 is the header, so the first record is line 2 of the file
        for number, record in enumerate(csv.DictReader(handle), start=2):
            yield number, {k: v for k, v in record.items() if k is not None}


def load_preferences_file(
    path: str | Path,
    *,
    on_error: OnError = "raise",
    seed: int = 0,
    val_fraction: float = 0.3,
) -> LoadReport:
    """Load and validate a person's preferences file; assign splits if it has none."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise FileNotFoundError(f"preferences file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        raw_rows = list(_read_jsonl(path, source))
    elif suffix == ".csv":
        raw_rows = list(_read_csv(path))
    else:
        raise ValueError(f"{path}: unknown preferences file type {suffix!r}; use .jsonl or .csv")
    rows = [(n, r if isinstance(r, PreferenceDataError) else _normalise(r, source, n))
            for n, r in raw_rows]
    with_split = [n for n, r in rows if isinstance(r, dict) and r.get("split")]
    dicts = [(n, r) for n, r in rows if isinstance(r, dict)]
    if with_split and len(with_split) != len(dicts):
        missing = next(n for n, r in dicts if not r.get("split"))
        raise PreferenceDataError(
            source, missing, "split",
            "missing, while other rows name their split: give every row a split "
            "(train / val / test) or none, to have them assigned at random")
    if not with_split:
        _assign_splits(dicts, seed=seed, val_fraction=val_fraction)
    report = validate_rows(rows, source, on_error=on_error)
    if len(report.preferences) < MIN_PREFERENCES:
        raise PreferenceDataError(
            source, None, None,
            f"{len(report.preferences)} usable preference(s); the method needs at least "
            f"{MIN_PREFERENCES} (one to learn from, one to validate on), and works best "
            "with 5-15")
    return report


def _assign_splits(rows: list[tuple[int, dict]], *, seed: int, val_fraction: float) -> None:
    """Divide rows into train/val in place: seeded, at least one of each when possible."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_val = min(max(1, round(len(rows) * val_fraction)), max(len(rows) - 1, 0))
    val = set(order[:n_val])
    for i, (_, row) in enumerate(rows):
        row["split"] = "val" if i in val else "train"
