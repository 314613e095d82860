"""The smoke book as readers see it: headless Chromium at desktop and phone widths.

Needs Playwright (PyPI) and a system Chromium (`apt-get install chromium` on Debian;
Playwright's own browser download is not used). `make browser-test` installs both and runs
this file against a freshly built smoke book (the session fixture ``smoke_site`` in
tests/conftest.py, shared with tests/study/test_book.py); without them these tests are
skipped with the reason.
"""

from __future__ import annotations

import os
import re
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
SCREENS = {1280: 900, 390: 844}  # the first screen: desktop and phone viewports
# Tables and code blocks whose content is wider than what shows of them (hidden behind their
# own scroll bar or an ancestor's, or cut off): every one in the article, not only the page.
CLIPPED_JS = """() => Array.from(document.querySelectorAll('article table, article pre'))
  .filter(e => e.getClientRects().length)
  .filter(e => {
    if (e.scrollWidth > e.clientWidth + 1) return true;
    for (let a = e.parentElement; a && a.tagName !== 'ARTICLE'; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible')
        return e.getBoundingClientRect().width > a.clientWidth + 1;
    }
    return false;
  })
  .map(e => e.tagName.toLowerCase() + ' ' + (e.innerText || '').slice(0, 60).replace(/\\s+/g, ' ')
            + ' (' + e.scrollWidth + ' > ' + e.clientWidth + ' px)')"""
LOCAL_URL = re.compile(r"https?://(?:127\.\d+\.\d+\.\d+|localhost|0\.0\.0\.0)(?::\d+)?")
# Smoke labels: the page's banner and run line, and one per table or figure, at most.
SMOKE_LABEL_SLACK = 6
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
    context = browser.new_context(viewport={"width": width, "height": SCREENS.get(width, 900)})
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
            # at desktop width no table or code block is clipped or hides part of itself
            if width == 1280:
                failures += [f"{name}: clipped {c}" for c in page.evaluate(CLIPPED_JS)]
            # one status bar; smoke labels bounded; no process words or local addresses
            bars = page.locator(".bd-header-announcement").count()
            if bars != 1:
                failures.append(f"{name}: {bars} status bars")
            text = page.locator("article").inner_text()
            labels = len(re.findall(r"smoke run", text, re.IGNORECASE))
            elements = page.locator("article table:visible, article img:visible").count()
            if labels > elements + SMOKE_LABEL_SLACK:
                failures.append(f"{name}: {labels} smoke labels for {elements} tables and "
                                "figures")
            if re.search(r"\bissues?\b", text, re.IGNORECASE):
                failures.append(f"{name}: the word 'issue' is on the page")
            if LOCAL_URL.search(text):
                failures.append(f"{name}: a local URL is on the page: "
                                f"{LOCAL_URL.search(text).group(0)}")
            # every image loads
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                ".map(i => i.src)")
            failures += [f"{name}: image did not load: {src}" for src in broken]
            failures += [f"{name}: {p}" for p in problems]
            context.close()
    assert not failures, "\n".join(failures)


def _svg_min_font(path: Path) -> tuple[float, float]:
    """(width, smallest font) of a matplotlib SVG, both in its own units (points): text is
    drawn as glyph paths scaled by font size / 100, or as <text> with a font size."""
    svg = path.read_text(encoding="utf-8")
    width = float(re.search(r'viewBox="[\d.\-]+ [\d.\-]+ ([\d.]+)', svg).group(1))
    sizes = [float(v) * 100 for v in re.findall(r"scale\(([\d.]+) -[\d.]+\)", svg)]
    sizes += [float(v) for v in re.findall(r"font(?:-size)?:\s*([\d.]+)px", svg)]
    return width, min(sizes) if sizes else float("inf")


def test_every_figures_smallest_text_is_at_least_9px_on_a_phone(html_root, browser):
    smallest, failures = [], []
    for path in _pages(html_root):
        context, page, _ = _visit(browser, path, 390)
        shown = page.evaluate("Array.from(document.images).filter(i => i.src.endsWith('.svg'))"
                              ".map(i => [i.src, i.getBoundingClientRect().width])")
        for src, px in shown:
            width, font = _svg_min_font(Path(src.removeprefix("file://")))
            text_px = font * px / width
            smallest.append(text_px)
            if text_px < 9:
                failures.append(f"{path.name}: {Path(src).name} has {text_px:.1f} px text")
        context.close()
    assert smallest, "no figure found"
    assert not failures, "\n".join(failures)


