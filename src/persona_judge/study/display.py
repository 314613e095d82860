"""How the chapters show numbers, tables and figures to a reader.

Chapters compute with full precision and show rounded, labelled values: accuracies in
percent with one decimal (66.7), intervals as ``66.7 [58.1, 74.9]``, p-values as
``< 0.0001`` rather than ``0.0``, dollars as ``$0.23``, counts with thousands separators
(``250,982``). :func:`table` turns a DataFrame into a styled HTML table without the index
noise, with a stable HTML id (so nbval records do not churn) and the best row in bold.
:func:`setup_figures` makes every figure an SVG at most :data:`FIGURE_WIDTH` inches wide whose
smallest text stays at least :data:`MIN_TEXT_PX` pixels tall even on a phone (:func:`legible`
enforces it on every figure a chapter shows). :func:`caption` labels a smoke run's captions
(one prefix, :data:`SMOKE_LABEL`; :func:`table` rewrites any other smoke wording to it),
:func:`dropdown` and :func:`boxed` put long texts (prompts, personas, reasoning) in folded or
open boxes that wrap instead of widening the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

#: Width of the book's text column in inches at 96 dpi (about 690 px at 1280 px wide).
COLUMN_WIDTH = 7.0
#: Width of a figure in inches: narrower than the column, so a phone shrinks it less.
FIGURE_WIDTH = 5.5
#: The width (CSS px) a figure is shown at on a 390 px phone (342 px measured), with margin.
PHONE_FIGURE_PX = 330
#: The smallest text (CSS px) a figure may show on that phone.
MIN_TEXT_PX = 9.0


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: float | None, digits: int = 1) -> str:
    """A percentage already in percent: ``66.666`` → ``"66.7"``; missing → ``"–"``."""
    return "–" if _missing(value) else f"{value:.{digits}f}"


def with_ci(value: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``"66.7 [58.1, 74.9]"``."""
    if _missing(value):
        return "–"
    if _missing(low) or _missing(high):
        return pct(value, digits)
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def signed(value: float | None, digits: int = 1) -> str:
    """A difference with its sign: ``+5.3`` / ``−2.0`` (a true minus sign)."""
    if _missing(value):
        return "–"
    text = f"{value:+.{digits}f}"
    return text.replace("-", "\u2212")


def p_value(value: float | None) -> str:
    """``"< 0.0001"`` below 1e-4, else four significant decimals (``"0.0231"``)."""
    if _missing(value):
        return "–"
    if value < 1e-4:
        return "< 0.0001"
    return f"{value:.4f}".rstrip("0").rstrip(".") if value < 1 else "1"


def dollars(value: float | None) -> str:
    """``$0.23``, ``$1,234.50``; a positive amount under a cent is ``< $0.01``."""
    if _missing(value):
        return "–"
    if 0 < value < 0.005:
        return "< $0.01"
    return f"${value:,.2f}"


def count(value: float | int | None) -> str:
    """``250,982``."""
    return "–" if _missing(value) else f"{int(value):,}"


DATASET_NAMES = {"chatbot_arena": "Chatbot Arena", "prism": "PRISM", "all": "both datasets"}
_MODEL = re.compile(r"^(?:.*/)?(?:Meta-)?Llama-(\d+(?:\.\d+)?)-(\d+B)-Instruct(?:-Turbo)?$",
                    re.IGNORECASE)


def reader_name(value: Any) -> str:
    """A setting as a reader names it: ``chatbot_arena`` → ``Chatbot Arena``,
    ``meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo`` → ``Llama 3.1 8B``; anything else as is
    (a model id without its organisation)."""
    text = str(value)
    if text in DATASET_NAMES:
        return DATASET_NAMES[text]
    model = _MODEL.match(text)
    if model:
        return f"Llama {model[1]} {model[2]}"
    return text.rsplit("/", 1)[-1]


#: Column names a program uses, as a reader reads them (the rest: underscores become spaces).
HEADER_WORDS = {"user_id": "user", "n_judgments": "judgments", "ci_low": "CI low",
                "ci_high": "CI high", "ci_unit": "CI over", "method_a": "method A",
                "method_b": "method B", "judge_model": "judge"}


def reader_header(column: Any) -> str:
    """A column's header for a reader: ``user_id`` → ``user``, ``cache_hits`` → ``cache hits``,
    ``constructed_chatbot_arena`` → ``constructed Chatbot Arena``."""
    text = str(column)
    if text in HEADER_WORDS:
        return HEADER_WORDS[text]
    for raw, name in DATASET_NAMES.items():
        if raw != "all":
            text = re.sub(rf"(?<![a-z]){raw}(?![a-z])", name, text)
    return text.replace("_", " ")


