"""nbval's outputs of record are current: same chapters, same code as notebooks/."""

import nbformat

from persona_judge.study import runner


def _code(nb):
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def _record_names(chapter) -> list[str]:
    """A chapter's record, or one per grid cell (``<chapter>--<cell>.ipynb``, as `record` names
    the pages under ``book/executed/<chapter>/``)."""
    from persona_judge.study.config import cell_slug, expand

    if not chapter.grid:
        return [f"{chapter.name}.ipynb"]
    return [f"{chapter.name}--{cell_slug(run.cell)}.ipynb" for run in expand(chapter)]


def test_every_chapter_has_a_smoke_record_with_the_same_code():
    config = runner.load_config()
    for chapter in runner.chapters(config):
        for name in _record_names(chapter):
            record = runner.records_dir() / name
            assert record.is_file(), f"no record {name} for {chapter.name}: run `make record`"
            recorded = nbformat.read(record, as_version=4)
            assert _code(recorded) == _code(nbformat.read(chapter.source, as_version=4)), \
                f"{record.name} is older than notebooks/{chapter.name}.ipynb: run `make record`"
            injected = [c for c in recorded.cells
                        if "injected-parameters" in c.metadata.get("tags", [])]
            assert injected and 'mode = "smoke"' in injected[0].source, \
                f"{record.name} must be a smoke run (nbval re-executes it without an endpoint)"


def test_records_keep_the_outputs_cells_printed():
    """A record is the notebook as executed, not the book's page: the page folds run logs
    out of cell outputs (into a "Run details" box), which nbval would then miss."""
    for record in sorted(runner.records_dir().glob("*.ipynb")):
        nb = nbformat.read(record, as_version=4)
        assert not [c for c in nb.cells if c.get("id") == "run-details"], \
            f"{record.name} is a book page (logs folded away): run `make record`"
        summaries = [c for c in nb.cells if c.cell_type == "code"
                     and "client.summary()" in c.source and "print(" in c.source]
        for cell in summaries:
            assert any(o.get("output_type") == "stream" for o in cell.outputs), \
                f"{record.name}: the cell printing the client's summary has no output of record"