def test_numbering_is_one_in_sidebar_titles_and_prose(html_root, browser):
    context, page, _ = _visit(browser, html_root / "book" / "intro.html", 1280)
    entries = [t.strip() for t in page.locator("nav.bd-links a.reference").all_inner_texts()]
    context.close()
    numbered = [e for e in entries if re.match(r"\d+(\.\d+)?\.? ", e)]
    assert len(numbered) >= 9, entries
    numbers = [e.split(" ", 1)[0].rstrip(".") for e in numbered]
    assert len(numbers) == len(set(numbers)), f"a number is used twice: {numbers}"
    # each chapter's number is its notebook's: 00_benchmark_construction is chapter 0, ...
    for path in sorted((html_root / "book" / "executed").rglob("*.html")):
        name = path.stem if path.parent.name == "executed" else path.parent.name
        chapter = str(int(name.split("_")[0]))
        title = re.search(r"<h1>(.*?)<a", path.read_text(encoding="utf-8"), re.S).group(1)
        assert re.match(rf"{chapter}(\.\d+)?\.? ", title), f"{path.name}: title {title!r}"
    chapters = {n.split(".")[0] for n in numbers}
    for path in sorted((html_root / "book").rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for ref in re.findall(r"\b[Cc]hapters? (\d\d?)\b", re.sub(r"<[^>]+>", "", text)):
            assert str(int(ref)) in chapters, f"{path.name}: 'chapter {ref}' is no chapter"
            assert not ref.startswith("0") or ref == "0", f"{path.name}: 'chapter {ref}'"


def test_the_verdicts_are_on_the_first_screen_at_both_widths(html_root, browser):
    for width, height in SCREENS.items():
        context, page, problems = _visit(browser, html_root / "book" / "intro.html", width)
        table = page.locator("table.verdicts")
        assert table.count() == 1, "no verdict table on the landing page"
        box = table.bounding_box()
        assert box["y"] + box["height"] <= height, \
            f"@{width}px the verdicts end at y={box['y'] + box['height']:.0f} (screen {height})"
        rows = table.locator("tbody tr").all_inner_texts()
        assert len(rows) == 5, rows
        for claim in ("61.97", "56.1 vs 47", "+0.8", "72.18"):
            assert any(claim in r for r in rows), f"{claim} is missing: {rows}"
        words = table.locator("tbody td:last-child").all_inner_texts()
        # a smoke run's verdicts never read as a finding
        assert all(w.strip() in ("smoke — not a result", "not run") for w in words), words
        assert sum(w.strip() == "smoke — not a result" for w in words) >= 3, words
        links = table.locator("tbody td:last-child a").evaluate_all("l => l.map(a => a.href)")
        assert links and all(Path(h.removeprefix("file://").split("#")[0]).is_file()
                             for h in links), links
        assert not problems, problems
        context.close()


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
    assert not problems, problems
    context.close()


def test_each_verdict_opens_its_evidence_table_numbered_on_the_first_screen(html_root, browser):
    context, page, problems = _visit(browser, html_root / "book" / "intro.html", 1280)
    links = page.locator("table.verdicts tbody td:last-child a").evaluate_all(
        "l => l.map(a => a.href)")
    assert len(links) >= 4, links
    for link in links:
        page.goto(link, wait_until="load")
        page.wait_for_timeout(150)
        anchor = link.split("#", 1)[1]
        target = page.locator(f"#{anchor}")
        assert target.count() == 1, f"{link}: no element {anchor}"
        box = target.bounding_box()
        assert box and 0 <= box["y"] < SCREENS[1280], f"{link}: the table is at y={box}"
        caption = target.locator("caption").inner_text()
        assert re.match(r"Table \d+\.\d+ ", caption), caption
    assert not problems, problems
    context.close()
