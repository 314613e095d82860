"""The main comparison, as one function: every method on exactly the same judgments.

:func:`run_main_results` is what chapter 05 runs for one setting (dataset × judge) and
what ``persona-judge estimate`` dry-runs, so the estimate counts exactly the calls the
chapter makes. In this order (methods whose requests do not depend on any answer come
first, so their call counts are the same in a dry run and a real run):

1. the **default judge** (no user information);
2. **Memory** (the user's train + validation choices, :mod:`persona_judge.baselines.memory`);
3. **Demographics**, when a PRISM survey is given (:mod:`persona_judge.baselines.demographics`);
4. the five **recorded judges**: their published verdicts scored with our protocol, no call;
5. **fit SynthesizeMe** once per user (train + val), then judge with the full method,
   "just personas" and "just demos" (views of the same fit: ``with_components``), and
   **random demos** (the fitted persona with as many random labelled examples as the
   searched demo set);
6. with ``compare_theta``: a second fit with the other persona instruction Θ (the one
   released with the paper's code, fetched at run time, if the first used ours) and its
   full method: the only extra fit of the chapter.

7. with ``reference_arm``: the **official code**, the authors' released package fitted on
   the same users and judging the same pairs through the same client
   (:mod:`persona_judge.reference`, the optional ``[reference]`` extra); by default on in
   smoke runs and off in real ones (:func:`reference_arm_on`).

Every method judges every test pair of every user in both orders through the one client
(one cache, one set of rate limits); each stage's calls, cache hits, retries, resamples,
failures, tokens and dollars are read off the client's ``RunStats`` before and after.

:func:`results_key` is the settings dictionary a run's folder is keyed by
(``paths.run_dir("main_results", key)``); the summary chapter computes the same key for
each grid cell to find its saved results (:func:`find_results`), so a cell run with other
settings is never mistaken for this one. :meth:`MainResults.save` empties the folder it
writes into first, so a rerun with fewer users never shows stale ones.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge import paths
from persona_judge.baselines.demographics import (
    DEFAULT_INCLUDE,
    JUDGE_DEMOGRAPHICS,
    DemographicsMethod,
    check_include,
    survey_coverage,
)
from persona_judge.baselines.demographics import NAME as DEMOGRAPHICS
from persona_judge.baselines.memory import JUDGE_MEMORY, MemoryMethod
from persona_judge.baselines.memory import NAME as MEMORY
from persona_judge.baselines.random_demos import NAME as RANDOM_DEMOS
from persona_judge.baselines.random_demos import RandomDemosMethod
from persona_judge.baselines.recorded import (
    RECORDED_JUDGES,
    method_name,
    recorded_judgments,
)
from persona_judge.data.raw_prism import SurveyProfile
from persona_judge.data.records import UserSplit
from persona_judge.errors import SettingsError
from persona_judge.evaluation.predict import evaluate, fit_users, records_frame
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.judge import DefaultJudgeMethod
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig
from persona_judge.method.templates import PERSONA_SYNTHESIS
from persona_judge.method.theta import PUBLIC_THETA
from persona_judge.reference.method import NAME as OFFICIAL

_COUNTERS = ("calls", "cache_hits", "attempts", "retries", "resamples", "failures",
             "prompt_tokens", "completion_tokens", "dollars")
FULL = "SynthesizeMe (persona + demos)"
JUST_PERSONAS = "SynthesizeMe (persona only)"
JUST_DEMOS = "SynthesizeMe (demos only)"
DEMOS_SEARCHED_ALONE = "SynthesizeMe (demos only, searched without persona)"
DEFAULT = "default judge"
RELEASED_THETA = "SynthesizeMe, released Θ (persona + demos)"
OUR_THETA = "SynthesizeMe, our Θ (persona + demos)"
PUBLIC_VARIANT = "SynthesizeMe, public configuration (persona + demos)"
OUR_VARIANT = "SynthesizeMe, our variant: our Θ, JSON decoding (persona + demos)"
RECORDED = tuple(method_name(j) for j in RECORDED_JUDGES)
#: The order methods are listed in every table: baselines, ablations, the method, others.
METHOD_ORDER = (DEFAULT, MEMORY, DEMOGRAPHICS, "GPO", JUST_PERSONAS, JUST_DEMOS,
                DEMOS_SEARCHED_ALONE, RANDOM_DEMOS, FULL, RELEASED_THETA, OUR_THETA,
                PUBLIC_VARIANT, OUR_VARIANT, "Bradley–Terry reward model (fine-tuned)",
                "Fine-tuned RM + personas", "VPL", "PAL", *RECORDED)
#: Baselines run by default besides SynthesizeMe and its ablations.
BASELINES = ("memory", "demographics", "random_demos", "recorded")
#: The notebook parameters that define one cell's results (its folder key).
RESULT_PARAMETERS = ("mode", "dataset", "model", "max_users", "smoke_max_users", "seed",
                     "n_candidates", "m_candidates", "algorithm", "trace_context",
                     "variant", "persona_instruction", "theta_program", "survey_include",
                     "survey_revision", "compare_theta", "compare_variant")
RESULTS_KIND = "main_results"
#: The reference arm (the authors' code) is listed right after the method it reproduces,
#: and whether it ran is part of a setting's results.
METHOD_ORDER = (*METHOD_ORDER[:METHOD_ORDER.index(FULL) + 1], OFFICIAL,
                *METHOD_ORDER[METHOD_ORDER.index(FULL) + 1:])
RESULT_PARAMETERS = (*RESULT_PARAMETERS, "reference_arm")
#: The official code's search size: the package's default ``num_search_candidates``.
OFFICIAL_CANDIDATES = 10


def reference_arm_on(params: Mapping[str, Any]) -> bool:
    """Whether a setting runs the reference arm: ``reference_arm`` true / false, or ``None``
    (the default): on in smoke runs, off in real ones (a second full fit per user, with the
    released persona program's ~21.7k-token prompt)."""
    value = params.get("reference_arm")
    if value is None:
        return str(params.get("mode")) == "smoke"
    if not isinstance(value, bool):
        raise SettingsError(f"reference_arm must be true, false or null, got {value!r}")
    return value


def check_reference_arm(params: Mapping[str, Any]) -> bool:
    """:func:`reference_arm_on`, after checking that the extra it needs is installed (one
    line naming ``pip install -e ".[reference]"`` if not): call it before anything starts."""
    on = reference_arm_on(params)
    if on:
        from persona_judge.reference import require_reference_extra

        require_reference_extra()
    return on


def official_fit_call_bound(users: Sequence[UserSplit],
                            candidates: int = OFFICIAL_CANDIDATES) -> int:
    """The most distinct requests the official code's fit of these users can make: per user
    with train and validation pairs, step 1 bootstraps traces on ``n + 1`` orderings of the
    train pairs and scores ``n + 2`` candidates on validation, one persona request, step 3
    the same with ``n + 3`` candidates; each request may add one JSON-format fallback (its
    temperature-0 retries repeat the same requests, answered by the cache)."""
    n = candidates
    total = 0
    for user in users:
        n_train, n_val = len(user.train), len(user.val)
        if n_train and n_val:
            total += 2 * ((n + 1) * n_train + (n + 2) * n_val + 1
                          + (n + 1) * n_train + (n + 3) * n_val)
    return total


def method_rank(method: str) -> int:
    """Position of ``method`` in :data:`METHOD_ORDER` (unknown methods last)."""
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


@dataclass
class MainResults:
    """Fitted artifacts, every test judgment of every method, what each stage spent, notes."""

    artifacts: dict[str, SynthesizeMeArtifact]
    judgments: pd.DataFrame
    spend: pd.DataFrame
    theta_artifacts: dict[str, SynthesizeMeArtifact] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        """Write ``artifacts/``, ``judgments.csv``, ``spend.csv`` and ``notes.json`` into
        ``folder``, replacing whatever an earlier run left there."""
        folder = Path(folder)
        for old in ("artifacts", "theta_artifacts", "judgments.csv", "spend.csv", "notes.json"):
            target = folder / old
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        for sub, arts in (("artifacts", self.artifacts), ("theta_artifacts", self.theta_artifacts)):
            for i, art in enumerate(arts.values()):
                art.save(folder / sub / f"{i:04d}.json")
        self.judgments.to_csv(folder / "judgments.csv", index=False)
        self.spend.to_csv(folder / "spend.csv", index=False)
        (folder / "notes.json").write_text(json.dumps(self.notes, indent=1, sort_keys=True),
                                           encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, artifacts: bool = True) -> MainResults:
        """Read a saved run (``artifacts=False`` skips the per-user artifacts, for summaries)."""
        folder = Path(folder)

        def read(sub: str) -> dict[str, SynthesizeMeArtifact]:
            if not artifacts:
                return {}
            arts = [SynthesizeMeArtifact.load(p) for p in sorted((folder / sub).glob("*.json"))]
            return {a.user_id: a for a in arts}

        judgments = pd.read_csv(folder / "judgments.csv", dtype={
            "user_id": str, "pair_id": str, "carries": str, "flag": str}, keep_default_na=False,
            na_values={"choice": [""], "failure": [""]})
        for column in ("choice", "failure"):
            judgments[column] = judgments[column].astype(object).where(
                judgments[column].notna(), None)
        notes_file = folder / "notes.json"
        notes = json.loads(notes_file.read_text(encoding="utf-8")) if notes_file.is_file() else {}
        return cls(read("artifacts"), judgments, pd.read_csv(folder / "spend.csv"),
                   read("theta_artifacts"), notes)


def _snapshot(client: Any) -> dict[str, float]:
    stats = client.stats.to_dict()
    return {k: stats.get(k, 0) for k in _COUNTERS}


def method_config(params: Mapping[str, Any]) -> SynthesizeMeConfig:
    """The SynthesizeMe settings of a chapter's parameters (defaults where one is absent)."""
    return SynthesizeMeConfig(
        algorithm=str(params.get("algorithm", "faithful")),
        n_candidates=int(params.get("n_candidates", 10)),
        m_candidates=int(params.get("m_candidates", 10)),
        trace_context=params.get("trace_context"),
        variant=params.get("variant") or None,
        persona_instruction=params.get("persona_instruction") or None,
        theta_program=str(params.get("theta_program") or "llama70b"),
        validation_orders=str(params.get("validation_orders") or "one"),
        seed=int(params.get("seed", 0)))


def uses_survey(dataset: str) -> bool:
    """The Demographics baseline needs PRISM's survey; Chatbot Arena has none."""
    return dataset == "prism"


def user_limit(mode: str, max_users: int | None, smoke_max_users: int | None) -> int | None:
    """The users a results cell takes: ``max_users``, capped by ``smoke_max_users`` in smoke
    runs and local model checks (the six-cell smoke grid runs three times in the tests; real
    runs ignore the cap)."""
    if mode not in ("smoke", "local") or smoke_max_users is None:
        return max_users
    return smoke_max_users if max_users is None else min(max_users, smoke_max_users)


def results_users(params: Mapping[str, Any]) -> list[UserSplit]:
    """The users of one results cell, loaded exactly as chapter 05 loads them."""
    from persona_judge.study.notebook import load_users

    limit = user_limit(str(params["mode"]), params.get("max_users"),
                       params.get("smoke_max_users"))
    return load_users(str(params["dataset"]), str(params["mode"]), limit,
                      int(params.get("seed", 0)))


def results_key(params: Mapping[str, Any], users: Sequence[UserSplit]) -> dict[str, Any]:
    """Everything that defines one setting's saved results: the folder key (``run_dir``).

    ``params`` are the chapter's parameters (at least :data:`RESULT_PARAMETERS`); the users
    are the ones the chapter loaded (their ids, and the number of test pairs, enter the key).
    """
    missing = [k for k in RESULT_PARAMETERS if k not in params]
    if missing:
        raise SettingsError(f"the main-results key needs the setting(s) {', '.join(missing)}")
    from persona_judge.data.benchmark import dataset_revision

    config = method_config(params)
    survey = uses_survey(str(params["dataset"]))
    return {
        "mode": params["mode"], "dataset": params["dataset"], "model": params["model"],
        "data_revision": dataset_revision(str(params["dataset"]), params["mode"]),
        "seed": int(params["seed"]), "max_users": params["max_users"],
        "users": sorted(u.user_id for u in users),
        "n_test_pairs": sum(len(u.test) for u in users),
        "method": config.settings(),
        "baselines": {"templates": [JUDGE_MEMORY, *([JUDGE_DEMOGRAPHICS] if survey else [])],
                      "survey_include": list(check_include(params["survey_include"]))
                      if survey else None,
                      "survey_revision": params["survey_revision"] if survey else None,
                      "recorded": list(RECORDED_JUDGES)},
        "compare_theta": bool(params["compare_theta"]),
        "compare_variant": bool(params["compare_variant"]),
        "reference_arm": reference_arm_on(params),
    }


def results_folder(params: Mapping[str, Any], users: Sequence[UserSplit], *,
                   create: bool = True, root: Path | None = None) -> Path:
    """The folder of one setting's results (created, with ``settings.json``, unless not asked)."""
    return paths.run_dir(RESULTS_KIND, results_key(params, users), root=root, create=create)


def find_results(params: Mapping[str, Any], users: Sequence[UserSplit], *,
                 root: Path | None = None) -> Path | None:
    """The saved results of exactly these settings, or None if that run has not finished."""
    folder = results_folder(params, users, create=False, root=root)
    return folder if (folder / "judgments.csv").is_file() else None


def _other_variant(config: SynthesizeMeConfig) -> tuple[SynthesizeMeConfig, str]:
    """The same search with the other judge-and-Θ variant (every setting it presets), and
    the name of its method."""
    from persona_judge.method.synthesizeme import VARIANT_PRESETS

    other = "ours" if config.variant == "public" else "public"
    reset = dict.fromkeys((*VARIANT_PRESETS[other], "judge_trace", "judge_default",
                           "judge_personalized"))
    settings = {**config.settings(), **reset, "variant": other,
                "components": config.components}
    return SynthesizeMeConfig(**settings), (OUR_VARIANT if other == "ours" else PUBLIC_VARIANT)


def _other_theta(instruction: str) -> tuple[str, str]:
    """(the instruction to compare with, the name of its method)."""
    if instruction == PUBLIC_THETA:
        return PERSONA_SYNTHESIS, OUR_THETA
    return PUBLIC_THETA, RELEASED_THETA


def run_main_results(users: Sequence[UserSplit], client: Any,
                     config: SynthesizeMeConfig | None = None, *,
                     survey: Mapping[str, SurveyProfile] | None = None,
                     survey_include: Sequence[str] = DEFAULT_INCLUDE,
                     baselines: Sequence[str] = BASELINES, compare_theta: bool = False,
                     compare_variant: bool = False, max_workers: int = 4,
                     progress: bool = True, reference_arm: bool = False) -> MainResults:
    """Fit SynthesizeMe once; evaluate it, its ablations and the baselines (module doc).

    ``survey`` (``{user_id: SurveyProfile}``, PRISM only) enables the Demographics
    baseline; without it that baseline is left out. ``baselines`` chooses among
    :data:`BASELINES`.
    """
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise SettingsError(f"unknown baseline(s) {sorted(unknown)}; choose from {BASELINES}")
    config = config or SynthesizeMeConfig()
    spend_rows: list[dict[str, Any]] = []
    records = []
    notes: dict[str, Any] = {}

    def stage(name: str, before: dict[str, float]) -> None:
        after = _snapshot(client)
        spend_rows.append({"stage": name, **{k: after[k] - before[k] for k in _COUNTERS}})

    def run(method: Any, states: Mapping[str, Any]) -> None:
        before = _snapshot(client)
        records.extend(evaluate(method, users, client, states))
        stage(f"evaluate {method.name}", before)

    # The default judge is the configuration's (the public code's speculates first).
    run(DefaultJudgeMethod(str(config.judge_default), config.judge_style()),
        {u.user_id: None for u in users})
    if "memory" in baselines:
        memory = MemoryMethod()
        run(memory, {u.user_id: memory.fit(u) for u in users})
    if "demographics" in baselines and survey is not None:
        demographics = DemographicsMethod(survey, survey_include)
        states = {u.user_id: demographics.fit(u) for u in users}
        notes["survey coverage"] = survey_coverage(states)
        run(demographics, states)
    if "recorded" in baselines:
        before = _snapshot(client)
        records.extend(recorded_judgments(users))
        stage("score recorded judges (no calls)", before)

    full = SynthesizeMe(config, name=FULL)
    before = _snapshot(client)
    artifacts = fit_users(full, users, client, max_workers=max_workers, progress=progress)
    stage(f"fit {FULL}", before)
    run(full, artifacts)
    run(SynthesizeMe(config, name=JUST_PERSONAS),
        {u: a.with_components(("persona",)) for u, a in artifacts.items()})
    run(SynthesizeMe(config, name=JUST_DEMOS),
        {u: a.with_components(("demos",)) for u, a in artifacts.items()})
    if config.demos_only_search and "demos" in config.components:
        run(SynthesizeMe(config, name=DEMOS_SEARCHED_ALONE),
            {u: a.demos_only() if a.has_demos_only_search else a.with_components(("demos",))
             for u, a in artifacts.items()})
    if "random_demos" in baselines:
        random_demos = RandomDemosMethod(artifacts, seed=config.seed)
        states = {u.user_id: random_demos.fit(u) for u in users}
        notes["random demos per user"] = {u: len(s.demo_set) for u, s in states.items()}
        run(random_demos, states)

    theta_artifacts: dict[str, SynthesizeMeArtifact] = {}
    if compare_theta:
        instruction, name = _other_theta(str(config.persona_instruction))
        other = SynthesizeMe(SynthesizeMeConfig(**{**config.settings(),
                                                   "components": config.components,
                                                   "persona_instruction": instruction}),
                             name=name)
        before = _snapshot(client)
        theta_artifacts = fit_users(other, users, client, max_workers=max_workers,
                                    progress=progress)
        stage(f"fit {name}", before)
        run(other, theta_artifacts)
    if compare_variant:
        other_config, name = _other_variant(config)
        other = SynthesizeMe(other_config, name=name)
        before = _snapshot(client)
        variant_artifacts = fit_users(other, users, client, max_workers=max_workers,
                                      progress=progress)
        stage(f"fit {name}", before)
        run(other, variant_artifacts)
        theta_artifacts.update({f"{u} ({name})": a for u, a in variant_artifacts.items()})

    if reference_arm:
        from persona_judge.reference.method import OfficialCodeMethod

        official = OfficialCodeMethod()
        before = _snapshot(client)
        official_states = fit_users(official, users, client, max_workers=1, progress=progress)
        stage(f"fit {OFFICIAL}", before)
        run(official, official_states)
        notes["official code"] = {u: {"persona": s.persona, "demos": s.n_demos, "note": s.note}
                                  for u, s in official_states.items()}

    spend = pd.DataFrame(spend_rows)
    total = spend[list(_COUNTERS)].sum()
    spend = pd.concat([spend, pd.DataFrame([{"stage": "total", **total.to_dict()}])],
                      ignore_index=True)
    counts = [k for k in _COUNTERS if k != "dollars"]
    spend[counts] = spend[counts].astype(int)
    return MainResults(artifacts, records_frame(records), spend, theta_artifacts, notes)


def fit_call_bound(users: Sequence[UserSplit], config: SynthesizeMeConfig) -> int:
    """The most method requests one SynthesizeMe fit of these users can make (the design's
    budget, see :mod:`persona_judge.method.synthesizeme`): per user, faithful: traces
    ``n_train``, step-1 search ``n_val × (n + 2)``, persona 2 (one retry), step-3 traces
    ``n_train``, step-3 search ``n_val × (m + 3)``; lite: ``n_train``, ``n_val × n``, 2,
    ``n_val × m``; the demos-only search ``n_val`` (its other requests repeat step 1's);
    ``n_val`` counts both orders with ``validation_orders="both"``. Parse resamples and
    HTTP retries come on top."""
    n, m = config.n_candidates, config.m_candidates
    total = 0
    for user in users:
        n_train = len(user.train)
        # validation judgments per candidate (both orders: two per pair)
        n_val = len(user.val) * (2 if config.validation_orders == "both" else 1)
        if not n_train:
            continue
        demos = "demos" in config.components
        # the demos-only search repeats step 1's requests (cache hits) but "no demos"
        only = n_val if demos and config.demos_only_search else 0
        if config.algorithm == "faithful":
            total += n_train + n_val * (n + 2) + 2 + (n_train + n_val * (m + 3) if demos
                                                      else 0) + only
        else:
            total += n_train + n_val * n + 2 + (n_val * m if demos else 0) + only
    return total


def estimate_main_results(params: Mapping[str, Any], options: Any = None) -> pd.DataFrame:
    """Chapter 05's estimator (``persona-judge estimate``): :func:`run_main_results` for these
    parameters through a dry-run client; the spend table by stage. Nothing is sent.

    ``options`` is a :class:`persona_judge.study.estimate.EstimateOptions` (tokens per
    answer, the cache whose answers are free; default the mode's study cache).
    """
    from persona_judge.data.raw_prism import load_prism_survey
    from persona_judge.llm import client_from_env

    completion_tokens = getattr(options, "completion_tokens", None)
    cache = getattr(options, "cache_path", None) or paths.cache_path(str(params["mode"]))
    users = results_users(params)
    survey = load_prism_survey(str(params["mode"]), revision=params.get("survey_revision")) \
        if uses_survey(str(params["dataset"])) else None
    settings = {**dict(params.get("llm_settings") or {}), "progress": False,
                "dry_run_completion_tokens": completion_tokens}
    client = client_from_env(str(params["model"]), cache_path=cache, dry_run=True, **settings)
    try:
        result = run_main_results(users, client, method_config(params), survey=survey,
                                  survey_include=params.get("survey_include", DEFAULT_INCLUDE),
                                  compare_theta=bool(params.get("compare_theta", False)),
                                  compare_variant=bool(params.get("compare_variant", False)),
                                  max_workers=1, progress=False,
                                  reference_arm=check_reference_arm(params))
    finally:
        client.close()
    spend = result.spend.copy()
    # the most calls each stage can make by design: a fit's budget, 2 per test pair a method
    n_judgments = 2 * sum(len(u.test) for u in users)
    config = method_config(params)
    bounds = [fit_call_bound(users, config) if stage.startswith("fit ")
              else 0 if stage.startswith("score ")
              else n_judgments if stage.startswith("evaluate ") else None
              for stage in spend["stage"]]
    for i, stage in enumerate(spend["stage"]):  # the official code's own budget
        if stage == f"fit {OFFICIAL}":
            bounds[i] = official_fit_call_bound(users)
        elif stage == f"evaluate {OFFICIAL}":
            bounds[i] = 2 * n_judgments  # each judgment may add a JSON-format fallback
    bounds[-1] = sum(b for b in bounds[:-1] if b is not None)
    spend.insert(2, "calls at most", bounds)
    spend.attrs.update(users=len(users), test_pairs=n_judgments // 2)
    return spend
