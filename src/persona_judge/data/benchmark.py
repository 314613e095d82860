"""PersonalRewardBench loaders: the two published datasets, from the Hub or from fixtures.

**Where the data lives.** Real mode downloads a dataset repository once from the
Hugging Face Hub into ``data/hub/<repo_id>`` (``huggingface_hub.snapshot_download``)
and reads that folder; smoke mode reads a generated fixture copy with the same
layout from ``data/fixtures/<repo_id>``. Both go through the very same
:func:`read_local_dataset`, so tests and smoke runs exercise the path real data
takes.

**No cache between copies.** Each parquet file of the copy is read directly with
``pyarrow`` on every load. (``datasets.load_dataset(folder)`` keeps a cache keyed
by the folder's *name*, which the fixture and Hub copies share, so it once served
fixture rows to a real run; it also wrote under ``~/.cache``. Reading the files
themselves leaves nothing that could cross copies or modes.)

**Revisions.** ``hub_revisions`` in ``study.yaml`` pins a commit per dataset
(``null``: the revision the first download resolved). A download resolves the
requested revision to its commit and records it in
``<copy>/persona_judge_revision.json``; a later load refuses a local copy whose
recorded commit differs from the pinned one instead of silently mixing data.
:func:`dataset_revision` names the copy a run read (for fixtures:
``"fixture (synthetic, seed N)"``), so chapters and the book can show it.

**Splits.** The per-user split (train / val / test) is each row's own ``split``
column. The Hub repository's split names (the parquet files ``train-*``,
``validation-*``, ``test-*``) are kept per row (``LoadReport.origins[i].part``)
so the benchmark chapter can show how they relate, and are used as a row's split
only for a row without one.

**Bad rows.** Study runs load with ``on_error="skip"``: bad rows are counted and
listed in the report, and the load fails only if a dataset loses more than
``max_bad_row_share`` (``study.yaml``) of its rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from persona_judge import paths
from persona_judge.data.validation import (
    LoadReport,
    OnError,
    check_bad_row_share,
    validate_rows,
)
from persona_judge.errors import PersonaJudgeError, SettingsError

Mode = Literal["real", "smoke"]

BENCHMARKS: dict[str, str] = {
    "chatbot_arena": "MichaelR207/chatbot_arena_personalized_0125",
    "prism": "MichaelR207/prism_personalized_0125",
}
# Users per dataset in the published benchmark (paper, Section 3).
PAPER_USER_COUNTS = {"chatbot_arena": 131, "prism": 723}
# The Hub's split names (parquet file prefixes) in the study's split names.
HUB_SPLITS = {"train": "train", "validation": "val", "val": "val", "test": "test"}
REVISION_FILE = "persona_judge_revision.json"
DEFAULT_MAX_BAD_ROW_SHARE = 0.02
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_PART = re.compile(r"^(?P<split>[A-Za-z_]+?)(-\d{5}-of-\d{5})?\.parquet$")


class DataUnavailableError(PersonaJudgeError, RuntimeError):
    """The benchmark is neither cached locally nor reachable; the message says what to do."""


class RevisionMismatchError(DataUnavailableError):
    """The local copy is not the revision the study pins; the message says how to fix it."""


#: Benchmarks this study builds itself from the raw sources (chapter 00), loadable by name
#: wherever a chapter takes ``dataset`` (``dataset: constructed_prism``).
CONSTRUCTED = ("constructed_prism", "constructed_chatbot_arena")


def is_constructed(dataset: str) -> bool:
    return dataset in CONSTRUCTED


def repo_id(dataset: str) -> str:
    try:
        return BENCHMARKS[dataset]
    except KeyError:
        raise SettingsError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(BENCHMARKS)} (or a "
            f"benchmark chapter 00 built: {', '.join(CONSTRUCTED)})") from None


def local_copy(dataset: str, mode: Mode) -> Path:
    """Where a dataset's local copy lives for a run mode (it may not exist yet)."""
    base = paths.fixtures_dir() if mode == "smoke" else paths.hub_dir()
    return base / repo_id(dataset)


