"""Descriptive statistics of the benchmark: who the users are, what they judged, what was lost.

Used by the benchmark chapter. Tables are pandas DataFrames with plain columns
(no index to read around) and rounded numbers, for ``study.display.table``; figures
are matplotlib figures 7 in wide, one message each (split sizes, reply lengths,
conversation types), drawn in the style ``study.display.setup_figures`` sets and
stamped when they come from a smoke run. Lengths are in characters (a tokenizer
would tie the chapter to a model). The per-user split tables count *every* user in
the data, including those a study sets aside, because they describe the benchmark as
published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from persona_judge.data.benchmark import PAPER_USER_COUNTS
from persona_judge.data.records import SPLITS, UserSplit, group_by_user
from persona_judge.data.validation import LoadReport, field_pattern


def preference_table(users: Sequence[UserSplit]) -> pd.DataFrame:
    """One row per preference: user, split, type, turns and character lengths."""
    rows = []
    for user in users:
        for split in SPLITS:
            for pref in getattr(user, split):
                rows.append({
                    "user_id": user.user_id,
                    "split": split,
                    "type": pref.type or "(none)",
                    "turns": pref.turns if pref.turns is not None else
                    sum(t.role == "user" for t in pref.context),
                    "context_chars": sum(len(t.content) for t in pref.context),
                    "chosen_chars": len(pref.chosen.content),
                    "rejected_chars": len(pref.rejected.content),
                })
    return pd.DataFrame(rows, columns=["user_id", "split", "type", "turns", "context_chars",
                                       "chosen_chars", "rejected_chars"])


def user_table(users: Sequence[UserSplit]) -> pd.DataFrame:
    """One row per user: how many preferences each split holds."""
    return pd.DataFrame(
        [{"user_id": u.user_id, "train": len(u.train), "val": len(u.val), "test": len(u.test),
          "total": u.n_preferences} for u in users],
        columns=["user_id", "train", "val", "test", "total"])


def all_users(report: LoadReport) -> list[UserSplit]:
    """Every user of a loaded dataset, whatever their splits, in id order."""
    users = group_by_user(report.preferences)
    return [users[u] for u in sorted(users)]


def overview(dataset: str, users: Sequence[UserSplit], *, sampled_from: int | None = None
             ) -> pd.DataFrame:
    """The headline table: users and preferences here, beside the paper's user count."""
    per_user = user_table(users)
    prefs = preference_table(users)
    values = {
        "users shown": len(users),
        "users in the loaded dataset": sampled_from if sampled_from is not None else len(users),
        "users in the paper": PAPER_USER_COUNTS.get(dataset),
        "preferences shown": int(per_user["total"].sum()),
        "preferences per user (median)": float(per_user["total"].median()) if len(users) else 0,
        "train / val / test (total)": " / ".join(str(int(per_user[s].sum())) for s in SPLITS),
        "multi-turn contexts (%)": round(100 * float((prefs["turns"] > 1).mean()), 1)
        if len(prefs) else 0.0,
        "chosen longer than rejected (%)": round(
            100 * float((prefs["chosen_chars"] > prefs["rejected_chars"]).mean()), 1)
        if len(prefs) else 0.0,
    }
    return pd.DataFrame({"value": values}).rename_axis(dataset)


def split_size_summary(users_by_dataset: Mapping[str, Sequence[UserSplit]]) -> pd.DataFrame:
    """Per dataset and split: how many pairs users hold (quartiles) and how many hold 0 or 1.

    One row per (dataset, split); the method needs training pairs to learn from and
    uses validation pairs to choose among candidates, so users with 0 or 1 of
    either are the ones that take a documented fallback or are set aside.
    """
    rows = []
    for name, users in users_by_dataset.items():
        table = user_table(users)
        for split in SPLITS:
            counts = table[split]
            rows.append({
                "dataset": name, "split": split, "users": len(table),
                "pairs": int(counts.sum()),
                "min": int(counts.min()) if len(table) else 0,
                "median": float(counts.median()) if len(table) else 0.0,
                "mean": round(float(counts.mean()), 1) if len(table) else 0.0,
                "max": int(counts.max()) if len(table) else 0,
                "users with 0": int((counts == 0).sum()),
                "users with 1": int((counts == 1).sum()),
            })
    return pd.DataFrame(rows)


