"""SynthesizeMe for one user, end to end: bootstrap reasoning → persona → demo selection.

:func:`fit_user` runs the three steps on a user's train and validation
preferences and returns a :class:`~persona_judge.method.artifact.SynthesizeMeArtifact`;
:class:`SynthesizeMe` wraps it behind the ``PreferenceMethod`` interface
(``fit`` / ``judge_request``) that evaluation uses for every method.

**Two algorithms** (``SynthesizeMeConfig.algorithm``; every choice below is also its
own field, so a run can mix them, and the artifact records the resolved values):

=================  ==========================================  ==============================
setting            ``"faithful"`` (default)                    ``"lite"`` (our earlier variant)
=================  ==========================================  ==============================
trace_context      ``"labelled"``: 4 other labelled choices     ``"none"``
judge_trace        ``judge_speculative@v1`` (speculate first)   ``judge_default@v1``
step-1 candidates  labels only, full set, n random sets over    full set + n-1 random halves of
                   verified traces (size 1..#verified)          the training pairs
max_labeled_demos  4 (labelled examples fill a candidate)       0
step-3 reasoning   re-generated with the persona (1 call/pair)  step-1 traces reused
step-3 candidates  persona only, labels only, full set, m       m random halves
                   random sets
stop_at_accuracy   0.8 (public code: stop at 80%)               1.0 (stop at a perfect score)
display_order      ``"flip"`` column, hash if absent            ``"hash"``
=================  ==========================================  ==============================

**Two variants of the judge and Θ** (``SynthesizeMeConfig.variant``; again each its own
field, and chapter 02's table names them): ``"public"`` (the faithful default) is the public
code's configuration: the released persona program (instruction + 6 worked demonstrations,
reasoning first; ``theta_program`` picks the file), judges that speculate and answer
"Preference: First|Second" in free text (the default judge too), the persona in the system
message, demos as conversation turns, an 8192-token cap, parse retries at temperature 0 then a
tie. ``"ours"`` (lite's default): our Θ, JSON A/B verdicts (JSON-schema decoding where the
endpoint accepts it), a non-speculative default judge, persona and demos inline in the user
message, 1024 / 700-token caps, resampling at 0.7. ``validation_orders="both"`` scores every
validation pair in both orders; ``demos_only_search`` (faithful: on) runs step 1's search
again with a "no demos" candidate first, the "demos only" method searched without a persona
(:meth:`SynthesizeMeArtifact.demos_only`); its requests repeat step 1's (cache hits) except
the "no demos" candidate's.

Both score candidates concurrently (``search_batch_size=None``: a whole search
in one round of latency; ``1`` restores the one-at-a-time search). A
faithful fit is then 5 rounds of latency (6 if the persona is retried, +2 for the
demos-only search): traces, step-1 search, persona, step-3 traces, step-3 search.

**Call budget** (method requests; each costs one endpoint call on a cold cache,
plus parse resamples and HTTP retries, which the artifact's ``samples`` and the
client's ``RunStats`` count): traces ``n_train``; step-1 search at most
``n_val × (n + 2)``; persona 1 (2 if retried); step-3 traces ``n_train``; step-3
search at most ``n_val × (m + 3)``; demos-only search ``n_val`` new calls (``n_val`` counts
both orders under ``validation_orders="both"``). For a typical real user (7 train, 3 val;
chapter 01 gives the sizes) at n = m = 10: 7 + 36 + 2 + 7 + 39 = **91** requests at
most, +3 for the demos-only search; duplicate candidates and a batch-size-1 early stop make
it fewer. The lite variant: 7 + 30 + 2 + 30 = 69.

**Small users** (documented fallbacks, recorded in the artifact with a code):
no validation pair → both searches take their *full set* candidate unscored (no
search calls); one validation pair → scores are 0 or 1 and ties go to the
earliest candidate; one training pair → traces see no other labelled choice;
no training pair → :class:`NotEnoughPreferencesError`.

**A fit that learned nothing** -- no verified trace and no readable validation
verdict (``SynthesizeMeArtifact.learned_nothing`` gives the threshold) -- is still
returned, with the fallback ``"learned nothing"`` and the reason: ``persona-judge
fit`` reports such a user as not fitted and writes nothing for them.

``components`` chooses the ablation fitted: ``("persona", "demos")`` is the full
method; ``("persona",)`` skips step 3. At evaluation time
``artifact.with_components`` removes the persona or the demos of a full fit
without refitting ("just personas", "just demos").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from persona_judge.data.records import Preference, UserSplit
from persona_judge.errors import PersonaJudgeError, SettingsError
from persona_judge.llm import ChatRequest
from persona_judge.method.artifact import COMPONENTS, SynthesizeMeArtifact
from persona_judge.method.bootstrap import (
    TRACE_CONTEXTS,
    BootstrapResult,
    FitContext,
    Trace,
    bootstrap_reasoning,
    pair_orders,
)
from persona_judge.method.demos import select_demo_set
from persona_judge.method.judge import (
    DEMO_PLACEMENTS,
    JUDGE_MAX_TOKENS,
    ORDER_SOURCES,
    PLACEMENTS,
    JudgeStyle,
    Order,
    derive_seed,
)
from persona_judge.method.persona import PERSONA_MAX_TOKENS, synthesize_persona
from persona_judge.method.selection import Candidate, CandidateScore, Fallback
from persona_judge.method.templates import (
    GENERATION_SYSTEM,
    JUDGE_DEFAULT,
    JUDGE_DEFAULT_FS,
    JUDGE_PERSONALIZED,
    JUDGE_PERSONALIZED_FS,
    JUDGE_SPECULATIVE,
    JUDGE_SPECULATIVE_FS,
    PERSONA_SYNTHESIS,
    load_template,
)
from persona_judge.method.theta import PUBLIC_THETA, THETA_PROGRAMS, resolve_instruction

ALGORITHMS = ("faithful", "lite")
VARIANTS = ("public", "ours")
ANSWER_FORMATS = ("first_second", "json")
VALIDATION_ORDERS = ("one", "both")
PARSE_RETRY_RULES = ("same_temperature", "client")
#: The answer cap of the public code (its LM is built with max_tokens=8192).
PUBLIC_MAX_TOKENS = 8192

# What each algorithm sets for the fields left at None (see the module doc's table).
PRESETS: dict[str, dict[str, Any]] = {
    "faithful": {"trace_context": "labelled", "max_labeled_demos": 4, "stop_at_accuracy": 0.8,
                 "display_order": "flip", "variant": "public", "demos_only_search": True},
    "lite": {"trace_context": "none", "max_labeled_demos": 0, "stop_at_accuracy": 1.0,
             "display_order": "hash", "variant": "ours", "demos_only_search": False},
}
# What each variant sets for the judge and Θ fields left at None.
VARIANT_PRESETS: dict[str, dict[str, Any]] = {
    "public": {"persona_instruction": PUBLIC_THETA, "answer_format": "first_second",
               "speculative_default_judge": True, "persona_placement": "system",
               "demo_placement": "turns", "max_tokens": PUBLIC_MAX_TOKENS,
               "parse_retry": "same_temperature"},
    "ours": {"persona_instruction": PERSONA_SYNTHESIS, "answer_format": "json",
             "speculative_default_judge": False, "persona_placement": "user",
             "demo_placement": "inline", "max_tokens": None, "parse_retry": "client"},
}
# Judge templates per answer format: (speculative, non-speculative, personalized).
_JUDGES = {"first_second": (JUDGE_SPECULATIVE_FS, JUDGE_DEFAULT_FS, JUDGE_PERSONALIZED_FS),
           "json": (JUDGE_SPECULATIVE, JUDGE_DEFAULT, JUDGE_PERSONALIZED)}


class NotEnoughPreferencesError(PersonaJudgeError, ValueError):
    """A user cannot be fitted (no training preferences)."""


@dataclass(frozen=True)
class SynthesizeMeConfig:
    """The method's parameters (paper values where the paper gives them).

    Fields left at ``None`` take the value of ``algorithm``'s preset when the config is
    built, so ``asdict(config)`` (what the artifact and the results folder record) always
    holds the values that ran.
    """

    algorithm: str = "faithful"       # "faithful" (paper + public code) or "lite" (cheaper)
    n_candidates: int = 10            # n: step-1 random candidates (paper: 10)
    m_candidates: int = 10            # m: step-3 random candidates (paper: 10)
    trace_context: str | None = None  # "labelled" (public code) | "none" (paper's text)
    context_size: int = 4             # labelled choices beside a trace (public code: 4)
    judge_trace: str | None = None    # template of the step-1 judge
    max_labeled_demos: int | None = None  # labelled examples filling a candidate
    stop_at_accuracy: float | None = None  # a search stops at the first candidate this good
    display_order: str | None = None  # "flip" (dataset column) | "hash" (seeded)
    search_batch_size: int | None = None  # candidates scored per round; None = all at once
    subset_size: int | None = None    # lite step 1: subset size; None = ceil(n_train / 2)
    demo_set_size: int | None = None  # lite step 3: demos per candidate; None = ceil(n_train/2)
    include_full_set: bool = True     # lite step 1: candidate 0 = all training pairs
    # The judge and Θ: "public" (the public code's configuration) or "ours"; each field
    # below left at None takes the variant's value (chapter 02's table lists them).
    variant: str | None = None
    persona_instruction: str | None = None  # Θ: "public", a template id or a .txt path
    theta_program: str = "llama70b"   # released program: llama70b|llama8b|llama3b|per-model
    answer_format: str | None = None  # "first_second" (free text) | "json" (A/B, JSON schema)
    speculative_default_judge: bool | None = None  # the default judge speculates first
    persona_placement: str | None = None  # "system" (public code) | "user" (ours)
    demo_placement: str | None = None  # "turns" (public code) | "inline" (ours)
    max_tokens: int | None = None     # answer cap; None = ours (1024 verdict, 700 persona)
    parse_retry: str | None = None    # "same_temperature" (then a tie) | "client" (0.7)
    validation_orders: str = "one"    # "one" (the fit class) | "both" (experiment loader)
    demos_only_search: bool | None = None  # also search demos without a persona
    components: tuple[str, ...] = COMPONENTS
    seed: int = 0
    judge_default: str | None = None  # the default (non-personalized) judge's template
    judge_personalized: str | None = None
    generation: str = GENERATION_SYSTEM

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise SettingsError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        for name, value in PRESETS[self.algorithm].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.variant not in VARIANTS:
            raise SettingsError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        for name, value in VARIANT_PRESETS[str(self.variant)].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.answer_format not in ANSWER_FORMATS:
            raise SettingsError(f"answer_format must be one of {ANSWER_FORMATS}, "
                                f"got {self.answer_format!r}")
        speculative, plain, personalized = _JUDGES[str(self.answer_format)]
        templates = {"judge_trace": speculative if self.algorithm == "faithful" else plain,
                     "judge_default": speculative if self.speculative_default_judge else plain,
                     "judge_personalized": personalized}
        for name, value in templates.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name, allowed in (("persona_placement", PLACEMENTS),
                              ("demo_placement", DEMO_PLACEMENTS),
                              ("parse_retry", PARSE_RETRY_RULES),
                              ("validation_orders", VALIDATION_ORDERS),
                              ("theta_program", THETA_PROGRAMS)):
            if getattr(self, name) not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, "
                                    f"got {getattr(self, name)!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise SettingsError(f"max_tokens must be at least 1 (or null), got {self.max_tokens}")
        object.__setattr__(self, "components", tuple(self.components))
        unknown = set(self.components) - set(COMPONENTS)
        if unknown or not self.components:
            raise SettingsError(f"components must be a non-empty subset of {COMPONENTS}, "
                             f"got {self.components!r}")
        if self.n_candidates < 1 or self.m_candidates < 1:
            raise SettingsError("n_candidates and m_candidates must be at least 1 "
                             f"(got {self.n_candidates}, {self.m_candidates}); the paper uses 10.")
        if self.trace_context not in TRACE_CONTEXTS:
            raise SettingsError(f"trace_context must be one of {TRACE_CONTEXTS}, "
                             f"got {self.trace_context!r}")
        if self.display_order not in ORDER_SOURCES:
            raise SettingsError(f"display_order must be one of {ORDER_SOURCES}, "
                             f"got {self.display_order!r}")
        if not 0 < float(self.stop_at_accuracy) <= 1:  # type: ignore[arg-type]
            raise SettingsError(f"stop_at_accuracy must be in (0, 1], got {self.stop_at_accuracy}")
        if self.search_batch_size is not None and self.search_batch_size < 1:
            raise SettingsError("search_batch_size must be at least 1, or None for all at once")

    def judge_style(self) -> JudgeStyle:
        """How this configuration's judge requests are laid out and answered."""
        return JudgeStyle(persona_placement=str(self.persona_placement),
                          demo_placement=str(self.demo_placement),
                          max_tokens=self.max_tokens or JUDGE_MAX_TOKENS,
                          free_text=self.answer_format == "first_second",
                          parse_retry=str(self.parse_retry))

    @property
    def persona_max_tokens(self) -> int:
        return self.max_tokens or PERSONA_MAX_TOKENS

    def settings(self) -> dict[str, Any]:
        """Every setting as plain JSON values (what the artifact and run folders record)."""
        out = asdict(self)
        out["components"] = list(self.components)
        return out


