"""Figures for the chapters: main results beside the paper, and validation scores per candidate.

Each function takes the tables from :mod:`persona_judge.evaluation.report` or
:mod:`persona_judge.method.tables` and returns a matplotlib figure drawn with
seaborn; ``smoke=True`` stamps the figure "SMOKE RUN — not a result" (a string
``smoke`` is stamped instead, e.g. a local model check's label).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from persona_judge.study.display import FIGURE_WIDTH, smoke_stamp

#: Method names on an axis wrap after this many characters (phone legibility).
WRAP_LABEL = 20


def _wrapped(methods: Any) -> tuple[list[str], int]:
    """Method names wrapped for an axis, and how many lines they take together: a long name
    would widen the saved figure, which a phone then scales down further."""
    labels = [textwrap.fill(str(m), WRAP_LABEL) or str(m) for m in methods]
    return labels, sum(label.count("\n") + 1 for label in labels)


def _stamp(fig: plt.Figure, smoke: bool | str) -> None:
    """A smoke run's figure says so in one line above the axes (never over the data); a
    string is the stamp itself (e.g. a local model check's)."""
    if smoke:
        if isinstance(smoke, str):
            smoke_stamp(fig, smoke)
        else:
            smoke_stamp(fig)


def plot_main_results(pooled: pd.DataFrame, per_user: pd.DataFrame,
                      paper: Mapping[str, float] | None = None, *, title: str = "",
                      smoke: bool = False) -> plt.Figure:
    """Top: pooled accuracy with its CI per method (paper's number as a diamond).
    Bottom: each user's accuracy per method (stacked, so the figure stays legible on a phone)."""
    sns.set_theme(style="whitegrid")
    n = max(1, len(pooled))
    labels, lines = _wrapped(pooled["method"])
    fig, (left, right) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 2.0 + 0.4 * n + 0.3 * lines),
                                      sharex=True)
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
    left.legend(loc="lower right")
    sns.stripplot(data=per_user, x="accuracy", y="method", order=methods, ax=right,
                  alpha=0.6, jitter=0.2)
    right.axvline(50, color="grey", ls="--", lw=1)
    right.set_xlabel("accuracy per user (%)")
    right.set_ylabel("")
    right.set_title("per user")
    left.set_yticks(list(y), labels)
    right.set_yticks(list(y), labels)
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
    rows = max(1, len(users)) * max(1, len(searches))
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 1.4 + 0.45 * rows),
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
               ncol=1, frameon=False)
    if title:
        ax.set_title(title)
    _stamp(fig, smoke)
    return fig


CHANCE_LABEL = "chance (50%)"


def _figure_height(n_rows: int) -> float:
    return 1.4 + 0.32 * max(1, n_rows)


def plot_method_accuracy(pooled: pd.DataFrame, per_user: pd.DataFrame | None = None,
                         paper: Mapping[str, float] | None = None, *, title: str = "",
                         smoke: bool | str = False) -> plt.Figure:
    """One setting: each method's pooled accuracy with its 95% CI (dot and bar), each user's
    accuracy (faint dots behind), and the paper's number where it has one (diamond).

    Sized for the book's text column (7 in); the legend sits below the axes, off the data.
    """
    methods = list(pooled["method"])
    labels, wrapped_lines = _wrapped(methods)
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, _figure_height(wrapped_lines) + 0.6))
    y = {m: i for i, m in enumerate(methods)}
    if per_user is not None and len(per_user):
        shown = per_user[per_user["method"].isin(y)]
        offsets = (shown.groupby("method").cumcount() % 5 - 2) * 0.06
        rows = np.array([y[m] for m in shown["method"]], dtype=float)
        ax.scatter(shown["accuracy"], rows + offsets.to_numpy(dtype=float), s=12, color="0.6",
                   alpha=0.5, label="one user", zorder=1)
    low = pooled["accuracy"] - pooled["ci_low"]
    high = pooled["ci_high"] - pooled["accuracy"]
    ax.errorbar(pooled["accuracy"], [y[m] for m in methods],
                xerr=[low.fillna(0), high.fillna(0)], fmt="o", color="tab:blue", capsize=3,
                label="this run (95% CI)", zorder=3)
    known = [(y[m], paper[m]) for m in methods if paper and m in paper]
    if known:
        ax.scatter([v for _, v in known], [i for i, _ in known], marker="D", s=40,
                   color="tab:orange", label="paper", zorder=4)
    ax.axvline(50, color="0.3", ls="--", lw=1, label=CHANCE_LABEL)
    ax.set_yticks(range(len(methods)), labels)
    ax.set_ylim(len(methods) - 0.5, -0.5)
    ax.set_xlim(-2, 102)
    ax.set_xlabel("accuracy (% of judgments, both orders)")
    if title:
        ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.9 / fig.get_figheight(), 1, 1))
    _stamp(fig, smoke)
    return fig