def html_id(text: str) -> str:
    """A stable HTML id from a title: ``"Main results (pooled)"`` → ``main-results-pooled``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "table"


class ReaderTable(Styler):
    """A Styler whose plain-text form is the table itself, not ``<Styler at 0x7f...>``.

    Notebooks store a text/plain copy of every output beside its HTML; with the default
    repr that copy holds a memory address, which differs on every run and makes nbval
    records churn. Here it is the caption and the table's values: stable and diffable.
    """

    #: The reader's formats (column -> function), applied to the plain text too: a value
    #: shown as "$0.01" must not differ in its text copy by a float summed in another order.
    plain_formats: Mapping[str, Callable[[Any], str]] = {}

    def __repr__(self) -> str:
        shown = self.data.copy()
        for column, fmt in self.plain_formats.items():
            if column in shown.columns:
                shown[column] = shown[column].map(fmt).astype(object)
        text = shown.rename(columns=reader_header).to_string(index=False)
        return f"{self.caption}\n{text}" if self.caption else text


def table(frame: pd.DataFrame, *, name: str, caption: str | None = None,
          formats: Mapping[str, Callable[[Any], str]] | None = None,
          highlight: Iterable[int] | None = None, wrap: Iterable[str] = (),
          empty: str = "none in this run.") -> ReaderTable:
    """A reader's table: no index, formatted columns, stable id, chosen rows in bold.

    ``name`` fixes the HTML id (``T_<name>``) so re-executions produce identical HTML;
    ``highlight`` lists positional rows to set in bold (e.g. the best method); ``wrap``
    names long-text columns that must wrap instead of widening the page. A table with no
    rows shows its caption and ``empty`` (why it is empty) instead of a header-only table.
    """
    frame = frame.reset_index(drop=True)
    styler = ReaderTable(frame).hide(axis="index").set_uuid(html_id(name))
    # A float column nobody formatted still reads as 0.67, not 0.666667; missing as "–".
    styler = styler.format(precision=2, na_rep="–")
    # headers as a reader reads them; the data keep their names (formats, wrap refer to them)
    styler = styler.relabel_index([reader_header(c) for c in frame.columns], axis="columns")
    if formats:
        styler = styler.format({k: v for k, v in formats.items() if k in frame.columns})
        styler.plain_formats = {k: v for k, v in formats.items() if k in frame.columns}
    if frame.empty:
        caption = f"{caption or 'This table'}: {empty}"
    if caption:
        styler = styler.set_caption(one_smoke_prefix(caption))
    bold = set(highlight or ())
    if bold:
        styler = styler.apply(
            lambda row: ["font-weight: bold" if row.name in bold else "" for _ in row], axis=1)
    wrapped = [c for c in wrap if c in frame.columns]
    if wrapped:
        styler = styler.set_properties(subset=wrapped, **{"white-space": "normal",
                                                          "overflow-wrap": "anywhere",
                                                          # narrower on a phone
                                                          "min-width": "min(12em, 30vw)"})
    # Numbers right-aligned (digits line up), text left; one rule per column, scoped to the id.
    # The book lets a cell's text break anywhere, so that no table is wider than the page. A
    # number or an interval is not broken ("0.11|37"), nor is a header word ("pap|er"), as long
    # as the table still fits the page that way (``_keep_whole``).
    numeric = {c: _is_number(frame[c]) or _number_like(frame[c]) for c in frame.columns}
    whole_numbers, whole_headers = _keep_whole(frame, formats or {}, wrapped, numeric)
    # cell classes for the book's phone layout (_static/study.css): numbers stay whole there
    styler = styler.set_td_classes(pd.DataFrame(
        {c: ["num" if numeric[c] else "text"] * len(frame) for c in frame.columns},
        index=frame.index, columns=frame.columns))
    align = []
    for i, column in enumerate(frame.columns):
        number = _is_number(frame[column])
        cell = "text-align: right;" if number else "text-align: left;"
        if whole_numbers and numeric[column]:
            cell += " overflow-wrap: normal;"
        header = "text-align: right;" if number else "text-align: left;"
        if whole_headers:
            header += " overflow-wrap: normal;"
        align += [{"selector": f"td.col{i}", "props": cell},
                  {"selector": f"th.col_heading.col{i}", "props": header}]
    # class "dataframe": the book theme's table look (borders, zebra rows, header rule)
    hidden = [{"selector": "thead", "props": "display: none;"}] if frame.empty else []
    return styler.set_table_attributes('class="dataframe"').set_table_styles(
        [*hidden,
         {"selector": "", "props": "margin-bottom: 1.5em;"},  # tables of one cell stay apart
         {"selector": "caption",
          "props": "caption-side: top; text-align: left; font-weight: 600; color: inherit;"},
         *align])


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


#: How many characters of a table's narrowest unbreakable content fit the text column at
#: desktop width (690 px at 0.85 rem; a digit is ~8 px), padding included.
TABLE_CHARACTERS = 80
#: The minimum width of a ``wrap`` column (12em), in those characters.
WRAPPED_CHARACTERS = 20
_NUMBER_TEXT = re.compile(r"^[\s\d.,+\-−–\[\]%$<>()]+$")


def _shown(column: pd.Series, fmt: Callable[[Any], str] | None) -> list[str]:
    """A column's values as the table shows them (its format, else two decimals)."""
    def one(value: Any) -> str:
        if _missing(value):
            return "–"
        if fmt is not None:  # a function, or a format string as Styler.format takes it
            return fmt.format(value) if isinstance(fmt, str) else str(fmt(value))
        return f"{value:.2f}" if isinstance(value, float) else str(value)
    return [one(v) for v in column]


