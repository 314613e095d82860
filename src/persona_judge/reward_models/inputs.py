"""What a reward model reads: one conversation and one reply, with the user's persona or not.

A reward model scores a *single* reply in its conversation; a preference pair is two such
inputs. :func:`rm_messages` builds the chat messages (the persona, when given, as a system
message written from ``prompts/reward_model_persona@v1.txt``); the backbone's chat template
turns them into text (:mod:`persona_judge.reward_models.backbone`). The same function builds
the inputs at training and at test time, so a persona model sees the persona in both.

:func:`training_pairs` pools every user's train + validation pairs (the paper's training
data), each with that user's persona for the persona model; :func:`test_inputs` lists each
evaluated user's test pairs. Both are plain data (no torch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.method.templates import load_template

Message = dict[str, str]


def rm_messages(pref: Preference, reply: Turn, persona: str | None = None,
                template: str = "reward_model_persona@v1") -> list[Message]:
    """The chat messages a reward model scores: [persona system message], context, reply."""
    messages: list[Message] = []
    if persona:
        messages.append({"role": "system",
                         "content": load_template(template).render("system", persona=persona)})
    messages.extend({"role": t.role, "content": t.content} for t in pref.context)
    messages.append({"role": "assistant", "content": reply.content})
    return messages


@dataclass(frozen=True)
class TrainingPair:
    """One pooled training pair: whose it is, and the two inputs (chosen, rejected)."""

    user_id: str
    pair_id: str
    chosen: tuple[Message, ...]
    rejected: tuple[Message, ...]
    has_persona: bool


def _frozen(messages: list[Message]) -> tuple[Message, ...]:
    return tuple(messages)


def training_pairs(users: Sequence[UserSplit], personas: Mapping[str, str] | None = None,
                   template: str = "reward_model_persona@v1") -> list[TrainingPair]:
    """Every user's train + validation pairs, in user order; with ``personas``, each user's
    persona in both inputs (a user without one is trained on without, and says so)."""
    out = []
    for user in users:
        persona = (personas or {}).get(user.user_id) or None
        for pref in (*user.train, *user.val):
            out.append(TrainingPair(
                user.user_id, pref.pair_id,
                _frozen(rm_messages(pref, pref.chosen, persona, template)),
                _frozen(rm_messages(pref, pref.rejected, persona, template)),
                persona is not None))
    return out


def fingerprint(pairs: Sequence[TrainingPair]) -> str:
    """A short hash of the training data (inputs and order): part of a checkpoint's key."""
    digest = hashlib.sha256()
    for pair in pairs:
        for messages in (pair.chosen, pair.rejected):
            for m in messages:
                digest.update(f"{m['role']}\x1f{m['content']}\x1e".encode())
        digest.update(b"\x1d")
    return digest.hexdigest()[:16]
