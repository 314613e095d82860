"""A small Sphinx extension for the study's book (listed in ``_config.yml``).

**Numbered, linkable tables.** A chapter's tables are pandas Stylers (``study.display.table``),
which reach Sphinx as raw HTML: not a table node, so Sphinx would neither number them nor let
prose point at them. :class:`NumberReaderTables` wraps each one in a :class:`reader_table` node
registered as an enumerable of the ``table`` type, labelled ``tbl-<name>`` (``name`` is the
``name=`` given to ``display.table``; a per-setting page adds its place, ``tbl-run-cost-01``).
The caption then starts with its number (``Table 5.3.2``) and ends with a link to itself, and
``{numref}`tbl-run-cost-01``` in any page's prose resolves to it, like a figure's label; a
reference to a table of a chapter that did not run reads "a table this run did not compute".
A copy of a table glued onto another page (:class:`NameTableCopies`) starts its caption with
the original's number, linked.

**One numbering.** Sphinx numbers figures and tables across the whole book (``Fig. 57``) when,
as here, the table of contents is not numbered by Sphinx (the chapter numbers come from the
notebooks' file names; see ``study.pages``). :func:`number_within_pages` renumbers both per
page, after the page's own number: the second table of page 5.3 is Table 5.3.2, the first figure
of chapter 7 is Figure 7.1. So a number never collides with the paper's "Table 3".

**A script registered twice.** sphinx-thebe (loaded by Jupyter Book 1.x) registers its inline
configuration script each time Sphinx reads documents; when a build reads twice
(sphinxcontrib-bibtex asks for a second pass to resolve citations) every page declares
``const THEBE_JS_URL`` twice and the browser reports "Identifier 'THEBE_JS_URL' has already
been declared". Dropping repeated script entries from each page's context removes the error
without touching either package.
"""

from __future__ import annotations

import html
import re
from typing import Any

from docutils import nodes
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform

#: A pandas Styler's table as ``display.table`` writes it: ``<table id="T_<name>" ...>`` and
#: its caption. The id is ``display.html_id``'s slug.
_STYLER_TABLE = re.compile(
    r'<table id="T_(?P<name>[a-z0-9-]+)"[^>]*>\s*<caption>(?P<caption>.*?)</caption>', re.S)
_PAGE_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.?\s")


class reader_table(nodes.General, nodes.Element):  # noqa: N801 (docutils' node naming)
    """A table a chapter printed (a Styler's HTML), numbered and labelled like a Sphinx table."""


def table_title(node: reader_table) -> str:
    """The caption's text: what ``{ref}`` shows and what makes Sphinx number the table."""
    return node.get("title", "")


