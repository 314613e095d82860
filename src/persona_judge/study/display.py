"""How the chapters show numbers, tables and figures to a reader.

Chapters compute with full precision and show rounded, labelled values: accuracies in
percent with one decimal (66.7), intervals as ``66.7 [58.1, 74.9]``, p-values as
``< 0.0001`` rather than ``0.0``, dollars as ``$0.23``, counts with thousands separators
(``250,982``). :func:`table` turns a DataFrame into a styled HTML table without the index
noise, with a stable HTML id (so nbval records do not churn) and the best row in bold.
:func:`setup_figures` makes every figure an SVG sized for the book's text column with
fonts that stay at least 10 pt as shown. :func:`caption` labels a smoke run's captions,
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

    def __repr__(self) -> str:
        text = self.data.to_string(index=False)
        return f"{self.caption}\n{text}" if self.caption else text


def table(frame: pd.DataFrame, *, name: str, caption: str | None = None,
          formats: Mapping[str, Callable[[Any], str]] | None = None,
          highlight: Iterable[int] | None = None, wrap: Iterable[str] = ()) -> ReaderTable:
    """A reader's table: no index, formatted columns, stable id, chosen rows in bold.

    ``name`` fixes the HTML id (``T_<name>``) so re-executions produce identical HTML;
    ``highlight`` lists positional rows to set in bold (e.g. the best method); ``wrap``
    names long-text columns that must wrap instead of widening the page.
    """
    frame = frame.reset_index(drop=True)
    styler = ReaderTable(frame).hide(axis="index").set_uuid(html_id(name))
    # A float column nobody formatted still reads as 0.67, not 0.666667; missing as "–".
    styler = styler.format(precision=2, na_rep="–")
    if formats:
        styler = styler.format({k: v for k, v in formats.items() if k in frame.columns})
    if caption:
        styler = styler.set_caption(caption)
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
    align = [{"selector": f"{cell}.col{i}",
              "props": "text-align: right;" if _is_number(frame[column]) else "text-align: left;"}
             for i, column in enumerate(frame.columns) for cell in ("td", "th.col_heading")]
    # class "dataframe": the book theme's table look (borders, zebra rows, header rule)
    return styler.set_table_attributes('class="dataframe"').set_table_styles(
        [{"selector": "", "props": "margin-bottom: 1.5em;"},  # tables of one cell stay apart
         {"selector": "caption",
          "props": "caption-side: top; text-align: left; font-weight: 600; color: inherit;"},
         *align])


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def setup_figures() -> None:
    """SVG figures sized for the text column, fonts ≥ 10 pt as shown, stable SVG ids."""
    import matplotlib as mpl
    import seaborn as sns
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats("svg", metadata={"Date": None})  # no build date in the SVG
    sns.set_theme(style="whitegrid", context="notebook")
    mpl.rcParams.update({
        "figure.figsize": (COLUMN_WIDTH, 3.6),
        "font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11,
        "xtick.labelsize": 10, "ytick.labelsize": 10, "legend.fontsize": 10,
        "figure.titlesize": 12,
        "svg.hashsalt": "persona-judge",  # deterministic ids inside the SVG
        "svg.fonttype": "path",
    })


def smoke_stamp(fig: Any, text: str = "SMOKE RUN — not a result") -> None:
    """Write a large, faded, slanted smoke-run notice across a figure (never mistaken for data)."""
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=16, color="red", alpha=0.25,
             rotation=15, transform=fig.transFigure)


SMOKE_LABEL = "SMOKE RUN — "


def caption(text: str, *, smoke: bool) -> str:
    """A table or figure caption; a smoke run's says so first (``"SMOKE RUN — ..."``)."""
    return (SMOKE_LABEL if smoke else "") + text


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