def _keep_whole(frame: pd.DataFrame, formats: Mapping[str, Callable[[Any], str]],
                wrapped: Iterable[str], numeric: Mapping[Any, bool]) -> tuple[bool, bool]:
    """Whether numbers, and then header words too, can be kept whole and the table still fit.

    Each column needs its longest unbreakable piece (a number, a header word; text can break
    anywhere, so it needs a few characters only; a ``wrap`` column keeps its minimum width)
    plus its padding; headers are bold. ``numeric`` says which columns hold numbers.
    """
    def longest(texts: Iterable[str]) -> int:
        return max((len(word) for text in texts for word in text.split()), default=0)

    numbers, headers = 0.0, 0.0
    for column in frame.columns:
        shown = _shown(frame[column], formats.get(column))
        value = longest(shown) if numeric[column] else \
            WRAPPED_CHARACTERS if column in wrapped else min(longest(shown), 6)
        numbers += value + 2
        headers += max(value, 1.1 * longest([reader_header(column)])) + 2
    return numbers <= TABLE_CHARACTERS, headers <= TABLE_CHARACTERS


def _number_like(column: pd.Series) -> bool:
    """Text that is numbers: ``"62.0 [58.0, 65.9]"``, ``"+1.5"``, ``"< 0.0001"``."""
    values = column.dropna().astype(str)
    return bool(len(values)) and all(_NUMBER_TEXT.match(v) and len(v) <= 40 for v in values)


def min_font_points(width_inches: float) -> float:
    """The smallest font (points) that a figure this wide keeps ≥ MIN_TEXT_PX on a phone.

    An SVG from matplotlib measures in points (72 per inch) and is scaled to
    ``PHONE_FIGURE_PX`` on a phone, so a font of f points shows as
    ``f * PHONE_FIGURE_PX / (72 * width)`` pixels.
    """
    return MIN_TEXT_PX * 72 * width_inches / PHONE_FIGURE_PX


