"""The raw sources PersonalRewardBench was built from, downloaded once at a known revision.

Two Hugging Face Hub datasets feed the construction chapter:

* **PRISM** (``HannahRoseKirk/prism-alignment``): ``survey.jsonl`` (one row per
  participant) and ``conversations.jsonl`` (one row per conversation tree);
  public.
* **Chatbot Arena** (``lmsys/chatbot_arena_conversations``): 33k pairwise votes in
  ``data/train-*.parquet``; **gated**: a person must accept its terms on the
  dataset page and pass a read token.

Real mode downloads a source once with ``huggingface_hub.snapshot_download`` into
``<data>/hub/<repo_id>`` and reads the local files from then on. The revision is
pinned: ``revision`` is a commit hash (``study.yaml``: ``raw_revisions``) or
``None``, meaning "whatever the Hub serves now"; either way it is first resolved
to a commit, the files of that commit are downloaded, and the commit is written
beside the copy (``.persona_judge_source.json``, written last, so an interrupted
download is never mistaken for a complete copy). A later run that pins a
different commit than the local copy holds stops with a message instead of
silently mixing data.

The token: ``huggingface_hub`` reads ``HF_TOKEN`` from the environment itself; this
module never reads, passes, logs or writes it, and strips it from any error text
it re-raises. A refused gated download ends in :class:`GatedSourceError`, naming
the dataset page to accept and the variable to set.

Smoke mode never touches the network: :mod:`persona_judge.data.raw_fixtures`
writes seeded, visibly synthetic copies with the same files and schemas into
``<data>/fixtures/raw/<repo_id>``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError

Mode = Literal["real", "smoke"]
TOKEN_ENV = "HF_TOKEN"
RECORD_FILE = ".persona_judge_source.json"


@dataclass(frozen=True)
class RawSource:
    """One raw dataset on the Hub: where it lives and which of its files the study needs."""

    name: str
    repo_id: str
    gated: bool
    files: tuple[str, ...]  # glob patterns (``allow_patterns`` of snapshot_download)

    @property
    def page(self) -> str:
        return f"https://huggingface.co/datasets/{self.repo_id}"


RAW_SOURCES: dict[str, RawSource] = {
    # utterances.jsonl repeats conversations.jsonl in long form, and metadata.jsonl holds
    # language/PII flags the construction does not use: neither is downloaded.
    "prism": RawSource("prism", "HannahRoseKirk/prism-alignment", False,
                       ("survey.jsonl", "conversations.jsonl", "README.md")),
    "chatbot_arena": RawSource("chatbot_arena", "lmsys/chatbot_arena_conversations", True,
                               ("data/*.parquet", "README.md")),
}


class RawSourceError(PersonaJudgeError, ValueError):
    """A raw source file is malformed; the message names the file, line or row, and field."""


class RawSourceUnavailableError(PersonaJudgeError, RuntimeError):
    """A raw source is neither on disk nor downloadable; the message says what to do."""


class GatedSourceError(RawSourceUnavailableError, PermissionError):
    """The Hub refused a gated dataset: the terms are not accepted or no token was given."""


@dataclass(frozen=True)
class RawCopy:
    """A raw source on disk: the folder and the revision its files come from."""

    source: RawSource
    folder: Path
    revision: str
    mode: Mode

    def describe(self) -> str:
        if self.mode == "smoke":
            return f"{self.source.repo_id}: {self.revision}"
        return f"{self.source.repo_id} @ {self.revision}"


def raw_source(name: str) -> RawSource:
    try:
        return RAW_SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown raw source {name!r}; expected one of "
                         f"{', '.join(RAW_SOURCES)}") from None


def raw_copy_dir(name: str, mode: Mode) -> Path:
    """Where a raw source's local copy lives for a run mode (it may not exist yet)."""
    base = paths.fixtures_dir() / "raw" if mode == "smoke" else paths.hub_dir()
    return base / raw_source(name).repo_id


def read_record(folder: Path) -> dict | None:
    """The download record beside a local copy, or None if the copy is absent or partial."""
    record = folder / RECORD_FILE
    if not record.is_file():
        return None
    try:
        data = json.loads(record.read_text())
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("commit") else None


def write_record(folder: Path, source: RawSource, commit: str, requested: str | None,
                 note: str = "") -> None:
    data = {"repo_id": source.repo_id, "commit": commit, "requested_revision": requested,
            "downloaded_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")}
    if note:
        data["note"] = note
    (folder / RECORD_FILE).write_text(json.dumps(data, indent=2) + "\n")


def _token_is_set() -> bool:
    return bool(os.environ.get(TOKEN_ENV, "").strip())


