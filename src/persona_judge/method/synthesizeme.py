"""SynthesizeMe for one user, end to end: bootstrap reasoning → persona → demo selection.

:func:`fit_user` runs the three steps on a user's train and validation
preferences and returns a :class:`~persona_judge.method.artifact.SynthesizeMeArtifact`;
:class:`SynthesizeMe` wraps it behind the ``PreferenceMethod`` interface
(``fit`` / ``judge_request``) that evaluation uses for every method.

Call budget (validation judged in one seeded order per pair): traces cost one
call per training pair; each search costs at most ``n_val`` calls per
*distinct* candidate, nothing for duplicates or once a perfect score is found;
the persona costs one call (two if the first answer is unusable). For 7 train
and 3 validation pairs at n = m = 10 that is at most 7 + 30 + 2 + 30 = 69.

``components`` chooses the ablation: ``("persona", "demos")`` is the full
method; ``("persona",)`` skips step 3 ("just personas"); ``("demos",)`` skips
the step-1 search and step 2 (demos chosen without a persona).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from persona_judge.data.records import Preference, UserSplit
from persona_judge.llm import ChatRequest
from persona_judge.method.artifact import COMPONENTS, SynthesizeMeArtifact
from persona_judge.method.bootstrap import (
    BootstrapResult,
    bootstrap_reasoning,
    validation_orders,
)
from persona_judge.method.demos import select_demo_set
from persona_judge.method.judge import Order, derive_seed
from persona_judge.method.persona import synthesize_persona
from persona_judge.method.selection import Spend
from persona_judge.method.templates import (
    GENERATION_SYSTEM,
    JUDGE_DEFAULT,
    JUDGE_PERSONALIZED,
    PERSONA_SYNTHESIS,
    load_template,
)


@dataclass(frozen=True)
class SynthesizeMeConfig:
    """The method's parameters (paper values where the paper gives them)."""

    n_candidates: int = 10            # n: step-1 candidate subsets (paper: 10)
    m_candidates: int = 10            # m: step-3 candidate demo sets (paper: 10)
    subset_size: int | None = None    # step-1 subset size; None = ceil(n_train / 2)
    demo_set_size: int | None = None  # demos per candidate; None = ceil(n_train / 2)
    include_full_set: bool = True     # step-1 candidate 0 = all training pairs
    persona_instruction: str = PERSONA_SYNTHESIS  # Θ: template id or .txt path
    components: tuple[str, ...] = COMPONENTS
    seed: int = 0
    judge_default: str = JUDGE_DEFAULT
    judge_personalized: str = JUDGE_PERSONALIZED
    generation: str = GENERATION_SYSTEM

    def __post_init__(self) -> None:
        unknown = set(self.components) - set(COMPONENTS)
        if unknown or not self.components:
            raise ValueError(f"components must be a non-empty subset of {COMPONENTS}, "
                             f"got {self.components!r}")
        if self.n_candidates < 1 or self.m_candidates < 1:
            raise ValueError("n_candidates and m_candidates must be at least 1 "
                             f"(got {self.n_candidates}, {self.m_candidates}); the paper uses 10.")


def _templates(config: SynthesizeMeConfig) -> dict[str, str]:
    return {
        "judge_default": load_template(config.judge_default).id,
        "judge_personalized": load_template(config.judge_personalized).id,
        "persona_synthesis": load_template(config.persona_instruction).id,
        "generation": load_template(config.generation).id,
    }


def bootstrap_step(user_split: UserSplit, client: Any,
                   config: SynthesizeMeConfig | None = None) -> BootstrapResult:
    """Step 1 alone, exactly as :func:`fit_user` runs it (same seeds, so the same requests)."""
    config = config or SynthesizeMeConfig()
    return bootstrap_reasoning(
        list(user_split.train), list(user_split.val), client,
        seed=derive_seed(config.seed, user_split.user_id), n_candidates=config.n_candidates,
        subset_size=config.subset_size, include_full_set=config.include_full_set,
        templates=_templates(config))