def _is_populated(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*.parquet"))


# -- settings --------------------------------------------------------------------------
def study_settings() -> dict[str, Any]:
    """The top-level settings of the project's ``study.yaml`` (empty without one)."""
    import yaml

    path = paths.project_root() / "study.yaml"
    if not path.is_file():
        return {}
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise PersonaJudgeError(f"{path}: not valid YAML ({err})") from None
    return settings if isinstance(settings, dict) else {}


def pinned_revision(dataset: str, settings: Mapping[str, Any] | None = None) -> str | None:
    """The Hub revision ``study.yaml`` pins for ``dataset`` (``hub_revisions``), or ``None``."""
    settings = study_settings() if settings is None else settings
    pins = settings.get("hub_revisions") or {}
    if not isinstance(pins, Mapping):
        raise PersonaJudgeError(
            "study.yaml: 'hub_revisions' must map dataset names to commit hashes (or null), "
            f"got {pins!r}")
    value = pins.get(dataset)
    return None if value in (None, "") else str(value)


def bad_row_share_setting(settings: Mapping[str, Any] | None = None) -> float:
    """The share of bad rows a study load tolerates per dataset (``max_bad_row_share``)."""
    settings = study_settings() if settings is None else settings
    value = settings.get("max_bad_row_share", DEFAULT_MAX_BAD_ROW_SHARE)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise PersonaJudgeError(
            f"setting 'max_bad_row_share' must be a share between 0 and 1 (e.g. 0.02), "
            f"got {value!r}")
    return float(value)


# -- revisions -------------------------------------------------------------------------
def read_revision_record(folder: Path) -> dict[str, Any] | None:
    """The revision record of a local copy (written at download or fixture time), if any."""
    path = Path(folder) / REVISION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise DataUnavailableError(f"{path} is not valid JSON; delete the copy {folder} and "
                                   "download it again") from None
    return record if isinstance(record, dict) else None


def write_revision_record(folder: Path, **record: Any) -> Path:
    path = Path(folder) / REVISION_FILE
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def revision_label(record: Mapping[str, Any] | None) -> str:
    """How a copy is named in chapters and the book: a commit, or the fixture's seed."""
    if record is None:
        return "unknown (local copy without a revision record)"
    if "fixture_seed" in record:
        return f"fixture (synthetic, seed {record['fixture_seed']})"
    resolved = record.get("resolved")
    requested = record.get("requested")
    if not resolved:
        return "unknown (revision record without a commit)"
    return resolved if requested in (None, resolved) else f"{resolved} (requested {requested})"


def dataset_revision(dataset: str, mode: Mode) -> str:
    """The revision of the local copy a load in ``mode`` reads (see :func:`revision_label`);
    for a constructed benchmark, a fingerprint of the construction's record."""
    if is_constructed(dataset):
        import hashlib

        from persona_judge.construction.output import constructed_dir

        record = constructed_dir(dataset.removeprefix("constructed_"), mode) / \
            "construction.json"
        if not record.is_file():
            return f"constructed ({mode}): not built yet"
        return f"constructed ({mode}, {hashlib.sha256(record.read_bytes()).hexdigest()[:12]})"
    return revision_label(read_revision_record(local_copy(dataset, mode)))


def check_copy_revision(folder: Path, dataset: str, pinned: str | None) -> None:
    """Refuse a local copy that is not the pinned revision (``None`` pins nothing)."""
    if pinned is None:
        return
    record = read_revision_record(folder)
    fix = (f"Delete {folder} to download revision {pinned}, or set `hub_revisions: "
           f"{{{dataset}: null}}` in study.yaml (or `-p`) to use the copy you have.")
    if record is None:
        raise RevisionMismatchError(
            f"{repo_id(dataset)}: study.yaml pins revision {pinned}, but the local copy {folder} "
            f"has no record of its revision ({REVISION_FILE}), so it may be other data. {fix}")
    resolved, requested = str(record.get("resolved") or ""), record.get("requested")
    if pinned in (resolved, requested) or (len(pinned) >= 7 and resolved.startswith(pinned)):
        return
    raise RevisionMismatchError(
        f"{repo_id(dataset)}: study.yaml pins revision {pinned}, but the local copy {folder} is "
        f"revision {revision_label(record)}. {fix}")


# -- download ---------------------------------------------------------------------------
def download(dataset: str, offline: bool | None = None, revision: str | None = None) -> Path:
    """Make sure the Hub dataset is on disk (download once) and return its folder.

    ``revision`` (default: the pin in ``study.yaml``; ``None`` there means "the
    revision the first download resolves") is resolved to a commit, downloaded,
    and recorded next to the data. An existing copy of another revision is
    refused (:func:`check_copy_revision`). ``offline`` (default: ``HF_HUB_OFFLINE``
    is set) never touches the network and raises naming the missing folder.
    """
    folder = local_copy(dataset, "real")
    pinned = revision if revision is not None else pinned_revision(dataset)
    if _is_populated(folder):
        check_copy_revision(folder, dataset, pinned)
        return folder
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    hint = (
        f"Either download it on a machine with internet access (run `persona-judge download "
        f"{dataset}` there and copy {folder} here), or run in smoke mode on generated "
        f"fixture data: `make study MODE=smoke` (or `-p mode smoke` with papermill).")
    if offline:
        raise DataUnavailableError(
            f"{repo_id(dataset)} is not in the local copy {folder} and offline mode is on "
            f"(HF_HUB_OFFLINE). {hint}")
    if folder.exists() and any(folder.iterdir()):
        raise DataUnavailableError(
            f"{folder} exists but holds no parquet files (an interrupted copy?); remove it and "
            "run again to download a fresh copy.")
    from huggingface_hub import HfApi, snapshot_download

    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    try:
        commit = pinned if pinned and _COMMIT.match(pinned) else \
            HfApi().dataset_info(repo_id(dataset), revision=pinned).sha
        # Into a side folder first, so an interrupted download never looks like a copy.
        snapshot_download(repo_id(dataset), repo_type="dataset", revision=commit,
                          local_dir=partial)
    except Exception as err:  # network, DNS, auth, missing repo or revision: all end here
        shutil.rmtree(partial, ignore_errors=True)
        first_line = str(err).splitlines()[0] if str(err) else ""
        raise DataUnavailableError(
            f"could not download {repo_id(dataset)} (revision {pinned or 'latest'}) from the "
            f"Hugging Face Hub ({type(err).__name__}: {first_line}) and there is no local copy "
            f"in {folder}. {hint}") from None
    write_revision_record(
        partial, repo_id=repo_id(dataset), requested=pinned, resolved=commit,
        downloaded=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if folder.exists():
        folder.rmdir()  # empty (checked above)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(folder)
    return folder


# -- reading ----------------------------------------------------------------------------
def parquet_parts(folder: Path) -> list[tuple[Path, str]]:
    """The copy's parquet files in a stable order, each with its Hub split name.

    The split name is the file-name prefix of the Hub's layout
    (``data/<split>-00000-of-00001.parquet``); a file that does not follow it
    gets its stem. Hidden folders (``.cache`` of ``huggingface_hub``) are ignored.
    """
    files = sorted(p for p in Path(folder).rglob("*.parquet")
                   if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    out = []
    for path in files:
        match = _PART.match(path.name)
        out.append((path, match.group("split") if match else path.stem))
    return out


def _rows(path: Path, hub_split: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    for number, raw in enumerate(pq.read_table(path).to_pylist(), start=1):
        if not raw.get("split") and hub_split in HUB_SPLITS:
            raw["split"] = HUB_SPLITS[hub_split]
        yield number, raw


def read_local_dataset(folder: Path, source: str, on_error: OnError = "raise") -> LoadReport:
    """Read every parquet file of a local dataset folder and validate its rows into one report.

    Rows are numbered within their file (1-based) and errors name the file; pair
    ids are checked to be unique across all files.
    """
    folder = Path(folder)
    if not _is_populated(folder):
        raise DataUnavailableError(f"{source}: no parquet files under {folder}")
    report = LoadReport(source)
    for path, hub_split in parquet_parts(folder):
        name = path.relative_to(folder).as_posix()
        validate_rows(_rows(path, hub_split), f"{source}, file {name}", on_error,
                      report=report, part=hub_split)
    return report


def load_benchmark(
    dataset: str,
    mode: Mode = "real",
    *,
    offline: bool | None = None,
    on_error: OnError = "raise",
    revision: str | None = None,
    max_bad_row_share: float | None = None,
) -> LoadReport:
    """Load one PersonalRewardBench dataset as validated ``Preference`` records.

    ``mode="smoke"`` reads the fixture copy (generated on first use, and again when
    an older generator wrote it);
    ``mode="real"`` reads the Hub copy of the pinned ``revision`` (default:
    ``study.yaml``), downloading it once. With ``on_error="skip"`` and
    ``max_bad_row_share`` (a share, e.g. 0.02) the load fails if more than that share
    of rows is bad. ``report.revision`` names the copy that was read.
    """
    if is_constructed(dataset):
        return load_constructed_benchmark(dataset, mode, on_error=on_error,
                                          max_bad_row_share=max_bad_row_share)
    if mode == "smoke":
        from persona_judge.data.fixtures import fixture_fingerprint, write_fixture

        folder = local_copy(dataset, "smoke")
        record = read_revision_record(folder) if folder.is_dir() else None
        if not _is_populated(folder) or \
                (record or {}).get("fingerprint") != fixture_fingerprint(dataset):
            write_fixture(dataset, folder)  # first use, or written by other generator code
        source = f"fixture copy of {repo_id(dataset)} (smoke run)"
    elif mode == "real":
        folder = download(dataset, offline=offline, revision=revision)
        source = repo_id(dataset)
    else:
        raise ValueError(f"mode must be 'real' or 'smoke', got {mode!r}")
    report = read_local_dataset(folder, source, on_error=on_error)
    report.revision = revision_label(read_revision_record(folder))
    if on_error == "skip" and max_bad_row_share is not None:
        check_bad_row_share(report, max_bad_row_share)
    return report


def load_constructed_benchmark(dataset: str, mode: Mode = "real", *, on_error: OnError = "raise",
                               max_bad_row_share: float | None = None) -> LoadReport:
    """A benchmark chapter 00 rebuilt from the raw sources, read like a published one.

    ``constructed_<source>`` lives in ``<data>/constructed/<mode>/constructed_<source>``
    (:func:`persona_judge.construction.output.constructed_dir`) in the published layout; a
    missing one is an error saying how to build it.
    """
    from persona_judge.construction.output import constructed_dir

    source = dataset.removeprefix("constructed_")
    folder = constructed_dir(source, mode)
    if not _is_populated(folder):
        raise DataUnavailableError(
            f"{dataset} has not been built in {mode} mode: no parquet files under {folder}. "
            f"Build it first with chapter 00: `persona-judge run --only "
            f"00_benchmark_construction -p mode={mode}`.")
    report = read_local_dataset(folder, f"{dataset} ({mode} construction)", on_error=on_error)
    report.revision = f"constructed by chapter 00 ({mode}) in {folder}"
    if on_error == "skip" and max_bad_row_share is not None:
        check_bad_row_share(report, max_bad_row_share)
    return report