def hub_split_crosstab(report: LoadReport) -> pd.DataFrame:
    """Rows by the Hub's split name (the parquet file they sit in) against their ``split`` column.

    A diagonal table means the Hub's splits are the per-user splits; anything
    off the diagonal shows the two disagree (the rows' column is what the study uses).
    """
    frame = pd.DataFrame({
        "Hub file split": [o.part or "(unnamed)" for o in report.origins],
        "row split": [p.split for p in report.preferences]})
    table = pd.crosstab(frame["Hub file split"], frame["row split"])
    table = table.reindex(columns=[s for s in SPLITS if s in table.columns])
    order = [s for s in ("train", "validation", "val", "test") if s in table.index]
    table = table.reindex(order + [s for s in table.index if s not in order])
    table["total"] = table.sum(axis=1)
    return table.reset_index().rename_axis(None, axis=1)


def skipped_table(reports: Mapping[str, LoadReport]) -> pd.DataFrame:
    """What each dataset's load skipped, by field and reason, with the first example."""
    rows = []
    for name, report in reports.items():
        groups: dict[tuple[str, str], list] = {}
        for err in report.skipped:
            groups.setdefault((field_pattern(err.field), err.reason), []).append(err)
        for (fld, reason), errs in sorted(groups.items()):
            rows.append({"dataset": name, "field": fld, "reason": reason, "rows": len(errs),
                         "share of rows (%)": round(100 * len(errs) / max(report.n_rows, 1), 2),
                         "first example": str(errs[0])})
    return pd.DataFrame(rows, columns=["dataset", "field", "reason", "rows", "share of rows (%)",
                                       "first example"])


def set_aside_table(reports: Mapping[str, LoadReport]) -> pd.DataFrame:
    """The users a study set aside, per dataset, with their split sizes and why."""
    rows = [{"dataset": name, "user_id": u.user_id, "train": u.train, "val": u.val,
             "test": u.test, "reason": u.reason}
            for name, report in reports.items() for u in report.set_aside]
    return pd.DataFrame(rows, columns=["dataset", "user_id", "train", "val", "test", "reason"])


