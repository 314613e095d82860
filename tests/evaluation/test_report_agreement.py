"""Agreement of two judges on the same judgments, by hand (the default-judge check)."""

from __future__ import annotations

import pandas as pd
import pytest

from persona_judge.evaluation.report import judge_agreement


def _frame(method: str, choices: list[str | None]) -> pd.DataFrame:
    keys = [("u1", "p1", "chosen_first"), ("u1", "p1", "rejected_first"),
            ("u1", "p2", "chosen_first"), ("u1", "p2", "rejected_first"),
            ("u2", "p3", "chosen_first"), ("u2", "p3", "rejected_first")]
    frame = pd.DataFrame([{"method": method, "user_id": u, "pair_id": p, "order": o,
                           "choice": c, "correct": c == ("A" if o == "chosen_first" else "B")}
                          for (u, p, o), c in zip(keys, choices, strict=True)])
    # no verdict is None, as in predict.records_frame
    frame["choice"] = pd.Series(choices, dtype=object)
    return frame


def test_agreement_by_hand() -> None:
    frame = pd.concat([_frame("ours", ["A", "B", "A", "A", None, "B"]),
                       _frame("theirs", ["A", "B", "B", "A", None, "A"])], ignore_index=True)
    out = judge_agreement(frame, "ours", "theirs", n_resamples=200)
    # agree: p1 both orders, p2 rejected_first; a missing verdict agrees with nothing
    assert out["judgments"] == 6 and out["pairs"] == 3
    assert out["judgment agreement"] == pytest.approx(100 * 3 / 6)
    assert out["pair agreement"] == pytest.approx(100 * 1 / 3)
    assert out["accuracy ours"] == pytest.approx(100 * 4 / 6)
    assert out["accuracy theirs"] == pytest.approx(100 * 2 / 6)
    assert out["ci_low"] <= out["judgment agreement"] <= out["ci_high"]


def test_agreement_needs_the_same_judgments() -> None:
    frame = pd.concat([_frame("ours", ["A"] * 6), _frame("theirs", ["A"] * 6).iloc[:4]])
    with pytest.raises(ValueError, match="same judgments"):
        judge_agreement(frame, "ours", "theirs")
