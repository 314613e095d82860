"""The real book build, from a smoke run, offline, into a temporary site (never the checkout).

The session fixture ``smoke_site`` (tests/conftest.py) runs the README's study command in
smoke mode once, plus ``--site``; these tests read the HTML it produced, and
``tests/browser`` opens the same build in a real browser.
"""

import html as htmllib
import re
from pathlib import Path


def _text(page_html: str) -> str:
    """What a reader reads: the page without tags and entities."""
    return htmllib.unescape(re.sub(r"<[^>]+>", "", page_html))


def _pages(site: Path) -> list[Path]:
    html = site / "_build" / "html"
    return sorted(html.glob("book/**/*.html")) + [html / "book" / "intro.html"]


def test_the_book_says_it_is_a_smoke_run_on_its_first_page_and_every_page(smoke_site):
    html = smoke_site / "_build" / "html"
    landing = (html / "book" / "intro.html").read_text()
    assert "This book was built from a SMOKE RUN" in landing
    for page in _pages(smoke_site):
        text = page.read_text()
        assert 'class="bd-header-announcement' in text, f"{page.name}: no status bar"
        assert "SMOKE RUN — not a result." in text, f"{page.name}: status bar lacks the mode"
    for page in (html / "book" / "executed").glob("*.html"):
        assert "SMOKE RUN — not a result" in page.read_text(), f"{page.name} lacks the banner"


