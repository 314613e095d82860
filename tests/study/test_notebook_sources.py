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


def _labels(nb) -> set[str]:
    """The labels a chapter's tables (``display.table(name="x")`` → ``tbl-x``) and captioned
    figures (``mystnb.figure.name``) get in the book."""
    import re

    found = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            found |= {f"tbl-{n}" for n in re.findall(r'\bname="([a-z0-9-]+)"', cell.source)}
            figure = cell.metadata.get("mystnb", {}).get("figure", {})
            if figure.get("name"):
                found.add(figure["name"])
    return found


def test_every_reference_in_a_chapters_prose_names_a_table_or_figure_of_the_study():
    import re

    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in SOURCES}
    labels = set().union(*map(_labels, notebooks.values()))
    assert {"tbl-run-cost", "tbl-headline", "fig-setting-accuracy"} <= labels
    referenced = 0
    for name, nb in notebooks.items():
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for label in re.findall(r"\{numref\}`(?:[^`<]*<)?([^`>]+)>?`", cell.source):
                assert label in labels, f"{name}: {{numref}} `{label}` names no table or figure"
                referenced += 1
    assert referenced >= 10
