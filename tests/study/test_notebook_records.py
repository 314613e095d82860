"""nbval's outputs of record are current: same chapters, same code as notebooks/."""

import nbformat

from persona_judge.study import runner


def _code(nb):
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def test_every_chapter_has_a_smoke_record_with_the_same_code():
    config = runner.load_config()
    for chapter in runner.chapters(config):
        record = runner.records_dir() / f"{chapter.name}.ipynb"
        assert record.is_file(), f"no record for {chapter.name}: run `make record`"
        recorded = nbformat.read(record, as_version=4)
        assert _code(recorded) == _code(nbformat.read(chapter.source, as_version=4)), \
            f"{record.name} is older than notebooks/{chapter.name}.ipynb: run `make record`"
        injected = [c for c in recorded.cells
                    if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and 'mode = "smoke"' in injected[0].source, \
            f"{record.name} must be a smoke run (nbval re-executes it without an endpoint)"
