"""A person's own preferences file (JSONL, a JSON array or CSV), to run the method on yourself.

The format (also in the README) is one preference per JSON line::

    {"prompt": "Plan a weekend in Lisbon", "chosen": "...", "rejected": "..."}

or, for a multi-turn conversation, ``"context": [{"role": "user", "content": "..."}, ...]``
instead of ``prompt``. ``chosen`` / ``rejected`` are the two responses, as text or as
``{"role": "assistant", "content": "..."}``. Optional fields: ``user_id`` (default
``"me"``), ``conversation_id`` (default ``line<N>``), ``pair_id`` (your own id for the
preference) and ``split`` (``train`` / ``val`` / ``test``). A CSV file has the same
columns (``context``, if used, holds the JSON list).

What is accepted, and how problems are reported. Every problem is a
:class:`PreferenceFileError` naming the file, the **line** (as an editor counts it)
and the field **as you wrote it** (``prompt``, ``Chosen``), with what to do:

* UTF-8 with or without a byte-order mark; any other encoding is refused with the
  line and column of the first unreadable byte and the command that converts it.
* ``.jsonl`` / ``.ndjson`` / ``.json``: one object per line; a file that starts with
  ``[`` is read as one JSON array of objects (what many tools export).
  Nesting deeper than :data:`MAX_NESTING` levels is refused.
* ``.csv``: column names in any case (``Prompt,Chosen,Rejected``); a row with more
  or fewer fields than the header is an error, never a silent shift of columns; line
  numbers count file lines, also after quoted fields spanning several lines.
* Duplicates: a row repeating an earlier one (same user, prompt or context turns,
  chosen and rejected reply; ``conversation_id`` is not compared, and the message
  says when the two rows' ids differ), or a ``pair_id`` used twice, is an error
  naming both lines, unless
  ``drop_duplicates=True`` drops exact duplicates (keeping the first; reported).
  (The data layer will also check stored pair ids; this is the file's own check.)
* ``user=ID`` keeps only that user's rows *before* validation, so other users' bad
  rows cannot block it; the report says how many rows were ignored.
* Splits: either every row of a user names its split or none does. A user without
  splits is divided at random, seeded by the seed and the user id, into train and
  validation (``val_fraction``, at least one of each): 2 rows give 1 train and 1 val.
  The draw is per user, so adding another user to the file does not move yours.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from persona_judge.data.records import Preference
from persona_judge.data.validation import LoadReport, OnError, PreferenceDataError, check_row

MIN_PREFERENCES = 2  # one to learn from, one to validate on; the paper uses 5-15
MAX_NESTING = 20     # a context is 3 levels deep; anything near this is not a preference
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
DEFAULT_USER = "me"
_KNOWN_FIELDS = ("prompt", "context", "chosen", "rejected", "user_id", "conversation_id",
                 "pair_id", "split", "dataset", "type", "turns", "flip")
_CSV_FIELD_LIMIT = 64 * 1024 * 1024  # long model replies exceed csv's 128 KiB default


class PreferenceFileError(PreferenceDataError):
    """A problem in a person's preferences file, located by file **line** (not row)."""

    def __init__(self, source: str, row: int | None, field: str | None, problem: str):
        super().__init__(source, row, field, problem)
        where = source + (f", line {row}" if row is not None else "")
        what = f"field '{field}': " if field else ""
        self.args = (f"{where}: {what}{problem}",)


@dataclass
class PreferencesFileReport(LoadReport):
    """A :class:`LoadReport` plus what the file reader decided on the way.

    ``ignored_rows``: rows of other users left out by ``user=``;
    ``ignored_unreadable``: lines that could not be read while selecting a user
    (their user is unknown), ignored with the other users' rows;
    ``dropped_duplicates``: exact duplicates dropped by ``drop_duplicates=True``;
    ``assigned_splits``: users whose rows were split at random into train and val.
    """

    ignored_rows: int = 0
    ignored_unreadable: list[PreferenceDataError] = field(default_factory=list)
    dropped_duplicates: list[str] = field(default_factory=list)
    assigned_splits: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """One line per thing the reader did that the person should know about."""
        out = []
        if self.ignored_rows:
            out.append(f"{self.ignored_rows} row(s) of other users in {self.source} were "
                       "ignored (not read further, not validated).")
        for err in self.ignored_unreadable:
            out.append(f"ignored, user unknown: {err}")
        for text in self.dropped_duplicates:
            out.append(f"dropped duplicate: {text}")
        if self.skipped:
            out.append(f"skipped {self.n_skipped} bad row(s) of {self.source}:")
            out.extend(f"  - {err}" for err in self.skipped)
        if self.assigned_splits:
            out.append("no 'split' given, so train/val were drawn at random (seeded) for: "
                       + ", ".join(self.assigned_splits))
        return out


