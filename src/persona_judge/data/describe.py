"""Descriptive statistics of the benchmark: who the users are and what they judged.

Used by the benchmark chapter. Tables are pandas DataFrames, one row per
preference or per user; the figure is a seaborn/matplotlib figure the notebook
shows. Lengths are in characters (a tokenizer would tie the chapter to a model).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from persona_judge.data.benchmark import PAPER_USER_COUNTS
from persona_judge.data.records import SPLITS, UserSplit


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


def length_table(prefs: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of context and response lengths (characters)."""
    cols = ["context_chars", "chosen_chars", "rejected_chars"]
    return prefs[cols].describe(percentiles=[0.25, 0.5, 0.75]).loc[
        ["count", "25%", "50%", "75%", "max"]].T.round(0)


def plot_benchmark(users: Sequence[UserSplit], title: str):
    """Three panels: preferences per user by split, response lengths, conversation types."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    prefs = preference_table(users)
    per_user = user_table(users).melt(id_vars="user_id", value_vars=list(SPLITS),
                                      var_name="split", value_name="preferences")
    lengths = prefs.melt(value_vars=["chosen_chars", "rejected_chars"], var_name="response",
                         value_name="characters")
    lengths["response"] = lengths["response"].str.replace("_chars", "")
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    sns.histplot(per_user, x="preferences", hue="split", multiple="dodge", discrete=True,
                 shrink=0.8, hue_order=list(SPLITS), ax=axes[0])
    axes[0].set_title("Preferences per user, by split")
    axes[0].set_ylabel("users")
    sns.boxplot(lengths, x="response", y="characters", hue="response", ax=axes[1])
    axes[1].set_title("Response length (characters)")
    order = prefs["type"].value_counts().index
    sns.countplot(prefs, y="type", order=order, ax=axes[2], color="C2")
    axes[2].set_title("Conversation types")
    axes[2].set_xlabel("preferences")
    fig.suptitle(title)
    return fig