def plot_grid(table: pd.DataFrame, *, smoke: bool = False) -> plt.Figure:
    """Every setting at once: one panel per dataset, methods down the side, one colour per
    judge with its 95% CI, the paper's numbers as diamonds in the judge's colour.

    ``table`` is :func:`persona_judge.evaluation.grid.with_paper`'s output (methods that
    did not run appear without a dot; the paper's number still shows).
    """
    from persona_judge.evaluation.main_results import method_rank

    datasets = list(dict.fromkeys(table["dataset"]))
    methods = sorted(dict.fromkeys(table["method"]), key=method_rank)
    judges = list(dict.fromkeys(table["judge"]))
    colours = dict(zip(judges, sns.color_palette("colorblind", len(judges)), strict=False))
    names = {"chatbot_arena": "Chatbot Arena", "prism": "PRISM"}
    # one panel per dataset, stacked: side by side they would shrink below legibility on a phone
    fig, axes = plt.subplots(len(datasets), 1, sharex=True, squeeze=False,
                             figsize=(FIGURE_WIDTH, len(datasets) * _figure_height(len(methods))
                                      + 1.6))
    axes = axes.T
    y = {m: i for i, m in enumerate(methods)}
    step = 0.22
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = table[table["dataset"] == dataset]
        for k, judge in enumerate(judges):
            rows = part[part["judge"] == judge]
            dy = (k - (len(judges) - 1) / 2) * step
            ran = rows[rows["accuracy"].notna()]
            ax.errorbar(ran["accuracy"], np.array([y[m] for m in ran["method"]], dtype=float) + dy,
                        xerr=[(ran["accuracy"] - ran["ci_low"]).fillna(0),
                              (ran["ci_high"] - ran["accuracy"]).fillna(0)],
                        fmt="o", ms=4, capsize=2, color=colours[judge], label=judge)
            pub = rows[rows["paper"].notna()]
            if pub.empty:
                continue
            ax.scatter(pub["paper"], np.array([y[m] for m in pub["method"]], dtype=float) + dy,
                       marker="D", s=28,
                       facecolor="white", edgecolor=colours[judge], linewidth=1.5, zorder=4,
                       label=f"paper, {judge}")
        ax.axvline(50, color="0.3", ls="--", lw=1, label=CHANCE_LABEL)
        ax.set_xlim(-2, 102)
        ax.set_title(names.get(dataset, dataset))
        ax.set_xlabel("accuracy (%)")
    for ax in axes[0]:
        ax.set_yticks(range(len(methods)), methods)
        ax.set_ylim(len(methods) - 0.5, -0.5)
    seen: dict[str, Any] = {}
    for ax in axes[0]:
        handles, labels = ax.get_legend_handles_labels()
        for label, handle in zip(labels, handles, strict=True):
            seen.setdefault(label, handle)
    fig.legend(seen.values(), seen.keys(), loc="lower center", ncol=1, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    rows = len(seen)
    fig.set_figheight(fig.get_figheight() + 0.3 * rows)
    fig.tight_layout(rect=(0, (0.15 + 0.3 * rows) / fig.get_figheight(), 1, 1))
    _stamp(fig, smoke)
    return fig
