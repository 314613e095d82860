"""The paper's numbers: one data file, every number sourced, matched to our settings by judge."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from persona_judge.evaluation.paper import (
    COLUMNS,
    judge_key,
    paper_accuracy,
    paper_numbers,
    setting_label,
)
from persona_judge.evaluation.report import beside_paper
from persona_judge.paths import project_root

#: STUDY.md section 4: Chatbot Arena, Llama 3.3 70B, the paper's Table 3.
STUDY_TABLE = {"default judge": 56.69, "Memory": 57.57, "GPO": 58.10,
               "SynthesizeMe (persona + demos)": 61.97, "SynthesizeMe (persona only)": 53.70,
               "Bradley–Terry reward model (fine-tuned)": 71.48,
               "Fine-tuned RM + personas": 72.18}


def test_the_file_has_every_column_and_every_row_a_source() -> None:
    frame = paper_numbers(None)
    assert list(frame.columns) == list(COLUMNS)
    assert set(frame["kind"]) == {"paper", "reprint"}
    for row in frame.itertuples():
        assert "arXiv" in row.source and ("Table" in row.source or "table" in row.source), row
        assert 0 < row.accuracy < 100
    assert not frame.duplicated(["kind", "dataset", "judge_model", "method"]).any()


def test_the_main_setting_matches_the_study_brief() -> None:
    assert paper_accuracy("chatbot_arena", "meta-llama/Llama-3.3-70B-Instruct-Turbo") == \
        pytest.approx(STUDY_TABLE)
    assert all("Table 3" in s for s in paper_numbers("paper")["source"])


def test_reprints_are_kept_apart_from_the_paper() -> None:
    paper = paper_accuracy("chatbot_arena", "Llama-3.1-70B")
    assert paper == {}  # the paper's own table has no Llama 3.1 70B column
    assert paper_accuracy("chatbot_arena", "Llama-3.1-70B", kind="reprint") == \
        {"SynthesizeMe (persona + demos)": 63.14}
    assert paper_accuracy("prism", "Llama-3.1-70B", kind="reprint") == \
        {"SynthesizeMe (persona + demos)": 58.19}


@pytest.mark.parametrize(("model", "key"), [
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "Llama-3.3-70B"),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", "Llama-3.1-8B"),
    ("meta-llama/Llama-3.2-3B-Instruct-Turbo", "Llama-3.2-3B"),
    ("meta-llama/Llama-3.3-70B-Instruct", "Llama-3.3-70B"),  # a vLLM-served name
    ("llama3.1:8b", "Llama-3.1-8B"),                          # an Ollama tag
    ("Qwen/Qwen2.5-72B-Instruct", None), ("stand-in-judge", None),
])
def test_judge_keys(model: str, key: str | None) -> None:
    assert judge_key(model) == key


def test_the_grid_uses_judges_that_are_priced_and_recognised() -> None:
    study = yaml.safe_load((project_root() / "study.yaml").read_text())
    grid = next(c for c in study["notebooks"] if c["name"] == "05_main_results")["grid"]
    prices = yaml.safe_load((project_root() / "src/persona_judge/llm/prices.yaml").read_text())
    assert sorted(judge_key(m) for m in grid["model"]) == ["Llama-3.1-8B", "Llama-3.2-3B",
                                                           "Llama-3.3-70B"]
    assert set(grid["model"]) <= set(prices["models"])
    assert set(grid["dataset"]) == {"chatbot_arena", "prism"}
    assert setting_label("prism", grid["model"][0]) == "PRISM, Llama-3.2-3B"


def test_beside_paper_by_hand() -> None:
    pooled = pd.DataFrame({"method": ["default judge", "Memory", "Demographics"],
                           "accuracy": [60.0, 50.0, 40.0], "ci_low": [55.0, 45.0, 30.0],
                           "ci_high": [65.0, 57.0, 50.0]})
    out = beside_paper(pooled, "chatbot_arena", "meta-llama/Llama-3.3-70B-Instruct-Turbo")
    out = out.set_index("method")
    assert out.loc["default judge", "delta"] == pytest.approx(60.0 - 56.69)
    assert out.loc["default judge", "paper inside CI"] is True      # 55 <= 56.69 <= 65
    assert out.loc["Memory", "paper inside CI"] is False            # 57.57 > 57
    assert math.isnan(out.loc["Demographics", "paper"])
    assert out.loc["Demographics", "paper inside CI"] is None
