"""Each chapter has one source: a plain .ipynb in notebooks/, kept free of outputs.

People edit these in Jupyter or any editor; the runner executes copies with papermill.
A source with outputs, execution counts or a second parameters cell would make diffs
noisy and papermill's parameter injection ambiguous.
"""

import nbformat
import pytest

from persona_judge.paths import project_root

SOURCES = sorted((project_root() / "notebooks").glob("*.ipynb"))


def test_there_are_chapter_sources():
    assert SOURCES, "notebooks/ holds no chapter sources"


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_chapter_source_is_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", path.name
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [], f"{path.name}: cell {cell.id} has stored outputs"
        assert cell.execution_count is None, f"{path.name}: cell {cell.id} has an execution count"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate cell ids"