def _scrub(text: str) -> str:
    """Error text without the token, whatever a library put into it."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    return text.replace(token, "[HF_TOKEN]") if token else text


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return _scrub(f"{type(err).__name__}: {text[0] if text else ''}")


def gated_message(source: RawSource, err: BaseException | None = None) -> str:
    state = (f"{TOKEN_ENV} is set, but the account it belongs to has not been granted access"
             if _token_is_set() else f"{TOKEN_ENV} is not set")
    why = f" ({_first_line(err)})" if err is not None else ""
    return (
        f"the Hugging Face Hub refused access to the gated dataset {source.repo_id}{why}; "
        f"{state}. To get access: log in at huggingface.co, open {source.page} and accept its "
        f"terms, create a read token at https://huggingface.co/settings/tokens, and set it in "
        f"the environment (export {TOKEN_ENV}=hf_...), never in study.yaml or a notebook. "
        f"Without access, run the construction in smoke mode (make study MODE=smoke) or "
        f"leave this source out (sources parameter)."
    )


def download_raw(
    name: str,
    revision: str | None = None,
    *,
    offline: bool | None = None,
    endpoint: str | None = None,
    progress: bool = True,
) -> RawCopy:
    """Make sure a raw source is on disk at ``revision`` (download once) and return it.

    ``revision`` is a commit hash, a branch, or None (the Hub's current ``main``,
    resolved to its commit and recorded). ``offline`` (default: ``HF_HUB_OFFLINE``
    is set) never touches the network. ``endpoint`` overrides ``HF_ENDPOINT``.
    """
    source = raw_source(name)
    folder = raw_copy_dir(name, "real")
    record = read_record(folder)
    if record is not None:
        have = str(record["commit"])
        if revision is not None and revision != have and revision != record.get(
                "requested_revision"):
            raise RawSourceUnavailableError(
                f"the local copy of {source.repo_id} in {folder} is commit {have}, but the study "
                f"pins revision {revision} (raw_revisions in study.yaml). Delete {folder} to "
                f"download the pinned revision, or set the pin to {have} (or null) to keep "
                f"the copy you have.")
        return RawCopy(source, folder, have, "real")
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    hint = (f"Either download it on a machine with internet access (run the construction "
            f"chapter there and copy {folder} here), or run in smoke mode on generated "
            f"fixture data (make study MODE=smoke).")
    if offline:
        raise RawSourceUnavailableError(
            f"{source.repo_id} is not in the local copy {folder} and offline mode is on "
            f"(HF_HUB_OFFLINE). {hint}")
    commit = _fetch(source, revision, folder, endpoint, progress, hint)
    write_record(folder, source, commit, revision)
    return RawCopy(source, folder, commit, "real")


def _fetch(source: RawSource, revision: str | None, folder: Path, endpoint: str | None,
           progress: bool, hint: str) -> str:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
    from huggingface_hub.utils import (
        are_progress_bars_disabled,
        disable_progress_bars,
        enable_progress_bars,
    )
    from tqdm import tqdm

    class _Quiet(tqdm):  # type: ignore[misc]
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    def refused(err: BaseException) -> bool:
        if isinstance(err, GatedRepoError):
            return True
        status = getattr(getattr(err, "response", None), "status_code", None)
        return source.gated and isinstance(err, HfHubHTTPError) and status in (401, 403)

    # The Hub's per-file bars are tqdm.auto widgets (they need CDN scripts in the offline
    # book): off while we download; one plain-text bar counts the files instead.
    bars_were_off = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        # Resolve first, then download exactly that commit: the files and the recorded
        # revision can never disagree, even if the repository changes mid-download.
        info = HfApi(endpoint=endpoint).dataset_info(source.repo_id, revision=revision)
        commit = str(info.sha)
        snapshot_download(
            source.repo_id, repo_type="dataset", revision=commit, local_dir=folder,
            allow_patterns=list(source.files), endpoint=endpoint,
            # Plain text bars: tqdm.auto's notebook widgets need CDN scripts (offline book).
            tqdm_class=tqdm if progress else _Quiet)
    except Exception as err:  # noqa: BLE001 - every failure ends in one clear message below
        if refused(err):
            raise GatedSourceError(gated_message(source, err)) from None
        if isinstance(err, RepositoryNotFoundError) and source.gated:
            raise GatedSourceError(gated_message(source, err)) from None
        raise RawSourceUnavailableError(
            f"could not download {source.repo_id} (revision {revision or 'main'}) from the "
            f"Hugging Face Hub ({_first_line(err)}). {hint}") from None
    finally:
        if not bars_were_off:
            enable_progress_bars()
    return commit


def smoke_copy(name: str, writer: Callable[[Path], str], expected: str | None = None
               ) -> RawCopy:
    """The fixture copy of a raw source, written by ``writer(folder) -> description``: once,
    and again whenever the copy's description differs from ``expected`` (other generator
    code wrote it)."""
    source = raw_source(name)
    folder = raw_copy_dir(name, "smoke")
    record = read_record(folder)
    if record is not None and expected is not None and record.get("commit") != expected:
        shutil.rmtree(folder)  # generated data: replace it whole
        record = None
    if record is None:
        folder.mkdir(parents=True, exist_ok=True)
        description = writer(folder)
        write_record(folder, source, description, None, note="synthetic fixture")
        record = read_record(folder)
        assert record is not None
    return RawCopy(source, folder, str(record["commit"]), "smoke")


def raw_copy(name: str, mode: Mode, revision: str | None = None, **download_args) -> RawCopy:
    """The local copy of a raw source for a run mode: Hub download or generated fixture."""
    if mode == "smoke":
        from persona_judge.data import raw_fixtures

        return smoke_copy(name, raw_fixtures.FIXTURE_WRITERS[name],
                          raw_fixtures.fixture_description(name))
    if mode != "real":
        raise ValueError(f"mode must be 'real' or 'smoke', got {mode!r}")
    return download_raw(name, revision, **download_args)
