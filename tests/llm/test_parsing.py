"""parse_judgment: JSON, fenced JSON, answer lines, bare final lines, ties, and failures."""

from __future__ import annotations

import pytest

from persona_judge.llm import parse_judgment
from persona_judge.llm.parsing import TIE_FAILURE


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ('{"reasoning": "B is warmer.", "preferred": "B"}', "B"),
        ('{"reasoning": "x", "preferred": "Response A"}', "A"),
        ('{"reasoning": "x", "preferred": "response_b"}', "B"),
        ('Sure!\n```json\n{"reasoning": "concise", "preferred": "A"}\n```\nHope this helps.', "A"),
        ('```\n{"rationale": "r", "choice": "B"}\n```', "B"),
        ('Thinking... {"Preferred": "a"} wait, final: {"preferred": "B"}', "B"),
        ("The user likes detail.\nPreferred: A", "A"),
        ("Reasoning: B is shorter.\n\nAnswer: B", "B"),
        ("Some reasoning.\n**Final answer:** Response B", "B"),
        ("Some reasoning.\n**Preferred: A**", "A"),
        ("Because of the tone, my verdict is [[B]].", "B"),
        ("Lots of reasoning here.\n\n**B**", "B"),
        ("Lots of reasoning here.\nResponse A", "A"),
        ("Answer: A\nOn reflection that was wrong.\nAnswer: B", "B"),
        ("Preferred: (A)", "A"),
    ],
)
def test_parses_choice(text: str, choice: str) -> None:
    parsed = parse_judgment(text)
    assert parsed.choice == choice, parsed
    assert parsed.failure is None


def test_json_reasoning_is_kept() -> None:
    parsed = parse_judgment('{"reasoning": "The user values brevity.", "preferred": "A"}')
    assert parsed.reasoning == "The user values brevity."


def test_text_reasoning_excludes_the_answer_line() -> None:
    parsed = parse_judgment("The user values brevity.\nResponse A is shorter.\nPreferred: A")
    assert parsed.choice == "A"
    assert parsed.reasoning == "The user values brevity.\nResponse A is shorter."


@pytest.mark.parametrize(
    "text", ['{"reasoning": "equal", "preferred": "tie"}', "Both are fine.\nPreferred: Tie"]
)
def test_tie_is_a_parsed_answer_without_choice(text: str) -> None:
    parsed = parse_judgment(text)
    assert parsed.choice is None
    assert parsed.failure == TIE_FAILURE
    assert parsed.parsed and parsed.is_tie


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I think Response A is nice but Response B is also nice.", "no JSON object"),
        ('{"reasoning": "hmm", "preferred": "C"}', "expected 'A' or 'B'"),
        ("Answer: a good one would mention safety.", "no JSON object"),
        ('{"reasoning": "missing choice"}', "no JSON object"),
    ],
)
def test_unparseable_answers_say_why(text: str, reason: str) -> None:
    parsed = parse_judgment(text)
    assert parsed.choice is None
    assert not parsed.parsed
    assert parsed.failure is not None and reason in parsed.failure


def test_mid_text_prose_mentions_do_not_count_as_answers() -> None:
    # Mentions of "Response A" in prose are not a verdict; only labelled/bare lines are.
    parsed = parse_judgment("Response A is long.\nResponse B is short.\nThe user is busy.")
    assert parsed.choice is None and not parsed.parsed