def length_table(prefs: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of context and response lengths (characters)."""
    cols = ["context_chars", "chosen_chars", "rejected_chars"]
    return prefs[cols].describe(percentiles=[0.25, 0.5, 0.75]).loc[
        ["count", "25%", "50%", "75%", "max"]].T.round(0)


def lengths_table(users_by_dataset: Mapping[str, Sequence[UserSplit]]) -> pd.DataFrame:
    """Per dataset and text (context, chosen, rejected): pairs, quartiles and max, in characters.

    Plain columns and whole numbers, one row per dataset and text, for a reader's table.
    """
    rows = []
    for name, users in users_by_dataset.items():
        prefs = preference_table(users)
        for text in ("context", "chosen", "rejected"):
            chars = prefs[f"{text}_chars"]
            quartiles = chars.quantile([0.25, 0.5, 0.75]) if len(chars) else None
            rows.append({"dataset": name, "text": text, "pairs": len(chars),
                         "25%": None if quartiles is None else round(float(quartiles[0.25])),
                         "median": None if quartiles is None else round(float(quartiles[0.5])),
                         "75%": None if quartiles is None else round(float(quartiles[0.75])),
                         "max": int(chars.max()) if len(chars) else None})
    return pd.DataFrame(rows, columns=["dataset", "text", "pairs", "25%", "median", "75%",
                                       "max"])


def _number(value: float) -> str:
    """A count or median as a reader reads it: ``1,234``, ``9.5``."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def overview_table(users_by_dataset: Mapping[str, Sequence[UserSplit]],
                   loaded: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The headline table for readers: one row per measure, one column per dataset.

    Values are formatted text (counts with separators, shares in percent with one
    decimal), because one column mixes counts and shares. ``loaded`` gives each
    dataset's number of usable users before any sampling (default: the users given).
    """
    columns: dict[str, list[str]] = {}
    for name, users in users_by_dataset.items():
        table = overview(name, users, sampled_from=(loaded or {}).get(name))["value"]
        paper = table["users in the paper"]
        columns[name] = [
            _number(table["users shown"]),
            _number(table["users in the loaded dataset"]),
            "–" if paper is None else _number(paper),
            _number(table["preferences shown"]),
            _number(table["preferences per user (median)"]),
            table["train / val / test (total)"],
            f"{table['multi-turn contexts (%)']:.1f}",
            f"{table['chosen longer than rejected (%)']:.1f}",
        ]
    measures = ["users shown", "usable users in the loaded data", "users in the paper",
                "preferences shown", "preferences per user (median)",
                "train / val / test pairs", "multi-turn contexts (%)",
                "chosen reply longer than rejected (%)"]
    return pd.DataFrame({"": measures, **columns})


def _stamp(fig, smoke: bool) -> None:
    from persona_judge.study.display import smoke_stamp

    if smoke:
        smoke_stamp(fig, "SMOKE RUN — synthetic fixtures, not a result")


def plot_split_sizes(users_by_dataset: Mapping[str, Sequence[UserSplit]], title: str = "", *,
                     smoke: bool = False):
    """Per dataset (one panel each, stacked), how many users hold 0, 1, 2, ... pairs per split.

    Sized for the book's text column (7 in wide); the legend sits above the panels,
    off the bars.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = list(users_by_dataset) or ["(none)"]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 0.6 + 2.6 * len(names)), squeeze=False,
                             constrained_layout=True)
    for ax, name in zip(axes[:, 0], names, strict=True):
        long = user_table(users_by_dataset.get(name, [])).melt(
            id_vars="user_id", value_vars=list(SPLITS), var_name="split", value_name="pairs")
        if len(long):
            sns.histplot(long, x="pairs", hue="split", hue_order=list(SPLITS), multiple="dodge",
                         discrete=True, shrink=0.8, ax=ax, legend=ax is axes[0, 0])
        ax.set_title(name, loc="left")
        ax.set_xlabel("pairs in the split (per user)")
        ax.set_ylabel("users")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.yaxis.get_major_locator().set_params(integer=True)
    legend = axes[0, 0].get_legend()
    if legend is not None:  # above the panels, in one row, off the data
        sns.move_legend(axes[0, 0], "lower right", bbox_to_anchor=(1, 1), ncol=3, title=None,
                        frameon=False)
    if title:
        fig.suptitle(title)
    _stamp(fig, smoke)
    return fig


def plot_response_lengths(users_by_dataset: Mapping[str, Sequence[UserSplit]], *,
                          smoke: bool = False):
    """Chosen and rejected reply lengths (characters) per dataset, as box plots."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    frames = []
    for name, users in users_by_dataset.items():
        prefs = preference_table(users)
        long = prefs.melt(value_vars=["chosen_chars", "rejected_chars"], var_name="reply",
                          value_name="characters")
        long["reply"] = long["reply"].str.replace("_chars", "")
        frames.append(long.assign(dataset=name))
    data = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["reply", "characters", "dataset"])
    fig, ax = plt.subplots(figsize=(7, 3.4), constrained_layout=True)
    if len(data):
        sns.boxplot(data, x="dataset", y="characters", hue="reply",
                    hue_order=["chosen", "rejected"], ax=ax)
        sns.move_legend(ax, "lower right", bbox_to_anchor=(1, 1), ncol=2, title=None,
                        frameon=False)
    ax.set_xlabel("")
    ax.set_ylabel("reply length (characters)")
    _stamp(fig, smoke)
    return fig


def plot_conversation_types(users_by_dataset: Mapping[str, Sequence[UserSplit]], *,
                            smoke: bool = False):
    """How many preferences each conversation type has, per dataset (horizontal bars)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    frames = [preference_table(users).assign(dataset=name)
              for name, users in users_by_dataset.items()]
    data = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["type", "dataset"])
    order = list(data["type"].value_counts().index)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.45 * max(1, len(order)) * max(1, len(frames))),
                           constrained_layout=True)
    if len(data):
        sns.countplot(data, y="type", hue="dataset", order=order, ax=ax)
        sns.move_legend(ax, "lower right", bbox_to_anchor=(1, 1), ncol=2, title=None,
                        frameon=False)
    ax.set_ylabel("")
    ax.set_xlabel("preferences")
    _stamp(fig, smoke)
    return fig
