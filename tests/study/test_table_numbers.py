"""Tables a chapter prints are numbered within their page and can be cross-referenced.

A real (small) Sphinx build with the book's extension, of pages shaped like the study's:
numbered titles, Styler tables as raw HTML (what myst-nb makes of a ``display.table``),
a figure, and ``numref`` references across pages. The smoke book's own tables are checked
in tests/study/test_book.py.
"""

import re

import nbformat
import pandas as pd
import pytest
from sphinx.cmd.build import build_main

from persona_judge.study import display, pages


def _raw_table(name: str, caption: str, value: int) -> str:
    html = display.table(pd.DataFrame({"user_id": ["u1"], "value": [value]}), name=name,
                         caption=caption).to_html()
    return ".. raw:: html\n\n" + "\n".join("   " + line for line in html.splitlines()) + "\n"


def _page(title: str, *blocks: str) -> str:
    return f"{title}\n{'=' * len(title)}\n\n" + "\n\n".join(blocks) + "\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "conf.py").write_text(
        "extensions = ['persona_judge.study.sphinx_ext']\nnumfig = True\n"
        "numfig_format = {'figure': 'Figure %s', 'table': 'Table %s', "
        "'code-block': 'Listing %s', 'section': 'Section %s'}\n")
    (src / "index.rst").write_text(_page("A study", ".. toctree::\n\n   one\n   two\n   notes"))
    (src / "one.rst").write_text(_page(
        "5.3 Main results",
        _raw_table("accuracy", "Accuracy by method", 1),
        ".. figure:: dot.png\n   :name: fig-dots\n\n   Dots.",
        _raw_table("run-cost", "What each stage spent", 2),
        _raw_table("run-cost", "The same name again", 3),
        "See :numref:`tbl-run-cost` and :numref:`tbl-scaling`."))
    (src / "two.rst").write_text(_page(
        "7. Scaling", _raw_table("scaling", "Accuracy at each k", 4),
        "Compare :numref:`tbl-accuracy` with :numref:`fig-dots`, not :numref:`tbl-gone`."))
    (src / "notes.rst").write_text(_page("Notes", _raw_table("notes", "A note's table", 5)))
    (src / "dot.png").write_bytes(b"")
    out = tmp_path_factory.mktemp("html")
    warnings = out / "warnings.txt"
    assert build_main(["-b", "html", "-q", "-w", str(warnings), str(src), str(out)]) == 0
    return out, warnings.read_text()


def _numbers(page: str) -> list[tuple[str, str]]:
    """(element id, its number) for every numbered table and figure, in page order."""
    found = re.findall(r'id="((?:tbl|fig)-[a-z0-9-]+)".*?<span class="caption-number">'
                       r"(\w+ [\d.]+) </span>", page, re.S)
    return found


def test_tables_and_figures_are_numbered_after_their_pages_number(built):
    out, warnings = built
    assert "duplicate" not in warnings and "undefined label" not in warnings, warnings
    one = (out / "one.html").read_text()
    assert _numbers(one) == [("tbl-accuracy", "Table 5.3.1"), ("fig-dots", "Figure 5.3.1"),
                             ("tbl-run-cost", "Table 5.3.2"), ("tbl-run-cost-2", "Table 5.3.3")]
    assert _numbers((out / "two.html").read_text()) == [("tbl-scaling", "Table 7.1")]
    # a page without a number counts its own tables from 1
    assert _numbers((out / "notes.html").read_text()) == [("tbl-notes", "Table 1")]


def test_a_caption_keeps_its_text_and_links_to_its_table(built):
    out, _ = built
    one = (out / "one.html").read_text()
    assert re.search(r'<div class="reader-table" id="tbl-accuracy">\s*<style', one)
    caption = re.search(r'id="T_accuracy".*?<caption>(.*?)</caption>', one, re.S)[1]
    text = re.sub(r"<[^>]+>", "", caption)
    assert text == "Table 5.3.1 Accuracy by method#"
    assert 'href="#tbl-accuracy" title="Link to this table"' in caption
    assert one.count("<table") == 3  # every table kept, none doubled


def test_references_resolve_to_the_numbered_table_on_any_page(built):
    out, _ = built
    links = dict(re.findall(r'href="([^"]+)"><span class="std std-numref">([^<]+)</span>',
                            (out / "one.html").read_text()
                            + (out / "two.html").read_text()))
    assert links == {"#tbl-run-cost": "Table 5.3.2", "two.html#tbl-scaling": "Table 7.1",
                     "one.html#tbl-accuracy": "Table 5.3.1", "one.html#fig-dots": "Figure 5.3.1"}


def _grid_page(tmp_path, name):
    table = display.table(pd.DataFrame({"x": [1]}), name="run-cost", caption="Spend")
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("show.table(...)", metadata={
        "mystnb": {"figure": {"name": "fig-accuracy", "caption": "c"}}})
    code.outputs = [nbformat.v4.new_output("display_data", data={
        "text/html": table.to_html(), "text/plain": repr(table)})]
    nb.cells = [nbformat.v4.new_markdown_cell(
        "# Main results\n\nSee {numref}`tbl-run-cost`, {numref}`Spend <tbl-run-cost>`, "
        "{numref}`fig-accuracy` and {numref}`tbl-paper-code-study`."), code]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("suffix", ["01", "04"])
def test_a_grid_pages_labels_and_its_own_references_get_its_place(tmp_path, suffix):
    path = _grid_page(tmp_path, suffix)
    pages.finish_page(path, "05_main_results", {}, {"mode": "smoke"}, {"dataset": "prism"},
                      label_suffix=suffix, number=str(int(suffix)))
    nb = nbformat.read(path, as_version=4)
    html = nb.cells[-1].outputs[0]["data"]["text/html"]
    assert f'<table id="T_run-cost-{suffix}"' in html
    # every id and style rule of the table moved with it: none still names the bare id
    assert not re.search(r"T_run-cost(?!-" + suffix + ")", html)
    assert nb.cells[-1].metadata["mystnb"]["figure"]["name"] == f"fig-accuracy-{suffix}"
    prose = next(c.source for c in nb.cells if "numref" in c.source)
    # references to this page's labels follow them; a label on another page is left alone
    assert (f"{{numref}}`tbl-run-cost-{suffix}`" in prose
            and f"{{numref}}`Spend <tbl-run-cost-{suffix}>`" in prose
            and f"{{numref}}`fig-accuracy-{suffix}`" in prose
            and "{numref}`tbl-paper-code-study`" in prose)


def test_a_reference_to_a_table_of_a_chapter_that_did_not_run_says_so(built):
    out, warnings = built
    two = (out / "two.html").read_text()
    assert "<em>a table this run did not compute</em>" in two and "tbl-gone" not in two
    assert "tbl-gone" not in warnings
