"""The construction funnel as a figure: users and pairs left after each stage, per source.

``smoke=True`` stamps the figure as a smoke run (synthetic fixtures, scripted
stand-in), so it can never be mistaken for a result.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from persona_judge.construction.compare import PAPER_USERS

SMOKE_STAMP = "SMOKE RUN — synthetic fixtures, scripted stand-in, not a result"


def plot_funnel(funnel: pd.DataFrame, *, smoke: bool = False, title: str = "") -> plt.Figure:
    """One row of panels per source: users (left) and pairs (right) after each stage.

    ``funnel`` is :func:`persona_judge.construction.compare.funnel_table`'s output.
    The paper's final user count is drawn as a dashed line on the users panel.
    """
    sns.set_theme(style="whitegrid")
    sources: Sequence[str] = list(dict.fromkeys(funnel["source"]))
    stages = max(len(funnel[funnel["source"] == s]) for s in sources) if sources else 1
    fig, axes = plt.subplots(len(sources) or 1, 2, squeeze=False,
                             figsize=(12, 1.0 + 0.45 * stages * max(len(sources), 1)))
    for row, source in zip(axes, sources, strict=False):
        part = funnel[funnel["source"] == source]
        for ax, column, colour in ((row[0], "users", "tab:blue"), (row[1], "pairs",
                                                                   "tab:green")):
            sns.barplot(x=part[column].astype(float), y=part["stage"], ax=ax, color=colour,
                        orient="h")
            for i, value in enumerate(part[column]):
                ax.text(float(value), i, f" {int(value):,}", va="center", fontsize=8)
            ax.set_xlabel(column)
            ax.set_ylabel("")
            ax.set_title(f"{source}: {column} left after each stage", fontsize=10)
        if source in PAPER_USERS:
            row[0].axvline(PAPER_USERS[source], color="tab:orange", ls="--", lw=1.5,
                           label=f"paper: {PAPER_USERS[source]} users")
            row[0].legend(loc="lower right", fontsize=8)
        row[1].tick_params(axis="y", labelleft=False)  # same stages, same order as on the left
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if smoke:
        fig.text(0.5, 0.5, SMOKE_STAMP, ha="center", va="center", fontsize=15, color="red",
                 alpha=0.25, rotation=15, transform=fig.transFigure)
    return fig