def _caption_text(caption_html: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", caption_html)).split())


class NumberReaderTables(SphinxTransform):
    """Wrap every Styler table in a labelled :class:`reader_table` before Sphinx collects the
    page's labels (``SphinxDomains``, priority 850)."""

    default_priority = 400

    def apply(self, **kwargs: Any) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if "html" not in raw.get("format", "").split():
                continue
            found = _STYLER_TABLE.search(raw.astext())
            if not found:
                continue
            label = f"tbl-{found['name']}"
            taken = 1
            while label in self.document.nameids:  # one name twice on a page: -2, -3, ...
                taken += 1
                label = f"tbl-{found['name']}-{taken}"
            wrapper = reader_table("", title=_caption_text(found["caption"]))
            wrapper["names"].append(label)
            raw.replace_self(wrapper)
            wrapper += raw
            self.document.note_explicit_target(wrapper)


class NameTableCopies(SphinxPostTransform):
    """A table glued onto another page (the landing page shows chapter 6's headline table)
    names the table it copies: its caption starts with that table's number, a link to it."""

    default_priority = 6  # after myst-nb pastes glued outputs into the page (5)
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        labels = self.env.domains["std"].anonlabels
        for raw in list(self.document.findall(nodes.raw)):
            found = _STYLER_TABLE.search(raw.astext())
            if not found or isinstance(raw.parent, reader_table):
                continue
            owner, anchor = labels.get(f"tbl-{found['name']}", (None, None))
            numbers = self.env.toc_fignumbers.get(owner, {}).get("table", {}).get(anchor)
            if owner is None or owner == self.env.docname or not numbers:
                continue
            number = self.config.numfig_format["table"] % ".".join(map(str, numbers))
            uri = self.app.builder.get_relative_uri(self.env.docname, owner) + "#" + anchor
            start = found.start("caption")
            text = raw.astext()
            named = (text[:start] + f'<a class="reference internal" href="{html.escape(uri)}">'
                     f'<span class="caption-number">{html.escape(number)}</span></a> '
                     + text[start:])
            raw.replace_self(nodes.raw("", named, format="html", classes=raw["classes"]))


def _number_text(translator: Any, node: reader_table) -> str:
    """``"Table 5.3.2"``, or "" when Sphinx numbered nothing (numfig off)."""
    numbers = translator.builder.fignumbers.get("table", {}).get(node["ids"][0])
    if not numbers:
        return ""
    return translator.config.numfig_format["table"] % ".".join(map(str, numbers))


def visit_reader_table_html(translator: Any, node: reader_table) -> None:
    text = node.astext()
    number = _number_text(translator, node)
    anchor = node["ids"][0]
    link = (f'<a class="headerlink" href="#{anchor}" title="Link to this table">#</a>')
    opening = ('<caption><span class="caption-number">' + html.escape(number) + " </span>"
               if number else "<caption>") + '<span class="caption-text">'

    def numbered(found: re.Match) -> str:
        whole = found.group(0)
        start = whole.rindex("<caption>")
        return (whole[:start] + opening + found["caption"] + "</span>" + link + "</caption>")

    text = _STYLER_TABLE.sub(numbered, text, count=1)
    translator.body.append(translator.starttag(node, "div", "", CLASS="reader-table"))
    translator.body.append(text)
    translator.body.append("</div>\n")
    raise nodes.SkipNode


def visit_reader_table_other(translator: Any, node: reader_table) -> None:
    """Builders other than HTML (text, LaTeX, ...) see the raw node inside, as before."""


def depart_reader_table(translator: Any, node: reader_table) -> None:
    pass


def page_number(env: Any, docname: str) -> tuple[int, ...]:
    """``(5, 3)`` for the page titled "5.3 Main results: ...", ``()`` for an unnumbered page."""
    title = env.titles.get(docname)
    found = _PAGE_NUMBER.match(title.astext()) if title is not None else None
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def number_within_pages(app: Any, env: Any) -> list[str]:
    """Renumber figures and tables after their page's number, in page order (Sphinx's own
    numbers, counted across the book, give the order within a page)."""
    changed = []
    for docname, by_type in env.toc_fignumbers.items():
        prefix = page_number(env, docname)
        renumbered = {
            figtype: {label: (*prefix, place) for place, label in
                      enumerate(sorted(numbers, key=numbers.__getitem__), start=1)}
            for figtype, numbers in by_type.items()}
        if renumbered != by_type:
            env.toc_fignumbers[docname] = renumbered
            changed.append(docname)
    return changed


def not_computed(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """A page's reference to a table or figure that is not in this book, because the chapter
    did not run (its placeholder page keeps the chapter's prose): words that say so, not a raw
    label and a build warning. A label mistyped in a chapter's prose is caught by a test of the
    notebooks' sources, not here."""
    if node.get("reftype") != "numref":
        return None
    kind = {"tbl": "table", "fig": "figure"}.get(node.get("reftarget", "").split("-", 1)[0])
    return nodes.emphasis("", f"a {kind} this run did not compute") if kind else None


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict,
                    doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the second registration differs only in filename: None vs "" for an inline script
        attributes = getattr(script, "attributes", {}) or {}
        key = (getattr(script, "filename", None) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app: Any) -> dict[str, Any]:
    other = (visit_reader_table_other, depart_reader_table)
    app.add_enumerable_node(reader_table, "table", table_title,
                            html=(visit_reader_table_html, depart_reader_table),
                            latex=other, text=other, man=other, texinfo=other)
    app.add_transform(NumberReaderTables)
    app.add_post_transform(NameTableCopies)
    # after Sphinx's own numbering (TocTreeCollector, priority 500)
    app.connect("env-get-updated", number_within_pages, priority=900)
    app.connect("missing-reference", not_computed)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
