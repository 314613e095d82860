"""Random demos: the control that tells whether SynthesizeMe's demo search matters.

For each user, take SynthesizeMe's fitted artifact and replace its searched demo set by
the **same number** of the user's training preferences drawn at random (seeded by the
study seed and the user id, so a rerun draws the same ones), shown as labelled examples
(the user's choice, no reasoning) in the display order the fit used for that pair. With
``with_persona=True`` (default) the prompt keeps the fitted persona, so this differs from
"SynthesizeMe (persona + demos)" only in *which* examples are shown and that they carry
no reasoning; ``with_persona=False`` compares with "just demos" instead.

A user whose final SynthesizeMe prompt carries no demos (step 3's *persona only*
candidate won) gets none here either: "as many as SynthesizeMe's" is zero, and the
records say the prompt carries the persona only. Nothing is refitted and no LLM call is
made before judging; validation and test pairs are never drawn.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from persona_judge.data.records import Preference, UserSplit
from persona_judge.llm import ChatRequest
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.judge import Demo, Order, derive_seed, display_order

NAME = "Random demos + persona"
NAME_NO_PERSONA = "Random demos (no persona)"


def random_demo_set(user_split: UserSplit, artifact: SynthesizeMeArtifact, seed: int
                    ) -> list[Demo]:
    """``len(artifact.demo_set)`` labelled training pairs drawn at random, in training order."""
    k = len(artifact.demo_set)
    train = list(user_split.train)
    if k > len(train):
        raise ValueError(f"user {user_split.user_id!r}: SynthesizeMe's demo set has {k} demos "
                         f"but the user has {len(train)} training pairs; is the artifact from "
                         "another fit?")
    picked = set(random.Random(derive_seed(seed, "random demos", user_split.user_id))
                 .sample(range(len(train)), k))
    user_seed = int(artifact.settings.get("user_seed", derive_seed(seed, user_split.user_id)))
    source = str(artifact.settings.get("display_order", "flip"))
    return [Demo(p, display_order(p, user_seed, source))
            for i, p in enumerate(train) if i in picked]


class RandomDemosMethod:
    """Random demos behind the ``PreferenceMethod`` interface; states are artifacts."""

    def __init__(self, artifacts: Mapping[str, SynthesizeMeArtifact], seed: int = 0,
                 with_persona: bool = True, name: str | None = None) -> None:
        self.artifacts = artifacts
        self.seed = seed
        self.with_persona = with_persona
        self.name = name or (NAME if with_persona else NAME_NO_PERSONA)

    def fit(self, user_split: UserSplit, client: Any = None) -> SynthesizeMeArtifact:
        """The user's SynthesizeMe artifact with random demos in place of the searched ones."""
        artifact = self.artifacts.get(user_split.user_id)
        if artifact is None:
            raise KeyError(f"no SynthesizeMe fit for user {user_split.user_id!r}: random demos "
                           "take their number from it; fit SynthesizeMe first")
        components = ("persona", "demos") if self.with_persona else ("demos",)
        return replace(artifact, demo_set=random_demo_set(user_split, artifact, self.seed),
                       components=components, label=self.name)

    def judge_request(self, state: SynthesizeMeArtifact, preference: Preference, order: Order
                      ) -> ChatRequest:
        return state.judge_request(preference, order)

    def prompt_content(self, state: SynthesizeMeArtifact) -> tuple[str, str]:
        return state.prompt_content()