def fit_user(user_split: UserSplit, client: Any,
             config: SynthesizeMeConfig | None = None) -> SynthesizeMeArtifact:
    """Fit SynthesizeMe on one user's train + validation preferences (never test)."""
    config = config or SynthesizeMeConfig()
    train, val = list(user_split.train), list(user_split.val)
    if not train:
        raise ValueError(
            f"User {user_split.user_id!r} has no training preferences; SynthesizeMe needs at "
            "least one (the paper uses 5-15). Give this user 'train' rows or leave them out.")
    seed = derive_seed(config.seed, user_split.user_id)
    templates = _templates(config)
    fallbacks: list[str] = []
    if not val:
        fallbacks.append("no validation pairs: candidate 0 taken in both searches, unscored")
    elif len(val) == 1:
        fallbacks.append("one validation pair: scores are 0 or 1, most candidates tie "
                         "(ties go to the earliest candidate)")

    want_persona = "persona" in config.components
    step1 = bootstrap_reasoning(
        train, val, client, seed=seed,
        n_candidates=config.n_candidates if want_persona else 0,
        subset_size=config.subset_size, include_full_set=config.include_full_set,
        templates=templates)
    if not any(t.verified for t in step1.traces):
        fallbacks.append("no trace verified: step-1 candidates are all the default judge")
    spend = {"bootstrap traces": step1.spend_traces, "bootstrap search": step1.spend_search}

    persona, persona_pairs = None, []
    if want_persona:
        winning = step1.candidates[step1.winner].members if step1.candidates else ()
        result = synthesize_persona(train, step1.traces, winning, client,
                                    config.persona_instruction)
        persona, persona_pairs = result.persona, result.source_pairs
        fallbacks.extend(result.fallbacks)
        spend["persona"] = result.spend

    demo_candidates, demo_winner, demo_set = [], 0, []
    if "demos" in config.components:
        step3 = select_demo_set(train, val, step1.traces, client, persona=persona, seed=seed,
                                m_candidates=config.m_candidates,
                                demo_set_size=config.demo_set_size, templates=templates)
        demo_candidates, demo_winner, demo_set = step3.candidates, step3.winner, step3.demo_set
        spend["demo search"] = step3.spend
    else:
        spend["demo search"] = Spend()

    settings = asdict(config)
    settings["components"] = list(config.components)
    settings["user_seed"] = seed
    settings["n_train"], settings["n_val"] = len(train), len(val)
    return SynthesizeMeArtifact(
        user_id=user_split.user_id, model=str(getattr(client, "model", "")),
        seed=config.seed, settings=settings, templates=templates,
        components=tuple(config.components), val_orders=validation_orders(val, seed),
        traces=step1.traces, bootstrap_candidates=step1.candidates,
        bootstrap_winner=step1.winner, persona=persona, persona_source_pairs=persona_pairs,
        demo_candidates=demo_candidates, demo_winner=demo_winner, demo_set=demo_set,
        fallbacks=fallbacks, spend=spend)


class SynthesizeMe:
    """SynthesizeMe as a ``PreferenceMethod``: ``fit`` → artifact, ``judge_request`` → prompt."""

    def __init__(self, config: SynthesizeMeConfig | None = None, name: str | None = None,
                 ) -> None:
        self.config = config or SynthesizeMeConfig()
        default = {("persona", "demos"): "SynthesizeMe (persona + demos)",
                   ("persona",): "SynthesizeMe (persona only)",
                   ("demos",): "SynthesizeMe (demos only)"}
        self.name = name or default.get(tuple(self.config.components), "SynthesizeMe")

    def fit(self, user_split: UserSplit, client: Any) -> SynthesizeMeArtifact:
        return fit_user(user_split, client, self.config)

    def judge_request(self, state: SynthesizeMeArtifact, preference: Preference,
                      order: Order) -> ChatRequest:
        return state.judge_request(preference, order)