def _templates(config: SynthesizeMeConfig, model: str = "") -> dict[str, str]:
    theta = resolve_instruction(str(config.persona_instruction), config.theta_program, model)
    return {
        "judge_trace": load_template(str(config.judge_trace)).id,
        "judge_default": load_template(str(config.judge_default)).id,
        "judge_personalized": load_template(str(config.judge_personalized)).id,
        "persona_synthesis": load_template(theta).id,
        "generation": load_template(config.generation).id,
    }


def fit_context(user_split: UserSplit, config: SynthesizeMeConfig,
                model: str = "") -> FitContext:
    """The per-user state both searches share (orders, seed, settings)."""
    seed = derive_seed(config.seed, user_split.user_id)
    train, val = tuple(user_split.train), tuple(user_split.val)
    return FitContext(
        train=train, val=val, orders=pair_orders((*train, *val), seed,
                                                 str(config.display_order)),
        seed=seed, templates=_templates(config, model), trace_context=str(config.trace_context),
        context_size=config.context_size, max_labeled=int(config.max_labeled_demos or 0),
        stop_at_accuracy=float(config.stop_at_accuracy or 1.0),
        batch_size=config.search_batch_size, style=config.judge_style(),
        validation_orders=config.validation_orders)


def bootstrap_step(user_split: UserSplit, client: Any,
                   config: SynthesizeMeConfig | None = None) -> BootstrapResult:
    """Step 1 alone, exactly as :func:`fit_user` runs it (same seeds, so the same requests)."""
    config = config or SynthesizeMeConfig()
    _require_train(user_split)
    return bootstrap_reasoning(fit_context(user_split, config, _model(client)), client,
                               algorithm=config.algorithm, n_candidates=config.n_candidates,
                               subset_size=config.subset_size,
                               include_full_set=config.include_full_set)


