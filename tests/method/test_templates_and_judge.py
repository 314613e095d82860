"""Prompt templates load by id or path and version the cache key; the judge renders both orders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted import pref

from persona_judge.llm import parse_judgment
from persona_judge.method.judge import (
    ORDERS,
    DefaultJudgeMethod,
    Demo,
    correct_letter,
    display_order,
    draw_order,
    judge_request,
)
from persona_judge.method.persona import clean_persona
from persona_judge.method.templates import available_templates, load_template


def test_packaged_templates_have_versions_and_sections() -> None:
    assert {"judge_default@v1", "judge_personalized@v1", "persona_synthesis@v1",
            "generation_system@v1", "judge_speculative@v1"} <= set(available_templates())
    speculative = load_template("judge_speculative@v1")
    assert "hypotheses" in speculative.section("system") and speculative.has_section("demo")
    template = load_template("judge_personalized@v1")
    assert (template.name, template.version) == ("judge_personalized", "v1")
    assert template.has_section("demo") and not template.has_section("example")


def test_missing_placeholder_names_template_and_value() -> None:
    with pytest.raises(KeyError, match=r"judge_default@v1.*\$response_b"):
        load_template("judge_default@v1").render("user", conversation="c", response_a="a")


def test_unversioned_file_gets_content_hash_version(tmp_path: Path) -> None:
    path = tmp_path / "my_theta.txt"
    path.write_text("=== system ===\nBe brief.\n=== user ===\n$examples\n=== example ===\n$index\n")
    first = load_template(str(path)).id
    path2 = tmp_path / "other" / "my_theta.txt"
    path2.parent.mkdir()
    path2.write_text("=== system ===\nBe very brief.\n=== user ===\n$examples\n")
    assert first.startswith("my_theta@sha-") and load_template(str(path2)).id != first
    with pytest.raises(ValueError, match="no version"):
        load_template("judge_default")


def test_orders_put_chosen_in_the_right_slot() -> None:
    p = pref("u", "t1", "test", chosen="CHOSEN", rejected="REJECTED")
    for order in ORDERS:
        content = judge_request(p, order).messages[1]["content"]
        a = content.index("## Reply A")
        b = content.index("## Reply B")
        chosen_at = content.index("CHOSEN")
        assert (a < chosen_at < b) == (correct_letter(order) == "A")
        assert (chosen_at > b) == (correct_letter(order) == "B")
    assert correct_letter("chosen_first") == "A" and correct_letter("rejected_first") == "B"


def test_draw_order_is_seeded_and_uses_both_orders() -> None:
    ids = [f"u/c{i}" for i in range(40)]
    drawn = [draw_order(i, 3) for i in ids]
    assert drawn == [draw_order(i, 3) for i in ids]
    assert set(drawn) == set(ORDERS)
    assert drawn != [draw_order(i, 4) for i in ids]


def test_default_and_personalized_forms() -> None:
    p = pref("u", "t1", "test")
    default = judge_request(p, "chosen_first")
    assert default.template == "judge_default@v1"
    assert "## About this person" not in default.messages[1]["content"]
    demo = Demo(pref("u", "t2", "train"), "rejected_first", "B is warmer.")
    personal = judge_request(p, "chosen_first", persona="Likes warmth.", demos=[demo])
    text = personal.messages[1]["content"]
    assert personal.template == "judge_personalized@v1"
    assert "Likes warmth." in text and "conv-t2" in text
    # the demo's answer is shown in the judge's own output format, with the right letter
    answer = text.split("Their choice: ")[1].splitlines()[0]
    assert json.loads(answer) == {"reasoning": "B is warmer.", "preferred": "B"}
    assert parse_judgment(answer).choice == "B"
    only_persona = judge_request(p, "chosen_first", persona="Likes warmth.")
    assert "## Earlier choices" not in only_persona.messages[1]["content"]
    assert "JSON" in text and '"preferred"' in text


def test_default_judge_method_fits_nothing() -> None:
    method = DefaultJudgeMethod()
    assert method.fit(None, None) is None  # type: ignore[arg-type]
    assert method.judge_request(None, pref("u", "t1", "test"), "rejected_first").template == \
        "judge_default@v1"


def test_template_version_is_part_of_the_cache_key(tmp_path: Path) -> None:
    from dataclasses import replace

    from persona_judge.llm import client_from_env

    client = client_from_env("m", cache_path=tmp_path / "c.sqlite", dry_run=True)
    request = judge_request(pref("u", "t1", "test"), "chosen_first")
    bumped = replace(request, template="judge_default@v2")
    assert client.key_for(request) != client.key_for(bumped)
    client.close()


def test_display_order_uses_flip_then_the_hash() -> None:
    from dataclasses import replace

    p = pref("u", "t1", "train")
    assert display_order(replace(p, flip=True), 0) == "chosen_first"  # flip: chosen shown first
    assert display_order(replace(p, flip=False), 0) == "rejected_first"
    assert display_order(p, 5) == draw_order(p.pair_id, 5)  # no flip value
    assert display_order(replace(p, flip=True), 5, "hash") == draw_order(p.pair_id, 5)
    with pytest.raises(ValueError, match="display order source"):
        display_order(p, 0, "alphabetical")


@pytest.mark.parametrize("raw,expected", [
    ("Persona: A calm reader who likes lists.", "A calm reader who likes lists."),
    ("**Persona:** A calm reader who likes lists.", "A calm reader who likes lists."),
    ("## Synthesized Persona\nA calm reader who likes lists.", "A calm reader who likes lists."),
    ("User persona - A calm reader who likes lists.", "A calm reader who likes lists."),
    ("Personable and warm, this reader likes lists.", "Personable and warm, this reader likes "
                                                      "lists."),
    ("Persona-driven advice suits this careful reader best.",
     "Persona-driven advice suits this careful reader best."),
    ("Personality: curious, this reader likes lists a lot.",
     "Personality: curious, this reader likes lists a lot."),
    ('"A calm reader who likes numbered lists."', "A calm reader who likes numbered lists."),
    ("Persona: too short", None),
    ("", None),
])
def test_persona_cleanup_removes_headings_only(raw: str, expected: str | None) -> None:
    assert clean_persona(raw) == expected
