"""What the cache key covers: every request field that changes the answer (each one mutated
on its own must change the key), and nothing that does not (labels, list vs tuple, 0 vs 0.0)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from llm_helpers import MODEL

from persona_judge.llm import ChatRequest, request_key

BASE = ChatRequest(
    messages=[{"role": "system", "content": "Judge."},
              {"role": "user", "content": "Which reply?"}],
    template="judge_default@v1", temperature=0.0, max_tokens=512, sample_index=0,
    labels={"user": "u1", "pair": "p1"}, top_p=None, seed=None, repetition_penalty=None,
    structured="off",
)

# One value per field, different from BASE's; a field missing here fails the test below.
MUTATIONS: dict[str, Any] = {
    "messages": [{"role": "system", "content": "Judge."},
                 {"role": "user", "content": "Which reply, really?"}],
    "template": "judge_default@v2",
    "temperature": 0.7,
    "max_tokens": 256,
    "sample_index": 1,
    "top_p": 0.9,
    "seed": 3,
    "repetition_penalty": 1.1,
    "structured": "json_schema",
}
# free_text and parse_retry act around the wire (the client's structured form, what a retry
# sends); the requests they lead to carry their effect in keyed fields.
NOT_IN_KEY = {"labels", "free_text", "parse_retry"}


def key(request: ChatRequest, backend: str = "together", model: str = MODEL) -> str:
    return request_key(request, backend=backend, model=model)


def test_every_request_field_is_classified() -> None:
    fields = {f.name for f in dataclasses.fields(ChatRequest)}
    assert fields == set(MUTATIONS) | NOT_IN_KEY, (
        "a ChatRequest field was added or removed: decide whether it changes the answer "
        "and add it to MUTATIONS (keyed) or NOT_IN_KEY")


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_answer_changing_field_changes_the_key(name: str) -> None:
    mutated = dataclasses.replace(BASE, **{name: MUTATIONS[name]})
    assert key(mutated) != key(BASE), f"changing {name} did not change the cache key"


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": "Judge."}, {"role": "user", "content": "Which reply?"}],
    [{"role": "user", "content": "Which reply?"}, {"role": "system", "content": "Judge."}],
    [{"role": "system", "content": "Judge."}],
])
def test_message_role_order_and_count_change_the_key(messages: list) -> None:
    assert key(dataclasses.replace(BASE, messages=messages)) != key(BASE)


def test_backend_and_model_change_the_key() -> None:
    assert key(BASE, backend="openai-compatible") != key(BASE)
    assert key(BASE, model="meta-llama/Llama-3.2-3B-Instruct-Turbo") != key(BASE)


def test_the_two_structured_forms_have_different_keys() -> None:
    schema = key(dataclasses.replace(BASE, structured="json_schema"))
    obj = key(dataclasses.replace(BASE, structured="json_object"))
    assert len({schema, obj, key(BASE)}) == 3


def test_labels_and_spelling_do_not_change_the_key() -> None:
    assert key(dataclasses.replace(BASE, labels={"user": "someone", "step": "x"})) == key(BASE)
    same = ChatRequest(tuple(BASE.messages), BASE.template, temperature=0, max_tokens=512)
    assert key(same) == key(BASE)


def test_key_covers_exactly_what_is_sent() -> None:
    # what goes on the wire besides model and messages is what the key hashes
    sent = dataclasses.replace(BASE, **{k: MUTATIONS[k] for k in
                                        ("top_p", "seed", "repetition_penalty", "structured")})
    params = sent.sampling_params()
    assert set(params) == {"temperature", "max_tokens", "top_p", "seed", "repetition_penalty",
                           "response_format"}
    assert params["response_format"]["json_schema"]["schema"]["required"] == [
        "reasoning", "preferred"]
