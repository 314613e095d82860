"""The construction funnel as figures: users, or pairs, left after each stage, per source.

One figure per measure (users, pairs), one panel per source stacked in the book's 7-inch
text column, so stage names and counts stay legible. ``smoke=True`` stamps the figure
as a smoke run (synthetic fixtures, scripted stand-in), so it can never be mistaken for
a result.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from persona_judge.construction.compare import PAPER_USERS
from persona_judge.study.display import FIGURE_WIDTH, smoke_stamp

SMOKE_STAMP = "SMOKE RUN — not a result"
COLOURS = {"users": "tab:blue", "pairs": "tab:green"}


def plot_funnel(funnel: pd.DataFrame, column: str = "users", *, smoke: bool = False,
                title: str = "") -> plt.Figure:
    """Horizontal bars: ``column`` ("users" or "pairs") left after each stage, one panel per source.

    ``funnel`` is :func:`persona_judge.construction.compare.funnel_table`'s output. On the
    users figure the paper's final user count is a dashed, labelled line (the legend sits
    below the panels, off the bars).
    """
    if column not in COLOURS:
        raise ValueError(f"column must be 'users' or 'pairs', got {column!r}")
    sources: Sequence[str] = list(dict.fromkeys(funnel["source"])) if len(funnel) else []
    heights = [len(funnel[funnel["source"] == s]) for s in sources] or [1]
    fig, axes = plt.subplots(len(heights), 1, squeeze=False, constrained_layout=True,
                             figsize=(FIGURE_WIDTH, 0.9 * len(heights) + 0.38 * sum(heights) + 0.5),
                             gridspec_kw={"height_ratios": [h + 1 for h in heights]})
    paper_line = None
    for ax, source in zip(axes[:, 0], sources, strict=False):
        part = funnel[funnel["source"] == source]
        values = part[column].astype(float).tolist()
        sns.barplot(x=values, y=list(part["stage"]), ax=ax, color=COLOURS[column], orient="h")
        for i, value in enumerate(values):
            ax.text(value, i, f" {value:,.0f}", va="center")
        right = max(values + [1.0])
        if column == "users" and source in PAPER_USERS:
            paper_line = ax.axvline(PAPER_USERS[source], color="tab:orange", ls="--", lw=1.5,
                                    label="the paper's final user count")
            right = max(right, PAPER_USERS[source])
        ax.set_xlim(0, right * 1.15)  # room for the count printed after the longest bar
        ax.set_title(source, loc="left")
        ax.set_xlabel(f"{column} left after the stage")
        ax.set_ylabel("")
    if paper_line is not None:
        fig.legend(handles=[paper_line], loc="outside lower center", frameon=False)
    if title:
        fig.suptitle(title)
    if smoke:
        smoke_stamp(fig, SMOKE_STAMP)
    return fig
