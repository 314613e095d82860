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