# -- reading ------------------------------------------------------------------------------
def _decode(data: bytes, path: Path, source: str) -> str:
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise PreferenceFileError(
                source, None, None,
                f"the file is {name}, not UTF-8; save it as UTF-8, or convert it: "
                f"iconv -f {name} -t UTF-8 '{path}' > '{path.stem}-utf8{path.suffix}'")
    try:
        return data.decode("utf-8-sig")  # accepts and drops a UTF-8 byte-order mark
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        try:
            data.decode("cp1252")
            guess, encoding = "Windows-1252 (as Excel and many Windows programs save)", \
                "WINDOWS-1252"
        except UnicodeDecodeError:
            guess, encoding = "Latin-1 or another legacy encoding", "LATIN1"
        raise PreferenceFileError(
            source, line, None,
            f"not UTF-8: byte 0x{data[err.start]:02x} at column {column} cannot be read as "
            f"UTF-8; the file is probably {guess}. Save it as UTF-8 (in Excel: 'CSV UTF-8'), "
            f"or convert it: iconv -f {encoding} -t UTF-8 '{path}' > "
            f"'{path.stem}-utf8{path.suffix}'") from None


def _too_deep(value: Any, limit: int = MAX_NESTING) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _loads(text: str, source: str, line: int) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        hint = ""
        if text.strip() in ("{", "[") or text.rstrip().endswith(","):
            hint = ("; each preference must be one JSON object on one line (JSON Lines) - this "
                    "file looks pretty-printed: write one object per line, or put the objects "
                    "in one JSON array [ ... ]")
        return PreferenceFileError(source, line, None,
                                   f"not valid JSON ({err.msg} at column {err.colno}){hint}")
    except RecursionError:
        return PreferenceFileError(source, line, None,
                                   f"JSON nested too deeply (more than {MAX_NESTING} levels)")
    if _too_deep(value):
        return PreferenceFileError(source, line, None,
                                   f"JSON nested too deeply (more than {MAX_NESTING} levels)")
    return value


def _read_json_lines(text: str, source: str) -> Iterator[tuple[int, Any]]:
    # split("\n"), not splitlines(): U+2028 and friends may appear inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, _loads(line.strip(), source, number)


