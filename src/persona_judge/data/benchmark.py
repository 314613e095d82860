"""PersonalRewardBench loaders: the two published datasets, from the Hub or from fixtures.

Real mode downloads a dataset repository once from the Hugging Face Hub into
``data/hub/<repo_id>`` (``huggingface_hub.snapshot_download``) and reads it with
``datasets.load_dataset`` on that local folder. Smoke mode reads a generated
fixture copy with the same layout from ``data/fixtures/<repo_id>`` through the
very same ``read_local_dataset`` call, so tests and smoke runs exercise the code
path that real data takes.

The per-user split (train / val / test) is the row's own ``split`` column; the
Hub repository's own split names are only a fallback for rows without one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from persona_judge import paths
from persona_judge.data.validation import LoadReport, OnError, validate_rows
from persona_judge.errors import PersonaJudgeError

Mode = Literal["real", "smoke"]

BENCHMARKS: dict[str, str] = {
    "chatbot_arena": "MichaelR207/chatbot_arena_personalized_0125",
    "prism": "MichaelR207/prism_personalized_0125",
}
# Users per dataset in the published benchmark (paper, Section 3).
PAPER_USER_COUNTS = {"chatbot_arena": 131, "prism": 723}
_HF_SPLIT_TO_SPLIT = {"train": "train", "validation": "val", "val": "val", "test": "test"}


class DataUnavailableError(PersonaJudgeError, RuntimeError):
    """The benchmark is neither cached locally nor reachable; the message says what to do."""


def repo_id(dataset: str) -> str:
    try:
        return BENCHMARKS[dataset]
    except KeyError:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(BENCHMARKS)}") from None


def local_copy(dataset: str, mode: Mode) -> Path:
    """Where a dataset's local copy lives for a run mode (it may not exist yet)."""
    base = paths.fixtures_dir() if mode == "smoke" else paths.hub_dir()
    return base / repo_id(dataset)


def _is_populated(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*.parquet"))


def download(dataset: str, offline: bool | None = None) -> Path:
    """Make sure the Hub dataset is on disk (download once) and return its folder.

    ``offline`` (default: ``HF_HUB_OFFLINE`` is set) never touches the network and
    raises naming the missing folder instead.
    """
    folder = local_copy(dataset, "real")
    if _is_populated(folder):
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
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(repo_id(dataset), repo_type="dataset", local_dir=folder)
    except Exception as err:  # network, DNS, auth, missing repo: all end the same way here
        raise DataUnavailableError(
            f"could not download {repo_id(dataset)} from the Hugging Face Hub "
            f"({type(err).__name__}: {str(err).splitlines()[0]}) and there is no local copy "
            f"in {folder}. {hint}") from None
    return folder


def read_local_dataset(folder: Path, source: str, on_error: OnError = "raise") -> LoadReport:
    """Read every split of a local dataset folder with ``datasets`` and validate its rows."""
    import datasets

    if not _is_populated(folder):
        raise DataUnavailableError(f"{source}: no parquet files under {folder}")
    dataset_dict = datasets.load_dataset(str(folder))

    def rows():
        number = 0
        for hf_split, table in dataset_dict.items():
            for raw in table:
                number += 1
                if not raw.get("split"):
                    raw["split"] = _HF_SPLIT_TO_SPLIT.get(hf_split, hf_split)
                yield number, raw

    return validate_rows(rows(), source, on_error=on_error)


def load_benchmark(
    dataset: str,
    mode: Mode = "real",
    *,
    offline: bool | None = None,
    on_error: OnError = "raise",
) -> LoadReport:
    """Load one PersonalRewardBench dataset as validated ``Preference`` records.

    ``mode="smoke"`` reads (and, the first time, generates) the fixture copy;
    ``mode="real"`` reads the Hub copy, downloading it once.
    """
    if mode == "smoke":
        from persona_judge.data.fixtures import write_fixture

        folder = local_copy(dataset, "smoke")
        if not _is_populated(folder):
            write_fixture(dataset, folder)
        source = f"fixture copy of {repo_id(dataset)} (smoke run)"
    elif mode == "real":
        folder = download(dataset, offline=offline)
        source = repo_id(dataset)
    else:
        raise ValueError(f"mode must be 'real' or 'smoke', got {mode!r}")
    return read_local_dataset(folder, source, on_error=on_error)
