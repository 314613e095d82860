"""The further studies' figures: accuracy versus k, persona-survey alignment, transfer.

Each function takes the small tables the study modules compute and returns a matplotlib
figure sized for the book's text column (call ``persona_judge.study.display.setup_figures``
first); ``smoke=True`` stamps it "SMOKE RUN". Legends sit below the axes, off the data;
chance lines are labelled.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from persona_judge.analyses.common import short_model
from persona_judge.evaluation.figures import _stamp
from persona_judge.study.display import FIGURE_WIDTH

COLOURS = {"SynthesizeMe (persona + demos)": "tab:blue", "Memory": "tab:green",
           "default judge": "tab:grey"}


def _legend_below(fig: plt.Figure, *axes: plt.Axes, ncol: int = 1) -> None:
    """One legend for the whole figure, below the axes (off the data); duplicates merged."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=ncol,
               frameon=False)


def plot_scaling(by_k: pd.DataFrame, *, fit_k: Sequence[float] = (),
                 fit_accuracy: Sequence[float] = (), paper_slope: float | None = None,
                 method: str = "SynthesizeMe (persona + demos)", smoke: bool = False
                 ) -> plt.Figure:
    """Accuracy per k for each method (line, 95% band); the GEE fit of ``method`` dashed;
    the paper's slope drawn through the fit at the smallest k."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 5.2), layout="constrained")
    names = [m for m in COLOURS if m in set(by_k["method"])]
    names += [m for m in dict.fromkeys(by_k["method"]) if m not in names]
    for name in names:
        group = by_k[by_k["method"] == name].sort_values("k")
        colour = COLOURS.get(str(name))
        ax.plot(group["k"], group["accuracy"], marker="o", color=colour, label=str(name))
        ax.fill_between(group["k"], group["ci_low"], group["ci_high"], color=colour,
                        alpha=0.15, linewidth=0)
    if len(fit_k):
        ax.plot(fit_k, fit_accuracy, ls="--", color=COLOURS.get(method, "black"),
                label="SynthesizeMe: logistic GEE fit")
        if paper_slope is not None:
            k0, y0 = float(fit_k[0]), float(fit_accuracy[0])
            ks = np.asarray(fit_k, dtype=float)
            ax.plot(ks, y0 + paper_slope * (ks - k0), ls=":", color="tab:orange", lw=2,
                    label=f"paper's slope (+{paper_slope:g} points per preference)")
    ax.axhline(50, color="black", lw=0.8, ls="-.", label="chance (50%)")
    ax.set_xticks(sorted(by_k["k"].unique()))
    ax.set_xlabel("preferences the method learned from (k)")
    ax.set_ylabel("test accuracy (%)")
    _legend_below(fig, ax)
    _stamp(fig, smoke)
    return fig


def plot_alignment(accuracy: pd.DataFrame, attributes: pd.DataFrame, *,
                   paper: dict[str, float] | None = None, smoke: bool = False) -> plt.Figure:
    """Top: matching accuracy per condition with its CI (paper's numbers as diamonds).
    Bottom: Spearman's rho per survey quality, SynthesizeMe personas vs shuffled (stacked,
    so the figure stays legible on a phone)."""
    fig, (left, right) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 8.0), layout="constrained",
                                      gridspec_kw={"height_ratios": [1, 1.6]})
    y = np.arange(len(accuracy))
    left.errorbar(accuracy["accuracy"], y,
                  xerr=[accuracy["accuracy"] - accuracy["ci_low"],
                        accuracy["ci_high"] - accuracy["accuracy"]],
                  fmt="o", color="tab:blue", capsize=4, label="this run (95% CI)")
    if paper:
        known = [(i, paper[c]) for i, c in enumerate(accuracy["condition"]) if c in paper]
        if known:
            left.scatter([v for _, v in known], [i for i, _ in known], marker="D",
                         color="tab:orange", zorder=3, label="paper (70B)")
    left.axvline(50, color="black", lw=0.8, ls="-.", label="chance (50%)")
    left.set_yticks(y, [c.replace(" persona", "\npersona") for c in accuracy["condition"]])
    left.invert_yaxis()
    left.set_xlabel("picks its author (%)")
    left.set_title("matching test")
    conditions = [c for c in attributes["condition"].unique()]
    attrs = list(dict.fromkeys(attributes["attribute"]))
    offsets = np.linspace(-0.2, 0.2, max(1, len(conditions)))
    palette = ("tab:purple", "tab:grey", "tab:olive", "tab:brown")
    for offset, cond, colour in zip(offsets, conditions, palette, strict=False):
        part = attributes[attributes["condition"] == cond].set_index("attribute").reindex(attrs)
        pos = np.arange(len(attrs)) + offset
        right.errorbar(part["rho"], pos, xerr=[part["rho"] - part["ci_low"],
                                               part["ci_high"] - part["rho"]],
                       fmt="o", capsize=2, label=f"{cond} (rho, 95% CI)", color=colour)
    right.axvline(0, color="black", lw=0.8, ls="-.", label="no agreement (0)")
    right.set_yticks(np.arange(len(attrs)), attrs)
    right.invert_yaxis()
    right.set_xlim(-1.05, 1.05)
    right.set_xlabel("Spearman's rho, implied vs stated")
    right.set_title("per survey quality")
    _legend_below(fig, left, right)
    _stamp(fig, smoke)
    return fig


def plot_transfer(per_judge: pd.DataFrame, *, smoke: bool = False) -> plt.Figure:
    """Accuracy (95% CI) per judge and condition: no persona, own persona, others' personas."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 5.0), layout="constrained")
    judges = list(dict.fromkeys(per_judge["judge"]))
    methods = list(dict.fromkeys(per_judge["method"]))
    offsets = np.linspace(-0.25, 0.25, max(1, len(methods)))
    for offset, method in zip(offsets, methods, strict=True):
        part = per_judge[per_judge["method"] == method].set_index("judge").reindex(judges)
        x = np.arange(len(judges)) + offset
        ax.errorbar(x, part["accuracy"], yerr=[part["accuracy"] - part["ci_low"],
                                               part["ci_high"] - part["accuracy"]],
                    fmt="o", capsize=4, label=method)
    ax.axhline(50, color="black", lw=0.8, ls="-.", label="chance (50%)")
    ax.set_xticks(np.arange(len(judges)), [short_model(j) for j in judges])
    ax.set_xlabel("judge")
    ax.set_ylabel("test accuracy (%)")
    _legend_below(fig, ax)
    _stamp(fig, smoke)
    return fig
