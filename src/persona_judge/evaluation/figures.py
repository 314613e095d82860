"""Figures for the chapters: main results beside the paper, and validation scores per candidate.

Each function takes the tables from :mod:`persona_judge.evaluation.report` or
:mod:`persona_judge.method.tables` and returns a matplotlib figure drawn with
seaborn; ``smoke=True`` stamps the figure "SMOKE RUN — not a result".
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

SMOKE_STAMP = "SMOKE RUN — scripted stand-in model, not a result"


def _stamp(fig: plt.Figure, smoke: bool) -> None:
    if smoke:
        fig.text(0.5, 0.5, SMOKE_STAMP, ha="center", va="center", fontsize=16, color="red",
                 alpha=0.25, rotation=20, transform=fig.transFigure)


def plot_main_results(pooled: pd.DataFrame, per_user: pd.DataFrame,
                      paper: Mapping[str, float] | None = None, *, title: str = "",
                      smoke: bool = False) -> plt.Figure:
    """Left: pooled accuracy with its CI per method (paper's number as a diamond).
    Right: each user's accuracy per method."""
    sns.set_theme(style="whitegrid")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    methods = list(pooled["method"])
    y = range(len(methods))
    left.errorbar(pooled["accuracy"], list(y),
                  xerr=[pooled["accuracy"] - pooled["ci_low"],
                        pooled["ci_high"] - pooled["accuracy"]],
                  fmt="o", color="tab:blue", capsize=4, label="this run (95% CI)")
    if paper:
        known = [(i, paper[m]) for i, m in enumerate(methods) if m in paper]
        if known:
            left.scatter([v for _, v in known], [i for i, _ in known], marker="D",
                         color="tab:orange", zorder=3, label="paper")
    left.axvline(50, color="grey", ls="--", lw=1)
    left.set_yticks(list(y), methods)
    left.invert_yaxis()
    left.set_xlabel("accuracy (%)")
    left.set_title("pooled over users")
    left.legend(loc="lower right", fontsize=8)
    sns.stripplot(data=per_user, x="accuracy", y="method", order=methods, ax=right,
                  alpha=0.6, jitter=0.2)
    right.axvline(50, color="grey", ls="--", lw=1)
    right.set_xlabel("accuracy per user (%)")
    right.set_ylabel("")
    right.tick_params(axis="y", labelleft=False)  # same methods, same order as on the left
    right.set_title("per user")
    fig.suptitle(title)
    fig.tight_layout()
    _stamp(fig, smoke)
    return fig


def plot_candidate_scores(candidates: pd.DataFrame, *, title: str = "",
                          smoke: bool = False) -> plt.Figure:
    """Validation accuracy of every scored candidate, one row per user; the winner is a star.

    ``candidates`` holds rows of :func:`persona_judge.method.tables.candidates_table` (one
    search or several: each search gets its own lane and colour within a user's row).
    Sized for the book's 7-inch column; chance is a labelled line and the legend sits
    below the axes, off the points. Points are spread vertically (seeded) so equal
    scores stay countable.
    """
    import numpy as np

    scored = candidates.dropna(subset=["val accuracy"])
    users = list(dict.fromkeys(scored["user_id"]))
    searches = list(dict.fromkeys(scored["search"]))
    lane = 0.8 / max(1, len(searches))
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(7, 1.4 + 0.45 * max(1, len(users)) * max(1, len(searches))),
                           constrained_layout=True)
    for k, search in enumerate(searches):
        part = scored[scored["search"] == search]
        offset = -0.4 + lane * (k + 0.5)
        rows = np.array([users.index(u) for u in part["user_id"]], dtype=float) + offset
        spread = rng.uniform(-0.3 * lane, 0.3 * lane, len(part))
        ax.scatter(part["val accuracy"], rows + spread, s=28, alpha=0.6, color=f"C{k}",
                   label=f"{search} candidate")
        won = part["winner"].astype(bool).to_numpy()
        ax.scatter(part["val accuracy"][won], rows[won], marker="*", s=200, color=f"C{k}",
                   edgecolor="black", linewidth=0.8, zorder=3, label=f"{search} winner")
    ax.axvline(50, color="grey", ls="--", lw=1, label="chance (50%)")
    ax.set_yticks(range(len(users)), users)
    ax.set_ylim(len(users) - 0.5, -0.5)
    ax.set_xlim(-5, 105)
    ax.set_xlabel("validation accuracy (%)")
    ax.set_ylabel("")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center",
               ncol=min(3, 2 * len(searches) + 1), frameon=False)
    if title:
        ax.set_title(title)
    _stamp(fig, smoke)
    return fig
