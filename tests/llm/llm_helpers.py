"""Request builders and constants shared by the LLM client tests."""

from __future__ import annotations

import re
from typing import Any

from persona_judge.llm import ChatRequest

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"

# Tiny timeouts and backoffs keep the whole folder fast; retries stay real. These
# tests count the requests the server sees per call, so the preflight (one extra
# request before the first call, and the structured-output probe) is off here and
# tested on its own in test_preflight.py and test_structured.py.
FAST: dict[str, Any] = {
    "timeout": 0.5,
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "max_retries": 3,
    "progress": False,
    "preflight": False,
}


def judge_request(i: int, **kw: Any) -> ChatRequest:
    """A pairwise-judgment request numbered ``i`` (distinct messages per i)."""
    return ChatRequest(
        messages=[
            {"role": "system", "content": "You judge which response this user preferred."},
            {
                "role": "user",
                "content": f"Context #{i}\n\nResponse A: alpha {i}\n\nResponse B: beta {i}\n\n"
                "Which is preferred? Answer in JSON.",
            },
        ],
        template="judge_pairwise@1",
        labels={"user": f"u{i % 3}", "pair": f"u{i % 3}/c{i}"},
        **kw,
    )


def text_request(i: int, **kw: Any) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": f"Write a short persona for user number {i}."}],
        template="persona_synthesis@1",
        labels={"user": f"u{i}", "step": "persona"},
        **kw,
    )


def request_index(body: dict[str, Any]) -> int:
    """Recover ``i`` from a recorded request body built by judge/text_request."""
    content = body["messages"][-1]["content"]
    m = re.search(r"(?:Context #|user number )(\d+)", content)
    assert m, content
    return int(m.group(1))