def saved_width_inches(fig: Any) -> float:
    """The width of ``fig`` as the page gets it: an SVG cut to its tight box (with padding)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    width = re.search(rb'viewBox="[\d.\-]+ [\d.\-]+ ([\d.]+)', buffer.getvalue())
    return float(width.group(1)) / 72 if width else fig.get_figwidth()


def legible(fig: Any) -> Any:
    """Raise every text of ``fig`` (labels, ticks, legends, titles) to the phone floor.

    The floor is :func:`min_font_points` of the width the figure is saved at (its tight box,
    which long tick labels or a legend can make wider than the figure). Raising fonts can
    widen that box again, so this repeats until every text clears the floor; a legend that
    sticks out of the figure gets fewer columns first (larger text must not mean a wider
    figure, and so a smaller one on the phone).
    """
    for _ in range(12):
        width = saved_width_inches(fig)
        if width > fig.get_figwidth() + 0.3:
            legends = [lg for lg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
                       if lg is not None and getattr(lg, "_ncols", 1) > 1]
            if legends:
                for legend in legends:
                    legend.set_ncols(legend._ncols - 1)
                continue
        floor = min_font_points(width) * 1.01
        small = [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize")
                                        and hasattr(a, "get_text"))
                 if t.get_text() and t.get_visible() and t.get_fontsize() < floor]
        if not small:
            break
        for text in small:
            text.set_fontsize(floor)
    return fig


def setup_figures() -> None:
    """SVG figures, narrower than the column, legible on a phone, with stable SVG ids.

    Every figure a chapter shows passes through :func:`legible` on its way to the page.
    """
    import matplotlib as mpl
    import seaborn as sns
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("svg", metadata={"Date": None})  # no build date in the SVG
    sns.set_theme(style="whitegrid", context="notebook")
    base = round(min_font_points(FIGURE_WIDTH) + 0.05, 1)
    mpl.rcParams.update({
        "figure.figsize": (FIGURE_WIDTH, 3.6),
        "font.size": base + 1, "axes.titlesize": base + 1, "axes.labelsize": base + 0.5,
        "xtick.labelsize": base, "ytick.labelsize": base, "legend.fontsize": base,
        "legend.title_fontsize": base, "figure.titlesize": base + 1,
        "svg.hashsalt": "persona-judge",  # deterministic ids inside the SVG
        "svg.fonttype": "path",
    })
    _print_legibly()


def _print_legibly() -> None:
    """Route every figure IPython prints through :func:`legible`.

    IPython's figure formatters call ``IPython.core.pylabtools.print_figure``; the inline
    backend registers them anew when it is first activated (lazily, at the first figure), so
    the function is wrapped where they look it up, and the formatter already registered (if
    any) is re-pointed at it.
    """
    try:
        from IPython.core import pylabtools
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    if not getattr(pylabtools.print_figure, "_legible", False):
        plain = pylabtools.print_figure

        def print_legible(fig: Any, *args: Any, **kwargs: Any) -> Any:
            return plain(legible(fig), *args, **kwargs)

        print_legible._legible = True  # type: ignore[attr-defined]
        pylabtools.print_figure = print_legible
    from IPython import get_ipython
    from matplotlib.figure import Figure

    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/svg+xml"].for_type(
            Figure, lambda fig: pylabtools.print_figure(fig, fmt="svg",
                                                        metadata={"Date": None}))


SMOKE_LABEL = "SMOKE RUN — "
SMOKE_STAMP = "SMOKE RUN — not a result"


def smoke_stamp(fig: Any, text: str = SMOKE_STAMP) -> None:
    """The smoke-run notice of a figure: one red line above everything (titles included; legends
    sit below the axes), never over the data."""
    fig.text(0.5, 1.0, text, ha="center", va="bottom", color="#8a1c1c", fontweight="bold",
             fontsize=min_font_points(fig.get_figwidth()) + 1, transform=fig.transFigure)


_SMOKE_WORDING = re.compile(
    r"\s*(?:[—-]\s*)?\(?\bSMOKE RUN\b[^.)—:]*[.):—]?\s*(?:not a result\.?)?\)?\s*[—:]?\s*",
    re.IGNORECASE)


def caption(text: str, *, smoke: bool) -> str:
    """A table or figure caption; a smoke run's says so first (``"SMOKE RUN — ..."``)."""
    return (SMOKE_LABEL if smoke else "") + text


def one_smoke_prefix(text: str) -> str:
    """A caption with any smoke wording (``"... — SMOKE RUN (scripted stand-in)"``,
    ``"SMOKE RUN (…, not a result). ..."``) rewritten to the one prefix ``"SMOKE RUN — "``."""
    if "smoke run" not in text.lower():
        return text
    rest = _SMOKE_WORDING.sub(" ", text).lstrip(" —:-.").rstrip(" —:-")
    return SMOKE_LABEL + rest


def _fence(body: str, char: str, minimum: int) -> str:
    """A fence longer than any run of ``char`` inside ``body``, so the body cannot close it."""
    longest = max((len(m) for m in re.findall(f"{re.escape(char)}+", body)), default=0)
    return char * max(minimum, longest + 1)


def _literal(body: str) -> str:
    """``body`` verbatim in a text block (wrapped by the book's CSS), fenced so it cannot close."""
    ticks = _fence(body, "`", 3)
    return f"{ticks}text\n{body}\n{ticks}"


def _directive(name: str, title: str, options: str, body: str) -> Any:
    from IPython.display import Markdown

    colons = _fence(body, ":", 3)
    title = " ".join(title.split())  # a directive's title is one line
    return Markdown(f"{colons}{{{name}}} {title}\n{options}\n\n{body}\n{colons}\n")


def dropdown(title: str, body: str, *, literal: bool = False) -> Any:
    """A folded box (one click opens it) for a long text: a prompt, Θ, a trace's reasoning.

    Returns an ``IPython.display.Markdown`` holding a MyST ``dropdown`` directive (a
    ``<details>`` element in the book: folded without scripts, and nothing of the body
    takes room while it is closed); the notebook must render Markdown outputs as MyST
    (notebook metadata ``"mystnb": {"render_markdown_format": "myst"}``). ``literal=True``
    shows ``body`` verbatim in a wrapping text block instead of reading it as Markdown. In
    plain Jupyter the fence lines show as text around the body, which stays readable.
    """
    return _directive("dropdown", title, ":color: info\n:icon: note",
                      _literal(body) if literal else body)


def boxed(title: str, body: str, *, literal: bool = False, kind: str = "note") -> Any:
    """Like :func:`dropdown`, but an open admonition: for texts a reader came to see (a persona).

    ``kind`` is the admonition's class (note, tip, warning, ...).
    """
    return _directive("admonition", title, f":class: {kind}",
                      _literal(body) if literal else body)