def _model(client: Any) -> str:
    return str(getattr(client, "model", ""))


def _require_train(user_split: UserSplit) -> None:
    if not user_split.train:
        raise NotEnoughPreferencesError(
            f"User {user_split.user_id!r} has no training preferences; SynthesizeMe needs at "
            "least one (the paper uses 5-15). Give this user 'train' rows or leave them out.")


def split_fallbacks(ctx: FitContext, display_order_source: str) -> list[Fallback]:
    """Fallbacks that follow from the user's split sizes and data, before any call."""
    out = []
    if not ctx.val:
        out.append(Fallback("no validation pairs", "fit",
                            "nothing to score on: both searches take their full-set candidate "
                            "unscored"))
    elif len(ctx.val) == 1:
        out.append(Fallback("one validation pair", "fit",
                            "scores are 0 or 1, so many candidates tie; ties go to the earliest"))
    if len(ctx.train) == 1 and ctx.trace_context == "labelled":
        out.append(Fallback("one training pair", "fit",
                            "no other labelled choice to show beside the trace"))
    if display_order_source == "flip":
        missing = [p.pair_id for p in (*ctx.train, *ctx.val) if p.flip is None]
        if missing:
            out.append(Fallback("order from hash", "fit",
                                f"{len(missing)} pair(s) have no 'flip' value; their display "
                                "order is the seeded hash"))
    return out


