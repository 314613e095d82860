"""The smoke book as readers see it: headless Chromium at desktop and phone widths.

Needs Playwright (PyPI) and a system Chromium (`apt-get install chromium` on Debian;
Playwright's own browser download is not used). `make browser-test` installs both and runs
this file against a freshly built smoke book (the session fixture ``smoke_site`` in
tests/conftest.py, shared with tests/study/test_book.py); without them these tests are
skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

playwright = pytest.importorskip("playwright.sync_api",
                                 reason="Playwright is not installed: run `make browser-test`")

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or \
    shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("no system Chromium (apt-get install chromium): run `make browser-test`",
                allow_module_level=True)

# Offline Chromium: no sandbox as root, no background calls to Google's services.
LAUNCH_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync"]
WIDTHS = (1280, 390)
# Console messages that come from the theme itself, not from anything of ours.
TOLERATED_CONSOLE = (
    "Got invalid theme mode",  # pydata-sphinx-theme, first visit with no stored theme
)


@pytest.fixture(scope="module")
def html_root(smoke_site) -> Path:
    html = smoke_site / "_build" / "html"
    assert (html / "index.html").is_file(), f"no built book under {html}"
    return html


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def _pages(html: Path) -> list[Path]:
    return sorted(p for p in (html / "book").rglob("*.html"))


def _visit(browser, page_path: Path, width: int):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not any(t in m.text for t in TOLERATED_CONSOLE) else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(page_path.as_uri(), wait_until="load")
    page.wait_for_timeout(150)
    return context, page, problems


def test_every_page_at_every_width_reads_cleanly(html_root, browser):
    failures = []
    pages = _pages(html_root)
    assert len(pages) >= 5, pages
    for width in WIDTHS:
        for path in pages:
            context, page, problems = _visit(browser, path, width)
            name = f"{path.relative_to(html_root)} @ {width}px"
            # the run's status is in the first screen
            bar = page.locator(".bd-header-announcement").first
            box = bar.bounding_box() if bar.count() else None
            if not box or box["y"] > 900 or not bar.is_visible():
                failures.append(f"{name}: the status bar is not in the first screen")
            elif "SMOKE RUN" not in bar.inner_text():
                failures.append(f"{name}: the status bar does not say SMOKE RUN")
            # no sideways scrolling of the page
            page.evaluate("window.scrollTo(1000, 0)")
            if page.evaluate("window.scrollX") > 0:
                failures.append(f"{name}: the page scrolls sideways "
                                f"(scrollWidth {page.evaluate('document.body.scrollWidth')})")
            # at desktop width no output is wider than the text column
            if width == 1280:
                wide = page.evaluate(
                    "Array.from(document.querySelectorAll('.cell_output'))"
                    ".filter(e => e.scrollWidth > e.clientWidth + 1).length")
                if wide:
                    failures.append(f"{name}: {wide} output(s) wider than the column")
            # every image loads
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src)")
            failures += [f"{name}: image did not load: {src}" for src in broken]
            failures += [f"{name}: {p}" for p in problems]
            context.close()
    assert not failures, "\n".join(failures)


def test_the_landing_page_leads_with_the_smoke_warning_and_this_runs_glued_headline(
        html_root, browser):
    context, page, problems = _visit(browser, html_root / "book" / "intro.html", 1280)
    text = page.locator("main").inner_text()
    assert "This book was built from a SMOKE RUN" in text
    # the headline table is glued from the summary chapter: computed, not typed
    table = page.locator("table", has_text="paper inside CI").first
    assert table.is_visible(), "the glued headline table is not on the landing page"
    rows = table.inner_text()
    assert "default judge" in rows and "56.69" in rows and "SynthesizeMe (persona + demos)" in rows
    assert "SMOKE RUN" in rows  # the table itself says what it is
    # the further claims' cells are filled from their chapters (no empty glue)
    claims = page.locator("table", has_text="accuracy gained per additional preference").first
    cells = [c.strip() for c in claims.locator("tbody tr td:nth-child(3)").all_inner_texts()]
    assert cells and all(cells), f"a glued claim is empty: {cells}"
    assert not problems, problems
    context.close()