def _read_json_array(text: str, source: str) -> Iterator[tuple[int, Any]]:
    """Elements of one JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    where = "the file starts with '[', so it is read as one JSON array of preference objects"

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def fail(pos: int, problem: str) -> PreferenceFileError:
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return PreferenceFileError(source, line, None, f"{problem} at column {column}; {where}")

    pos = skip(skip(0) + 1)
    line, counted = 1, 0
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise fail(err.pos, f"not valid JSON ({err.msg})") from None
        except RecursionError:
            raise fail(pos, f"JSON nested too deeply (more than {MAX_NESTING} levels)") from None
        if _too_deep(value):
            raise fail(pos, f"JSON nested too deeply (more than {MAX_NESTING} levels)")
        yield line, value
        pos = skip(end)
        if pos < len(text) and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if skip(pos + 1) != len(text):
                raise fail(skip(pos + 1), "unexpected text after the closing ']'")
            return
        raise fail(pos, "expected ',' or ']' after an array element")


def _canonical_header(names: list[str], source: str) -> list[str]:
    out: list[str] = []
    for i, name in enumerate(names, start=1):
        clean = name.strip()
        if not clean:
            raise PreferenceFileError(source, 1, None, f"column {i} of the header has no name")
        lowered = clean.lower()
        out.append(lowered if lowered in _KNOWN_FIELDS else clean)
    counts = Counter(out)
    twice = sorted(n for n, c in counts.items() if c > 1)
    if twice:
        raise PreferenceFileError(source, 1, None,
                                  f"the header names column(s) {', '.join(twice)} more than "
                                  "once (names are not case-sensitive)")
    missing = [n for n in ("chosen", "rejected") if n not in out]
    if "prompt" not in out and "context" not in out:
        missing.insert(0, "prompt (or context)")
    if missing:
        raise PreferenceFileError(
            source, 1, None, f"the header has no column {', '.join(missing)} (it has: "
            f"{', '.join(names)}); the first line must name the columns, e.g. "
            "prompt,chosen,rejected")
    return out


def _read_csv(text: str, source: str) -> Iterator[tuple[int, Any]]:
    old_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header: list[str] | None = None
        written: list[str] = []
        previous_end = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raise PreferenceFileError(source, reader.line_num, None,
                                          f"not readable as CSV ({err})") from None
            start, previous_end = previous_end + 1, reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue  # a blank line
            if header is None:
                written = [n.strip() for n in record]
                header = _canonical_header(record, source)
                continue
            if len(record) != len(header):
                more = "more" if len(record) > len(header) else "fewer"
                yield start, PreferenceFileError(
                    source, start, None,
                    f"{len(record)} fields, {more} than the {len(header)} columns of the header "
                    f"({', '.join(written)}); put a field that contains a comma or a line "
                    'break in double quotes ("...")')
                continue
            yield start, {"__csv__": True, **dict(zip(header, record, strict=True))}
        if header is None:
            raise PreferenceFileError(source, None, None, "the file is empty; the first line "
                                      "must name the columns, e.g. prompt,chosen,rejected")
    finally:
        csv.field_size_limit(old_limit)


def _read(path: Path, source: str) -> list[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PreferenceFileError(source, None, None,
                                  f"unknown preferences file type {suffix or '(none)'!r}; use "
                                  ".jsonl (one JSON object per line), .json or .csv")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PreferenceFileError(source, None, None,
                                  f"cannot read the file ({err.strerror})") from None
    text = _decode(data, path, source)
    if suffix == ".csv":
        return list(_read_csv(text, source))
    if text.lstrip().startswith("["):
        return list(_read_json_array(text, source))
    return list(_read_json_lines(text, source))


# -- from the file's shorthand to the benchmark's row schema ------------------------------
@dataclass
class _Row:
    line: int
    data: dict[str, Any]
    written: dict[str, str]           # canonical field -> the name the person wrote
    shorthand: set[str]               # fields given as plain text (prompt, chosen, rejected)
    split_given: bool


def _normalise(raw: dict[str, Any], source: str, line: int, conversation: str) -> _Row:
    """Turn the file's friendly shorthand into the benchmark's row schema."""
    from_csv = bool(raw.pop("__csv__", False))
    data: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in raw.items():
        name = key.strip().lower() if isinstance(key, str) else str(key)
        canonical = name if name in _KNOWN_FIELDS else str(key)
        if canonical in data:
            raise PreferenceFileError(source, line, key,
                                      f"given twice (as '{written[canonical]}' and '{key}'; "
                                      "names are not case-sensitive)")
        data[canonical], written[canonical] = value, str(key)
    # an empty optional cell (CSV) means "not given", as an absent key does
    for name in ("user_id", "conversation_id", "split", "pair_id"):
        if name in data and data[name] in ("", None):
            del data[name]
    shorthand: set[str] = set()
    if "prompt" in data:
        if "context" in data:
            raise PreferenceFileError(source, line, written["prompt"],
                                      f"given together with '{written['context']}'; use one")
        prompt = data.pop("prompt")
        if isinstance(prompt, str):
            shorthand.add("context")
            data["context"] = [{"role": "user", "content": prompt}] if prompt.strip() else []
        else:
            data["context"] = prompt
        written["context"] = written.pop("prompt")
    if isinstance(data.get("context"), str):
        text = data["context"]
        try:
            data["context"] = json.loads(text) if text.strip().startswith("[") else None
        except (json.JSONDecodeError, RecursionError):
            data["context"] = None
        if data["context"] is None:  # plain text in a context cell: one user turn
            shorthand.add("context")
            data["context"] = [{"role": "user", "content": text}] if text.strip() else []
        elif _too_deep(data["context"]):
            raise PreferenceFileError(source, line, written["context"],
                                      f"nested too deeply (more than {MAX_NESTING} levels)")
    for name in ("chosen", "rejected"):
        if isinstance(data.get(name), str):
            shorthand.add(name)
            data[name] = {"role": "assistant", "content": data[name]}
    user = data.get("user_id", DEFAULT_USER)
    if isinstance(user, str) and not user.strip():
        raise PreferenceFileError(source, line, written.get("user_id", "user_id"),
                                  "blank; give a user id or leave the field out (default 'me')")
    if from_csv and isinstance(data.get("turns"), str):  # typed columns arrive as text
        data["turns"] = int(data["turns"]) if data["turns"].strip().isdigit() else data["turns"]
    data.setdefault("user_id", DEFAULT_USER)
    data.setdefault("conversation_id", conversation)
    split_given = bool(data.get("split"))
    if not split_given:
        data["split"] = "train"  # provisional; drawn per user below
    return _Row(line, data, written, shorthand, split_given)


def _user_field(err: PreferenceDataError, row: _Row) -> PreferenceFileError:
    """``err`` re-addressed to the field name (and line wording) the person used."""
    name = err.field
    if name is not None:
        cut = min([i for i in (name.find("."), name.find("[")) if i > 0] or [len(name)])
        head = name[:cut]
        user = row.written.get(head, head)
        name = user if head in row.shorthand else user + name[cut:]
    return PreferenceFileError(err.source, err.row, name, err.problem)


def _duplicate_key(row: _Row) -> str:
    d = row.data
    return json.dumps([str(d.get("user_id")), d.get("context"), d.get("chosen"),
                       d.get("rejected")], sort_keys=True, ensure_ascii=False, default=str)


def _what_matched(first: _Row, row: _Row) -> str:
    """What two duplicate rows share (what :func:`_duplicate_key` compares), and their
    conversation ids when they differ (those are not compared)."""
    field = first.written.get("context", "prompt")
    turns = first.data.get("context") or []
    if len(turns) > 1:
        field += f" ({len(turns)} turns)"
    same = (f"same user {str(first.data.get('user_id'))!r}, same {field}, same chosen and "
            "same rejected reply")
    ids = str(first.data.get("conversation_id")), str(row.data.get("conversation_id"))
    if ids[0] != ids[1] and ("conversation_id" in first.written
                             or "conversation_id" in row.written):
        same += f" (the conversation_id differs, {ids[0]!r} and {ids[1]!r}, and is not compared)"
    return same


def _check_duplicates(rows: list[_Row | PreferenceFileError], source: str, drop: bool
                      ) -> tuple[list[_Row | PreferenceFileError], list[str]]:
    """Exact duplicates and reused ``pair_id`` values, each named with both lines."""
    seen: dict[str, _Row] = {}
    ids: dict[str, int] = {}
    out: list[_Row | PreferenceFileError] = []
    dropped: list[str] = []
    for row in rows:
        if isinstance(row, PreferenceFileError):
            out.append(row)
            continue
        key = _duplicate_key(row)
        if key in seen:
            first = seen[key]
            if drop:
                dropped.append(f"{source}, line {row.line}: same preference as line "
                               f"{first.line}")
                continue
            out.append(PreferenceFileError(
                source, row.line, None,
                f"the same preference as line {first.line}: {_what_matched(first, row)}; "
                "remove one of the two lines, or pass --drop-duplicates "
                "(drop_duplicates=True) to keep only the first"))
            continue
        pair_id = row.data.get("pair_id")
        if pair_id is not None and str(pair_id) in ids:
            out.append(PreferenceFileError(
                source, row.line, row.written.get("pair_id", "pair_id"),
                f"{pair_id!r} is already the id of line {ids[str(pair_id)]}; every preference "
                "needs its own id"))
            continue
        seen[key] = row
        if pair_id is not None:
            ids[str(pair_id)] = row.line
        out.append(row)
    return out, dropped


def _assign_splits(prefs: list[Preference], *, seed: int, val_fraction: float,
                   user: str) -> list[Preference]:
    """One user's preferences divided into train/val: seeded by seed and user, at least one
    of each when there are two or more."""
    order = list(range(len(prefs)))
    random.Random(f"{seed}|{user}").shuffle(order)
    n_val = min(max(1, round(len(prefs) * val_fraction)), max(len(prefs) - 1, 0))
    val = set(order[:n_val])
    return [replace(p, split="val" if i in val else "train") for i, p in enumerate(prefs)]


def load_preferences_file(
    path: str | Path,
    *,
    on_error: OnError = "raise",
    seed: int = 0,
    val_fraction: float = 0.3,
    user: str | None = None,
    drop_duplicates: bool = False,
) -> PreferencesFileReport:
    """Load and validate a person's preferences file; assign splits where none are given.

    ``on_error="skip"`` skips bad rows and lists them in the report (``skipped``)
    instead of raising on the first; ``user`` keeps only that user's rows before
    anything is validated; ``drop_duplicates`` drops exact duplicate rows.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    path = Path(path).expanduser()
    source = str(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in SUFFIXES)[:5]
        found = f" (it holds {', '.join(inside)})" if inside else ""
        raise PreferenceFileError(source, None, None,
                                  f"this is a folder, not a preferences file{found}; give the "
                                  ".jsonl or .csv file itself")
    if not path.is_file():
        raise PreferenceFileError(source, None, None, "preferences file not found; check the "
                                  "path (relative paths start in the current folder)")
    raw_rows = _read(path, source)
    report = PreferencesFileReport(source)
    per_line = Counter(line for line, _ in raw_rows)
    item_on_line: Counter[int] = Counter()
    rows: list[_Row | PreferenceFileError] = []
    for line, raw in raw_rows:
        item_on_line[line] += 1
        conversation = f"line{line}" if per_line[line] == 1 else \
            f"line{line}-{item_on_line[line]}"
        if isinstance(raw, PreferenceFileError):
            rows.append(raw)
        elif not isinstance(raw, dict):
            rows.append(PreferenceFileError(
                source, line, None, f"expected a JSON object {{\"prompt\": ..., \"chosen\": "
                f"..., \"rejected\": ...}}, got {type(raw).__name__}"))
        else:
            try:
                rows.append(_normalise(dict(raw), source, line, conversation))
            except PreferenceFileError as err:
                rows.append(err)
    if user is not None:
        kept: list[_Row | PreferenceFileError] = []
        for row in rows:
            if isinstance(row, PreferenceFileError):
                report.ignored_unreadable.append(row)
            elif str(row.data["user_id"]) == user:
                kept.append(row)
            else:
                report.ignored_rows += 1
        if not kept:
            users = sorted({str(r.data["user_id"]) for r in rows if isinstance(r, _Row)})
            listed = ", ".join(repr(u) for u in users[:10]) + (" ..." if len(users) > 10 else "")
            raise PreferenceFileError(source, None, "user_id",
                                      f"no rows with user_id {user!r}; the file has: "
                                      f"{listed or 'no readable rows'}")
        rows = kept
    rows, report.dropped_duplicates = _check_duplicates(rows, source, drop_duplicates)
    # either every row of a user names its split, or none does
    with_split = Counter(str(r.data["user_id"]) for r in rows
                         if isinstance(r, _Row) and r.split_given)
    per_user = Counter(str(r.data["user_id"]) for r in rows if isinstance(r, _Row))
    valid: list[tuple[_Row, Preference]] = []
    for row in rows:
        if isinstance(row, _Row):
            uid = str(row.data["user_id"])
            if 0 < with_split[uid] < per_user[uid] and not row.split_given:
                row = PreferenceFileError(
                    source, row.line, row.written.get("split", "split"),
                    f"missing, while other rows of user {uid!r} name their split: give every "
                    "row of this user a split (train / val / test) or none, to have them "
                    "drawn at random")
            else:
                try:
                    valid.append((row, check_row(row.data, source, row.line)))
                    continue
                except PreferenceDataError as err:
                    row = _user_field(err, row)
        if on_error == "raise":
            raise row
        report.skipped.append(row)
    # splits drawn per user, among the rows that survived validation
    drawn: dict[str, list[int]] = {}
    for i, (row, pref) in enumerate(valid):
        if not row.split_given:
            drawn.setdefault(pref.user_id, []).append(i)
    prefs = [pref for _, pref in valid]
    for uid, positions in drawn.items():
        new = _assign_splits([prefs[i] for i in positions], seed=seed,
                             val_fraction=val_fraction, user=uid)
        for i, pref in zip(positions, new, strict=True):
            prefs[i] = pref
        report.assigned_splits.append(uid)
    report.preferences = prefs
    if len(prefs) < MIN_PREFERENCES:
        raise PreferenceFileError(
            source, None, None,
            f"{len(prefs)} usable preference(s); the method needs at least "
            f"{MIN_PREFERENCES} (one to learn from, one to validate on), and works best "
            "with 5-15")
    return report
