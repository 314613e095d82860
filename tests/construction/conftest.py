"""Shared setup for the construction tests: the helpers in this folder are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_datasets_cache(tmp_path, monkeypatch):
    """A fresh ``datasets`` cache per test.

    ``datasets.load_dataset(folder)`` caches by the folder's name, so two constructions
    written to folders of the same name (``constructed_prism``) would read each other's
    rows; the benchmark loader's own fix (issue #7) makes this unnecessary.
    """
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
