"""The smoke stand-in answers DSPy's chat format, and DSPy parses what it answers."""

from __future__ import annotations

import pytest

from persona_judge.baselines.smoke import smoke_responder as baselines_responder
from persona_judge.llm.standin import scripted_responder
from persona_judge.method.smoke import smoke_responder
from persona_judge.reference.lm import dspy
from persona_judge.reference.smoke import dspy_format_answer

CONVERSATION = "[user]: which is better?"
SHORT, LONG = "[assistant]: brief", "[assistant]: a far longer and more detailed answer here"


def _judge_signature():
    from synthesizeme.utils.dspy_methods import LLMAsAJudgeProgramPersona

    return LLMAsAJudgeProgramPersona("this person favours the shorter reply").judge_persona \
        .predict.signature


def _messages(signature, demos=(), **inputs):
    from dspy.adapters.chat_adapter import ChatAdapter

    return ChatAdapter().format(signature, list(demos), inputs)


def _parse(signature, text):
    from dspy.adapters.chat_adapter import ChatAdapter

    return ChatAdapter().parse(signature, text)


@pytest.mark.parametrize(("first", "second", "expected"), [(SHORT, LONG, "First"),
                                                           (LONG, SHORT, "Second")])
def test_the_persona_judges_answer_parses_and_follows_the_persona(first, second, expected):
    signature = _judge_signature()
    body = {"messages": _messages(signature, conversation=CONVERSATION, first_completion=first,
                                  second_completion=second)}
    answer = dspy_format_answer(body)
    parsed = _parse(signature, answer)
    assert set(parsed) == {"reasoning", "preference"}
    assert parsed["preference"] == expected
    # every smoke responder passes DSPy requests to it unchanged
    for responder in (smoke_responder, baselines_responder, scripted_responder):
        assert responder(body) == answer


def test_demonstrations_in_conversation_turns_teach_the_judge_a_taste():
    from synthesizeme.utils.dspy_methods import LLMAsAJudge

    signature = dspy.ChainOfThought(LLMAsAJudge).predict.signature
    demos = [dspy.Example(conversation=CONVERSATION, first_completion=f"[assistant]: {w}",
                          second_completion=f"[assistant]: {w} and then a good deal more",
                          reasoning="r", preference="Second").with_inputs(
                              "conversation", "first_completion", "second_completion")
             for w in ("one", "two", "three")]
    picks = []
    for first, second in ((SHORT, LONG), (LONG, SHORT), ("[assistant]: x", "[assistant]: xyz")):
        body = {"messages": _messages(signature, demos, conversation=CONVERSATION,
                                      first_completion=first, second_completion=second)}
        answer = dspy_format_answer(body)
        if "[[ ## preference ## ]]" in answer:
            picks.append(_parse(signature, answer)["preference"])
    assert picks and all(p == ("Second", "First", "Second")[i] for i, p in enumerate(picks))


def test_the_persona_request_of_the_released_program_gets_a_persona_from_the_judgements():
    from synthesizeme.utils.dspy_methods import GeneratePersonaProgram

    program = GeneratePersonaProgram()
    program.load(_released_program())
    predictor = program.synthesize.predict
    assert len(predictor.demos) == 6  # the released program's worked demonstrations
    block = ("=" * 20 + "\n**Conversation**: q\n===\nOne: «{a}»\n===\nTwo: «{b}»\n===\n"
             "verdict: {v}\n" + "=" * 20 + "\n\n")
    history = "".join(block.format(a="tiny", b="a great deal longer reply", v="First")
                      for _ in range(3))
    body = {"messages": _messages(predictor.signature, predictor.demos,
                                  past_judgements=history)}
    assert len(body["messages"]) == 2 + 2 * 6
    parsed = _parse(predictor.signature, dspy_format_answer(body))
    assert set(parsed) == {"reasoning", "synthesized_persona"}
    assert "favours the shorter reply" in parsed["synthesized_persona"]


def test_requests_not_in_dspy_format_get_none():
    assert dspy_format_answer({"messages": [{"role": "user", "content": "hello"}]}) is None
    assert dspy_format_answer({"messages": [
        {"role": "system", "content": "You judge."},
        {"role": "user", "content": "## Reply A\nx\n\n## Reply B\ny\n\n## Your answer"}]}) is None


def _released_program():
    import importlib.resources

    return importlib.resources.files("synthesizeme").joinpath("prompts/llama70b.json")