def fit_user(user_split: UserSplit, client: Any,
             config: SynthesizeMeConfig | None = None) -> SynthesizeMeArtifact:
    """Fit SynthesizeMe on one user's train + validation preferences (never test)."""
    config = config or SynthesizeMeConfig()
    _require_train(user_split)
    ctx = fit_context(user_split, config, _model(client))
    fallbacks = split_fallbacks(ctx, str(config.display_order))
    step1 = bootstrap_reasoning(ctx, client, algorithm=config.algorithm,
                                n_candidates=config.n_candidates, subset_size=config.subset_size,
                                include_full_set=config.include_full_set)
    fallbacks += step1.fallbacks
    if not any(t.verified for t in step1.traces):
        fallbacks.append(Fallback("no trace verified", "bootstrap traces",
                                  "step-1 candidates carry labelled examples at most"))
    spend = {"bootstrap traces": step1.spend_traces, "bootstrap search": step1.spend_search}

    winner = step1.candidates[step1.winner] if step1.candidates else None
    theta = resolve_instruction(str(config.persona_instruction), config.theta_program,
                                _model(client))
    result = synthesize_persona(list(ctx.train), step1.traces, winner, client, theta,
                                max_tokens=config.persona_max_tokens)
    persona, persona_pairs = result.persona, result.source_pairs
    fallbacks += result.fallbacks
    spend["persona"] = result.spend

    demo_traces: list[Trace] = []
    demo_candidates: list[CandidateScore] = []
    demo_winner, demo_set = 0, []
    if "demos" in config.components:
        step3 = select_demo_set(ctx, step1.traces, client, persona=persona,
                                algorithm=config.algorithm, m_candidates=config.m_candidates,
                                demo_set_size=config.demo_set_size)
        demo_traces = step3.traces if step3.traces is not step1.traces else []
        demo_candidates, demo_winner, demo_set = step3.candidates, step3.winner, step3.demo_set
        fallbacks += step3.fallbacks
        spend["demo traces"], spend["demo search"] = step3.spend_traces, step3.spend
    only_candidates: list[CandidateScore] = []
    only_winner, only_set = 0, []
    if "demos" in config.components and config.demos_only_search:
        # Demos searched without a persona: step 1's search again (the same traces and
        # candidates, so the same requests: cache hits) with a "no demos" candidate first.
        only = bootstrap_reasoning(ctx, client, algorithm=config.algorithm,
                                   n_candidates=config.n_candidates,
                                   subset_size=config.subset_size,
                                   include_full_set=config.include_full_set,
                                   head=(Candidate("no demos"),), step="demos-only")
        only_candidates, only_winner = only.candidates, only.winner
        only_set = list(ctx.demos(only.candidates[only.winner].candidate,
                                  {t.pair_id: t for t in only.traces})) \
            if only.candidates else []
        spend["demos-only search"] = only.spend_traces + only.spend_search
    settings = config.settings()
    settings["user_seed"] = ctx.seed
    settings["n_train"], settings["n_val"] = len(ctx.train), len(ctx.val)
    artifact = SynthesizeMeArtifact(
        user_id=user_split.user_id, model=str(getattr(client, "model", "")),
        seed=config.seed, settings=settings, templates=ctx.templates,
        components=tuple(config.components),
        val_orders={p.pair_id: ctx.orders[p.pair_id] for p in ctx.val},
        traces=step1.traces, bootstrap_candidates=step1.candidates,
        bootstrap_winner=step1.winner, persona=persona, persona_source_pairs=persona_pairs,
        demo_candidates=demo_candidates, demo_winner=demo_winner, demo_set=demo_set,
        fallbacks=fallbacks, spend=spend, demo_traces=demo_traces,
        demos_only_candidates=only_candidates, demos_only_winner=only_winner,
        demos_only_set=only_set)
    why = artifact.learned_nothing
    if why is not None:  # recorded where every reader of the fit looks
        artifact.fallbacks.append(Fallback("learned nothing", "fit", why))
    return artifact


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

    def prompt_content(self, state: SynthesizeMeArtifact) -> tuple[str, str]:
        """What the final prompt carries for this user, and a flag if less than asked."""
        return state.prompt_content()
