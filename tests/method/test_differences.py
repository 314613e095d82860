"""Chapter 02's differences table is checked against the code: every setting it names exists,
the default it claims is the default, and the rows the study must name are there."""

from __future__ import annotations

import re
from dataclasses import fields

from persona_judge.llm.client import ClientConfig
from persona_judge.method.differences import DIFFERENCES, differences_table
from persona_judge.method.synthesizeme import PUBLIC_MAX_TOKENS, SynthesizeMeConfig

SETTINGS = {f.name for f in fields(SynthesizeMeConfig)}


def _row(choice: str) -> dict[str, str]:
    table = differences_table()
    rows = table[table["choice"] == choice]
    assert len(rows) == 1, f"no row {choice!r}"
    return rows.iloc[0].to_dict()


def test_every_named_setting_exists() -> None:
    for row in DIFFERENCES:
        setting = row[-1]
        for name in re.findall(r"(?:^|; )([a-z_]+)(?= \(|,|$)", setting):
            if name in ("none", "model"):
                continue
            assert name in SETTINGS, f"row {row[0]!r} names the unknown setting {name!r}"


def test_the_claimed_defaults_are_the_code_defaults() -> None:
    config = SynthesizeMeConfig()
    claims = {  # row -> (setting, the default the row's "this study" column states)
        "persona program Θ": ("persona_instruction", "public"),
        "judge answer format and decoding": ("answer_format", "first_second"),
        "default judge": ("speculative_default_judge", True),
        "persona placement": ("persona_placement", "system"),
        "demo placement": ("demo_placement", "turns"),
        "answer token cap": ("max_tokens", PUBLIC_MAX_TOKENS),
        "unparseable answers": ("parse_retry", "same_temperature"),
        "step-1 trace context": ("trace_context", "labelled"),
        "\"demos only\" ablation": ("demos_only_search", True),
        "early stop": ("stop_at_accuracy", 0.8),
        "display order": ("display_order", "flip"),
        "validation orders": ("validation_orders", "one"),
    }
    for choice, (setting, value) in claims.items():
        row = _row(choice)
        assert getattr(config, setting) == value, (choice, setting)
        assert setting in row["setting"], (choice, setting)
    assert "8192" in _row("answer token cap")["this study (default)"]
    assert "system" in _row("persona placement")["this study (default)"]
    assert config.theta_program == "llama70b" and "llama70b" in _row("persona program Θ")[
        "public code"]
    assert ClientConfig().max_parse_retries == 2 and "(client max_parse_retries, 2)" in _row(
        "unparseable answers")["this study (default)"]
    # "ours" switches every judge and Θ row at once
    ours = SynthesizeMeConfig(variant="ours")
    assert (ours.answer_format, ours.persona_placement, ours.demo_placement, ours.max_tokens,
            ours.parse_retry, ours.speculative_default_judge) == (
        "json", "user", "inline", None, "client", False)


def test_the_rows_the_study_must_name() -> None:
    choices = set(differences_table()["choice"])
    for needed in ("answer token cap", "judge answer format and decoding", "demo placement",
                   "persona placement", "default judge", "demo order", "the judge model",
                   "JSON-format fallback"):
        assert needed in choices
    assert "quantized" in _row("the judge model")["this study (default)"]
    assert "rising temperature" not in " ".join(" ".join(r) for r in DIFFERENCES)