def test_chapters_keep_their_figures_and_hide_their_plumbing(smoke_site):
    html = smoke_site / "_build" / "html"
    chapter = (html / "book" / "executed" / "01_benchmark.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.(?:png|svg))"', chapter)
    assert images, "the benchmark chapter lost its figure"
    for src in images:
        assert (html / "book" / "executed" / src).resolve().stat().st_size > 5_000
    text = _text(chapter)
    assert "Rerun this chapter" in text
    assert "persona-judge run --only 01_benchmark" in text
    # neither the defaults nor the injected values are shown as code: the box lists them
    assert "max_users = " not in text and "-p max_users None" in text


def test_no_page_pulls_scripts_from_a_cdn(smoke_site):
    for page in _pages(smoke_site):
        text = page.read_text()
        for cdn in ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com"):
            assert f'src="https://{cdn}' not in text, f"{page.name} loads a script from {cdn}"


# --- the landing page's verdicts, the run each page comes from, the chapters' numbers -------

import json  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402

from persona_judge.study import book, pages, verdicts  # noqa: E402


def _glued_page(path: Path, key: str, value) -> None:
    """An executed page that glued ``value`` under ``key`` (the form myst_nb writes)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue")
    text = value if isinstance(value, str) else json.dumps(value)
    prefix = "application/papermill.record/"  # the form myst_nb.glue writes
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={f"{prefix}text/plain": repr(text)},
        metadata={"scrapbook": {"name": key, "mime_prefix": prefix}})]
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter"), cell]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _claim(key: str) -> verdicts.Claim:
    return next(c for c in verdicts.CLAIMS if c.key == key)


@pytest.mark.parametrize(("key", "record", "word"), [
    ("claim_headline", {"value": 60.0, "low": 55.0, "high": 65.0}, verdicts.REPRODUCED),
    ("claim_headline", {"value": 58.0, "low": 55.0, "high": 61.9}, verdicts.NOT_REPRODUCED),
    ("claim_headline", {"value": 64.0, "low": 62.0, "high": 66.0}, verdicts.NOT_REPRODUCED),
    ("claim_scaling", {"value": 0.5, "low": 0.1, "high": 0.9}, verdicts.REPRODUCED),
    ("claim_scaling", {"value": 0.2, "low": 0.1, "high": 0.7}, verdicts.NOT_REPRODUCED),
    ("claim_alignment", {"value": 57.0, "low": 52.0, "high": 62.0, "reference": 47.0},
     verdicts.REPRODUCED),
    ("claim_alignment", {"value": 50.0, "low": 46.0, "high": 54.0, "reference": 47.0},
     verdicts.NOT_REPRODUCED),
    ("claim_transfer", {"value": -1.0, "low": -4.0, "high": 2.0}, verdicts.REPRODUCED),
    ("claim_transfer", {"value": -5.0, "low": -8.0, "high": -1.0}, verdicts.NOT_REPRODUCED),
    ("claim_reward_model", {"value": 72.0, "low": 70.0, "high": 74.0}, verdicts.REPRODUCED),
])
def test_a_real_runs_verdict_follows_the_claims_rule(key, record, word):
    assert verdicts.verdict(_claim(key), {**record, "smoke": False}, "p").word == word


def test_a_smoke_runs_verdict_is_never_a_finding_and_a_missing_record_is_not_run():
    for claim in verdicts.CLAIMS:
        inside = {"value": 61.0, "low": -100.0, "high": 100.0, "reference": -200.0}
        assert verdicts.verdict(claim, {**inside, "smoke": True}, "p").word == verdicts.SMOKE
        assert verdicts.verdict(claim, None, None).word == verdicts.NOT_RUN


def test_verdicts_are_read_from_whichever_page_glued_them(tmp_path):
    executed = tmp_path / "executed"
    _glued_page(executed / "06_paper_comparison.ipynb", "claim_headline",
                {"value": 61.0, "low": 58.0, "high": 64.5, "smoke": False})
    _glued_page(executed / "07_scaling.ipynb", "claim_scaling",
                {"value": 2.0, "low": 1.5, "high": 2.5, "smoke": False})
    _glued_page(executed / "deep" / "10_reward_models.ipynb", "claim_reward_model",
                {"value": 71.0, "low": 69.0, "high": 73.0, "smoke": True})
    _glued_page(executed / "08_alignment.ipynb", "claim_alignment", pages.NOT_RUN)
    found = {v.claim.key: v for v in verdicts.collect(executed)}
    assert found["claim_headline"].word == verdicts.REPRODUCED
    assert found["claim_headline"].this_run == "61.0 [58.0, 64.5]"
    assert found["claim_headline"].page == "06_paper_comparison"
    assert found["claim_scaling"].word == verdicts.NOT_REPRODUCED
    assert found["claim_scaling"].this_run == "+2.0 [+1.5, +2.5]"
    assert found["claim_reward_model"].word == verdicts.SMOKE
    assert found["claim_reward_model"].page == "deep/10_reward_models"
    assert found["claim_alignment"].word == verdicts.NOT_RUN  # a placeholder's "not run"
    assert found["claim_transfer"].word == verdicts.NOT_RUN and found["claim_transfer"].page is None
    html = verdicts.verdicts_markdown(list(found.values()), {})
    assert html.count("<tr>") == len(verdicts.CLAIMS) + 1
    # a verdict opens its evidence table; a claim that was not run has no evidence to open
    assert '<a href="executed/06_paper_comparison.html#tbl-headline">reproduced</a>' in html
    assert '<a href="executed/deep/10_reward_models.html#tbl-rm-accuracy">smoke' in html
    assert 'class="verdict-none">not run</td>' in html and "#tbl-alignment" not in html
    record = {"value": None, "low": None, "high": None, "smoke": False}
    stopped = verdicts.verdict(_claim("claim_alignment"), record, "08_alignment")
    assert stopped.word == verdicts.NOT_RUN
    assert '<a href="executed/08_alignment.html">not run</a>' in \
        verdicts.verdicts_markdown([stopped], {})


def test_glue_claim_refuses_an_unknown_key():
    with pytest.raises(KeyError, match="not a claim key"):
        verdicts.glue_claim("claim_headlines", 1, 0, 2, smoke=False)


def _entry(run: str, mode: str = "smoke", **settings) -> dict:
    return {"run": run, "mode": mode, "settings": settings, "status": "executed"}


def test_mixed_provenance_shows_in_the_status_bar_landing_page_and_verdicts(tmp_path):
    site = book.Site(tmp_path)
    _glued_page(site.executed_dir / "01_benchmark.ipynb", "benchmark_users", "4")
    _glued_page(site.executed_dir / "06_paper_comparison.ipynb", "claim_headline",
                {"value": 61.0, "low": 58.0, "high": 64.5, "smoke": True})
    first = "2026-12-05T10:00:00+00:00"
    book.record_provenance(site, {"01_benchmark": _entry(first, max_users=20, seed=0),
                                  "06_paper_comparison": _entry(first, max_users=20)})
    config = {"mode": "smoke", "model": "m", "max_users": 5, "seed": 0}
    assert "pages from" not in book.announcement(config, book.read_provenance(site))
    assert "run of 2026-12-05 10:00 UTC" in book.announcement(config, book.read_provenance(site))
    later = "2026-12-05T11:30:00+00:00"
    book.record_provenance(site, {"01_benchmark": _entry(later, max_users=5, seed=0)})
    provenance = book.read_provenance(site)
    assert provenance["06_paper_comparison"]["run"] == first  # the earlier page stays
    bar = book.announcement(config, provenance)
    assert "pages from 2 runs" in bar
    book.write_status(site, config, ["01_benchmark"], {})
    status = (site.generated_dir / "run_status.md").read_text()
    assert "come from 2 runs" in status
    assert "01_benchmark: Computed in the smoke run of 2026-12-05 11:30 UTC with max_users=5" \
        in status
    assert "06_paper_comparison: Computed in the smoke run of 2026-12-05 10:00 UTC with " \
        "max_users=20" in status
    table = (site.generated_dir / "verdicts.md").read_text()
    assert "(run of 2026-12-05 10:00 UTC)" in table  # the headline's run is named


def test_a_page_no_longer_on_disk_leaves_the_provenance(tmp_path):
    site = book.Site(tmp_path)
    _glued_page(site.executed_dir / "a.ipynb", "x", "1")
    book.record_provenance(site, {"a": _entry("2026-12-05T10:00:00+00:00"),
                                  "gone": _entry("2026-12-05T09:00:00+00:00")})
    assert set(book.read_provenance(site)) == {"a"}


@pytest.mark.parametrize(("name", "number"), [("00_benchmark_construction", "0"),
                                              ("05_main_results", "5"),
                                              ("11_theta_optimisation", "11"), ("notes", "")])
def test_a_chapters_number_comes_from_its_file_name(name, number):
    assert pages.chapter_number(name) == number


def test_titles_are_numbered_once_and_grid_pages_within_their_chapter():
    assert pages.numbered_title("# Main results", "5") == "# 5. Main results"
    assert pages.numbered_title("# 5. Main results", "5") == "# 5. Main results"
    assert pages.numbered_title("# Main results: prism, 3B", "5.2") == \
        "# 5.2 Main results: prism, 3B"
    assert pages.numbered_title("No heading", "5") == "No heading"


def test_a_finished_page_has_its_number_its_run_and_its_logs_folded(tmp_path):
    nb = nbformat.v4.new_notebook()
    log = nbformat.v4.new_code_cell("print(...)")
    log.outputs = [nbformat.v4.new_output(
        "stream", name="stdout",
        text="kept line\nSMOKE RUN (scripted stand-in, not a result). LLM run -- m2 via "
             "x at http://127.0.0.1:1 (no key sent)\nLLM run -- m via OpenAI-compatible "
             "server at http://127.0.0.1:39391 (no key sent): 3 calls\n"
             "Results saved in 4f3a9c/ under runs/.\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# Main results\n\nWhat this shows."),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}), log]
    path = tmp_path / "02--prism.ipynb"
    nbformat.write(nb, path)
    pages.finish_page(path, "05_main_results", {}, {"mode": "smoke"}, {"dataset": "prism"},
                      provenance="Computed in the smoke run of X.", number="2")
    done = nbformat.read(path, as_version=4)
    assert done.cells[0].source == "# 5.2 Main results: PRISM"
    assert "Computed in the smoke run of X." in done.cells[1].source
    assert done.cells[2].source == "What this shows."
    printed = [o["text"] for c in done.cells if c.cell_type == "code" for o in c.outputs]
    assert printed == ["kept line\n"]
    details = done.cells[-1].source
    assert details.startswith("````{dropdown} Run details")
    assert "on this machine (no key sent): 3 calls" in details and "127.0.0.1" not in details
    assert "Results saved in 4f3a9c/" in details and "LLM run -- m2 via x on this machine" \
        in details


def test_every_table_is_numbered_within_its_page_and_every_reference_resolves(smoke_site):
    html = smoke_site / "_build" / "html"
    anchors: dict[str, dict[str, str]] = {}  # page -> element id -> its number
    for page in _pages(smoke_site):
        text = page.read_text()
        tables = re.findall(r'<table id="T_[^"]+"[^>]*>\s*<caption>(.*?)</caption>', text, re.S)
        numbered = re.findall(r'id="((?:tbl|fig)-[a-z0-9-]+)".*?<span class="caption-number">'
                              r"(\w+) ([\d.]+) </span>", text, re.S)
        numbered_tables = [(i, n) for i, kind, n in numbered if kind == "Table"]
        if page.name != "intro.html":  # the landing page's table is a copy of chapter 6's
            assert len(numbered_tables) == len(tables), f"{page.name}: a table has no number"
        title = re.search(r"<h1>(\d+(?:\.\d+)*)\.? ", text)
        for kind in ("Table", "Figure"):
            got = [n for _, k, n in numbered if k == kind]
            if title:  # Table 5.3.1, 5.3.2, ... on page 5.3, in page order
                assert got == [f"{title[1]}.{k}" for k in range(1, len(got) + 1)], page.name
        anchors[page.resolve().as_posix()] = {i: f"{k} {n}" for i, k, n in numbered}
    labels = [i for ids in anchors.values() for i in ids]
    assert len(labels) == len(set(labels)), "two elements of the book share a label"
    assert len(labels) > 100
    references = 0
    for page in _pages(smoke_site):
        for href, shown in re.findall(r'<a class="reference internal" href="([^"]*#[^"]+)">'
                                      r'<span class="std std-numref">([^<]+)</span>',
                                      page.read_text()):
            target, _, anchor = href.partition("#")
            where = (page.parent / target).resolve() if target else page.resolve()
            assert anchors[where.as_posix()][anchor] == shown, (page.name, href)
            references += 1
    assert references >= 10  # the chapters' prose points at their tables by number
    landing = (html / "book" / "intro.html").read_text()
    # the landing page's copy of chapter 6's headline table names the table it copies
    copy = re.search(r'<table id="T_headline"[^>]*>\s*<caption>(.*?)</caption>', landing, re.S)[1]
    assert re.match(r'<a class="reference internal" href="executed/06_paper_comparison.html'
                    r'#tbl-headline"><span class="caption-number">Table 6\.1</span></a> ', copy)
    assert anchors[(html / "book/executed/06_paper_comparison.html").resolve().as_posix()][
        "tbl-headline"] == "Table 6.1"
    evidence = re.findall(r'class="verdict-[a-z]+"><a href="([^"#]+)#([^"]+)"', landing)
    assert len(evidence) == len(verdicts.CLAIMS)
    for target, anchor in evidence:
        assert anchor in anchors[(html / "book" / target).resolve().as_posix()], anchor


def test_no_table_header_is_a_program_name(smoke_site):
    for page in _pages(smoke_site):
        heads = re.findall(r'<th[^>]*class="col_heading[^"]*"[^>]*>(.*?)</th>', page.read_text(),
                           re.S)
        assert not [h for h in heads if re.search(r"[a-z]_[a-z]", h)], page.name
