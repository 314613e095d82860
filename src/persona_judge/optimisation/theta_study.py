"""Chapter 11, optimising Θ: search an instruction on training users, compare it on others.

**Design.** Users of ``optimise_dataset`` (default PRISM, as the paper) are split at random
(seeded) into ``train_users`` training users, on which
:func:`~persona_judge.optimisation.theta_search.optimise_theta` searches Θ with the study's
model, and evaluation users, never seen by the search. On the held-out users of
``optimise_dataset`` and on ``eval_users`` users of every other dataset in
``eval_datasets``, each judge fits SynthesizeMe (``components``: default persona only, steps
1-2, where Θ acts) once per instruction (three, or four with ``miprov2``):

* ``our Θ`` (setting ``persona_instruction``; ``None``, the study's default, means
  ``persona_synthesis@v1``, written for this study, in this chapter whatever the variant);
* ``released Θ`` (the paper's released persona program ``theta_program``: its optimised
  instruction and worked demonstrations, fetched at run time by
  :mod:`persona_judge.method.theta`; a smoke run serves the method's synthetic stand-in
  program from a local server, never the real file);
* ``optimised Θ`` (the search's winner, seeded with our Θ; a Θ file in the format
  ``fit --persona-instruction`` reads);
* ``MIPROv2-optimised Θ`` (setting ``miprov2``; ``None``, the default: in smoke runs when
  the optional ``[reference]`` extra is installed; ``true`` requires the extra): DSPy's
  MIPROv2, the authors' optimiser
  (:func:`~persona_judge.optimisation.miprov2.optimise_theta_miprov2`; budget
  ``miprov2_candidates``, ``miprov2_trials``, ``miprov2_demos``; its ``max_calls`` is the
  search's), run on the same training users as the search; its Θ file has the
  public variant's format, so the arm is skipped (with a note) when ``variant`` is ``ours``,

all with the judges of one ``variant`` (default ``public``, the study's: First/Second
verdicts, the persona in the system message; ``ours``: JSON verdicts), the variant the search
scores with too, so the arms differ in Θ alone.

and judges every test pair in both orders. Step 1 does not depend on Θ, so the fits
of a user share its requests (cache hits). The judges are the study's model (the one Θ
was optimised with) and ``judges`` (transfer: a Θ optimised with one model, used by
another).

**Statistics**, per dataset and judge, on the same judgments: accuracy with a bootstrap CI
that resamples **users** (the claim is about users in general), and paired comparisons
(optimised vs ours, optimised vs released, released vs ours; with MIPROv2, MIPROv2-optimised
vs ours and vs the search's optimised Θ): paired bootstrap CI of the
difference resampling users, sign-flip permutation tests on per-pair and per-user
differences, Holm-adjusted within the family
(:func:`persona_judge.evaluation.report.comparisons_table`).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd

from persona_judge.analyses.common import (
    SpendLog,
    fit_cells,
    method_config,
    short_model,
    sibling_client,
    smoke_limited,
)
from persona_judge.data.records import UserSplit
from persona_judge.errors import SettingsError
from persona_judge.evaluation.report import comparisons_table, pooled_accuracy
from persona_judge.evaluation.stats import DEFAULT_RESAMPLES
from persona_judge.llm.client import DRY_RUN_TEXT
from persona_judge.method.artifact import COMPONENTS
from persona_judge.method.judge import ORDERS, correct_letter
from persona_judge.method.synthesizeme import SynthesizeMeConfig
from persona_judge.optimisation.miprov2 import MiproSearch, MiproSettings
from persona_judge.optimisation.theta_search import (
    ThetaBudget,
    ThetaSearch,
    optimise_theta,
    split_users,
)

OURS, RELEASED, OPTIMISED = "our Θ", "released Θ", "optimised Θ"
MIPROV2 = "MIPROv2-optimised Θ"
THETAS = (OURS, RELEASED, OPTIMISED, MIPROV2)
COMPARISONS = ((OPTIMISED, OURS), (OPTIMISED, RELEASED), (RELEASED, OURS), (MIPROV2, OURS),
               (MIPROV2, OPTIMISED))
MIPROV2_STAGE = "optimise Θ with MIPROv2 on training users"
SMALL_JUDGES = ["meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"]
DESIGN_DEFAULTS: dict[str, Any] = {
    "optimise_dataset": "prism", "eval_datasets": ["prism", "chatbot_arena"],
    "train_users": 20, "eval_users": 40, "max_candidates": 8, "rounds": 2,
    "max_calls": None, "judges": SMALL_JUDGES, "components": ["persona"],
    "compare_released": True, "variant": "public",
    "miprov2": None, "miprov2_candidates": 8, "miprov2_trials": 16, "miprov2_demos": 6,
    # the notebook's smoke_design: an estimate of a smoke run gets it too
    "smoke_design": {"train_users": 3, "eval_users": 3, "max_candidates": 3, "rounds": 2,
                     "miprov2_candidates": 3, "miprov2_trials": 4, "miprov2_demos": 2}}


def smoke_released_program() -> dict[str, Any]:
    """The program a smoke run serves as "released": the method's synthetic stand-in (the
    released structure, an instruction and worked demonstrations; never the paper's text)."""
    from persona_judge.method.smoke import smoke_theta_program

    return smoke_theta_program()


#: The instruction of the smoke "released" program.
SMOKE_RELEASED_INSTRUCTION = str(
    smoke_released_program()["synthesize.predict"]["signature"]["instructions"])


@dataclass(frozen=True)
class ThetaDesign:
    """Where Θ is optimised, where and by whom it is evaluated, and how much search."""

    optimise_dataset: str
    eval_datasets: tuple[str, ...]
    train_users: int
    eval_users: int | None
    budget: ThetaBudget
    judges: tuple[str, ...]
    components: tuple[str, ...] = ("persona",)
    compare_released: bool = True
    miprov2: MiproSettings | None = None   # None: no MIPROv2 arm
    miprov2_note: str = ""                  # why there is none, for the page

    def __post_init__(self) -> None:
        datasets = ("chatbot_arena", "prism")
        for name in (self.optimise_dataset, *self.eval_datasets):
            if name not in datasets:
                raise SettingsError(f"datasets must be among {datasets}, got {name!r} (settings "
                                    "optimise_dataset / eval_datasets)")
        if not self.eval_datasets:
            raise SettingsError("setting eval_datasets must name at least one dataset")
        if not self.components or set(self.components) - set(COMPONENTS):
            raise SettingsError(f"setting components must be a non-empty subset of "
                                f"{list(COMPONENTS)}, got {list(self.components)!r}")

    @property
    def thetas(self) -> tuple[str, ...]:
        return tuple(t for t in THETAS if (t != RELEASED or self.compare_released)
                     and (t != MIPROV2 or self.miprov2 is not None))

    def comparisons(self) -> list[tuple[str, str]]:
        return [c for c in COMPARISONS if set(c) <= set(self.thetas)]


def miprov2_arm(settings: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the settings run the MIPROv2 arm, and if not, one sentence saying why.

    ``miprov2`` true / false, or ``None`` (the default): on in smoke runs when the optional
    ``[reference]`` extra is installed, off in real ones. ``true`` requires the extra (one
    line naming ``pip install -e ".[reference]"`` if it is missing): call this before
    anything starts. MIPROv2 writes a Θ file of the public variant's format, so with
    ``variant: ours`` the arm is off whatever ``miprov2`` says."""
    from persona_judge.reference.extra import reference_extra_missing, require_reference_extra

    value = settings.get("miprov2")
    if value is not None and not isinstance(value, bool):
        raise SettingsError(f"setting miprov2 must be true, false or null, got {value!r}")
    if value is False:
        return False, "The MIPROv2-optimised Θ is not compared (parameter `miprov2: false`)."
    if value is None and str(settings.get("mode")) != "smoke":
        return False, ("The MIPROv2-optimised Θ is not compared: by default it runs in smoke "
                       "runs only (set parameter `miprov2: true` for a real run).")
    if str(settings.get("variant", "public")) != "public":
        return False, ("The MIPROv2-optimised Θ is not compared: MIPROv2 writes a Θ file of "
                       "the public variant's format (First/Second verdicts), and this run's "
                       f"variant is {settings.get('variant')!r}.")
    if value is None and reference_extra_missing():
        return False, ("The MIPROv2-optimised Θ is not compared: it needs the optional "
                       "`[reference]` extra (DSPy), which is not installed.")
    require_reference_extra("miprov2")
    return True, ""


def design_from_settings(settings: Mapping[str, Any]) -> ThetaDesign:
    """The design a chapter's settings ask for (smoke runs: ``smoke_design`` applied)."""
    s = smoke_limited({**DESIGN_DEFAULTS, **settings})
    on, note = miprov2_arm(s)
    max_calls = None if s["max_calls"] is None else int(s["max_calls"])
    mipro = (MiproSettings(num_candidates=int(s["miprov2_candidates"]),
                           num_trials=int(s["miprov2_trials"]),
                           max_bootstrapped_demos=int(s["miprov2_demos"]),
                           seed=int(s.get("seed", 0)), max_calls=max_calls)
             if on else None)
    judges = s["judges"] or []
    judges = [judges] if isinstance(judges, str) else list(judges)
    model = s.get("model")
    eval_datasets = s["eval_datasets"]
    eval_datasets = [eval_datasets] if isinstance(eval_datasets, str) else eval_datasets
    return ThetaDesign(
        str(s["optimise_dataset"]), tuple(dict.fromkeys(eval_datasets)), int(s["train_users"]),
        None if s["eval_users"] is None else int(s["eval_users"]),
        ThetaBudget(int(s["max_candidates"]), int(s["rounds"]), max_calls),
        tuple(j for j in dict.fromkeys(judges) if j != model), tuple(s["components"]),
        bool(s["compare_released"]), mipro, note)


def theta_config(settings: Mapping[str, Any],
                 components: tuple[str, ...] = ("persona",)) -> SynthesizeMeConfig:
    """The method configuration of the chapter: the study's settings (``variant`` picks the
    judges of every arm, default public), with ``persona_instruction`` as our Θ, the search's
    seed (``None``: ``persona_synthesis@v1``, whatever the variant; the released Θ is an arm
    of its own)."""
    from persona_judge.method.templates import PERSONA_SYNTHESIS
    from persona_judge.method.theta import PUBLIC_THETA

    s = {**DESIGN_DEFAULTS, **settings}
    ours = s.get("persona_instruction") or PERSONA_SYNTHESIS
    if ours == PUBLIC_THETA:
        raise SettingsError("setting persona_instruction is our Θ, the search's starting point; "
                            "'public' (the released program) is compared as its own arm "
                            "(compare_released); give a template id or a .txt file, or null")
    return replace(method_config(s, components=components), persona_instruction=str(ours))


# -- users -------------------------------------------------------------------------------------
@dataclass
class ThetaUsers:
    """The training users (search) and the held-out users per evaluation dataset."""

    train: list[UserSplit]
    evaluation: dict[str, list[UserSplit]]
    notes: list[str] = field(default_factory=list)


def theta_users(settings: Mapping[str, Any], design: ThetaDesign | None = None) -> ThetaUsers:
    """Load the datasets and draw disjoint training and evaluation users (seeded)."""
    from persona_judge.study.notebook import load_benchmark_data, sample_users, set_aside_note

    s = smoke_limited({**DESIGN_DEFAULTS, **settings})
    design = design or design_from_settings(settings)
    mode, seed = str(s.get("mode", "real")), int(s.get("seed", 0))
    data = load_benchmark_data(design.optimise_dataset, mode)
    train, held_out = split_users(data.users, design.train_users, design.eval_users, seed)
    notes = [n for n in [set_aside_note(data)] if n]
    evaluation = {}
    for name in design.eval_datasets:
        if name == design.optimise_dataset:
            evaluation[name] = held_out
            continue
        other = load_benchmark_data(name, mode)
        notes += [n for n in [set_aside_note(other)] if n]
        evaluation[name] = sample_users(other.users, design.eval_users, seed)
    return ThetaUsers(train, evaluation, notes)


# -- the released Θ ----------------------------------------------------------------------------
@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def smoke_released_theta(folder: str | Path, theta_program: str = "llama70b",
                         model: str = "") -> str:
    """A synthetic "released" Θ for smoke runs (:func:`smoke_released_program`), fetched
    through the real download code from a local HTTP server into ``folder`` (never into the
    data folder, where the real file goes)."""
    from persona_judge.method import theta

    program = theta.program_for_model(theta_program, model)
    body = json.dumps(smoke_released_program()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with _env(PERSONA_JUDGE_DATA=str(Path(folder).resolve()),
                  **{theta.URL_ENV: f"http://127.0.0.1:{server.server_port}/smoke-theta/"}):
            return str(theta.public_theta_template(program=program))
    finally:
        server.shutdown()
        server.server_close()


def released_theta(mode: str, folder: str | Path | None = None, *,
                   theta_program: str = "llama70b", model: str = "") -> str:
    """The released Θ as a Θ file path (``persona_instruction="public"`` of the method: the
    program ``theta_program`` picks for ``model``, its instruction and worked
    demonstrations): fetched (real) or served locally (smoke). Resolved once, before any
    fit, so the fits read a file and never fetch."""
    from persona_judge.method import theta

    if mode == "smoke":
        return smoke_released_theta(folder or tempfile.mkdtemp(prefix="persona-judge-theta-"),
                                    theta_program, model)
    return theta.resolve_instruction(theta.PUBLIC_THETA, theta_program, model)


#: A stand-in program's size for an estimate when the released one is not downloaded: the
#: released 70B program is about 21.7k prompt tokens (6 worked demonstrations).
_STANDIN_DEMOS, _STANDIN_DEMO_WORDS = 6, 2700


def _dry_run_released(folder: Path, theta_program: str = "llama70b", model: str = "", *,
                      smoke: bool = False) -> str:
    """For an estimate: the released Θ if already downloaded, else a stand-in program of
    the released one's shape and size (an estimate never downloads). A smoke estimate is
    priced as if real and always takes the stand-in: what sits in the download folder of
    a smoke or test session may be a synthetic program, and the forecast must not depend
    on what an earlier run left there."""
    from persona_judge.method import theta

    program = theta.program_for_model(theta_program, model)
    if not smoke and (theta.theta_dir() / f"{program}.json").is_file():
        return str(theta.public_theta_template(program=program))
    demo = {"past_judgements": "[dry run stand-in] " + "word " * _STANDIN_DEMO_WORDS,
            "reasoning": "[dry run stand-in reasoning]",
            "synthesized_persona": "[dry run stand-in persona]"}
    standin = {"synthesize.predict": {"demos": [demo] * _STANDIN_DEMOS, "signature": {
        "instructions": "[dry run: stand-in for the released instruction] " + "word " * 120}}}
    path = folder / "released_standin.txt"
    path.write_text(theta.program_template_text(standin, "dry-run stand-in"), encoding="utf-8")
    return str(path)


# -- the run -----------------------------------------------------------------------------------
@dataclass
class ThetaStudyResults:
    """The search (and MIPROv2's, when run), every test judgment per dataset, judge and Θ,
    and spend by stage.

    ``judgments`` columns: dataset, judge, method (the Θ), user_id, pair_id, order, choice,
    correct, failure, carries, flag.
    """

    search: ThetaSearch
    thetas: dict[str, str]
    judgments: pd.DataFrame
    spend: pd.DataFrame
    miprov2: MiproSearch | None = None

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        self.search.save(folder / "search")
        if self.miprov2 is not None:
            self.miprov2.save(folder / "miprov2")
        self.judgments.to_csv(folder / "judgments.csv", index=False)
        self.spend.to_csv(folder / "spend.csv", index=False)
        (folder / "thetas.json").write_text(json.dumps(self.thetas, indent=2) + "\n",
                                            encoding="utf-8")
        return folder


def search_theta(users: ThetaUsers, client: Any, config: SynthesizeMeConfig,
                 design: ThetaDesign, folder: str | Path, log: SpendLog, *,
                 max_workers: int = 4) -> ThetaSearch:
    """The search on the training users, with the study's model; our Θ is the seed."""
    with log.stage("optimise Θ on training users", client):
        return optimise_theta(users.train, client, replace(config, components=("persona",)),
                              budget=design.budget, folder=Path(folder) / "candidates",
                              seeds=(config.persona_instruction,), max_workers=max_workers)


def miprov2_theta(users: ThetaUsers, client: Any, config: SynthesizeMeConfig,
                  design: ThetaDesign, folder: str | Path, log: SpendLog, *,
                  max_workers: int = 4) -> MiproSearch:
    """MIPROv2 on the same training users as the search (never evaluation users), with the
    study's model and the variant's judge; ``folder`` receives its starting framing."""
    from persona_judge.optimisation.miprov2 import optimise_theta_miprov2

    if design.miprov2 is None:
        raise SettingsError("the design has no MIPROv2 arm (setting miprov2)")
    with log.stage(MIPROV2_STAGE, client):
        return optimise_theta_miprov2(
            users.train, client, replace(config, components=("persona",)),
            settings=replace(design.miprov2, num_threads=max_workers),
            folder=Path(folder) / "miprov2-framing", max_workers=max_workers)


def compare_thetas(users: ThetaUsers, clients: Mapping[str, Any], config: SynthesizeMeConfig,
                   design: ThetaDesign, thetas: Mapping[str, str], log: SpendLog, *,
                   max_workers: int = 4) -> pd.DataFrame:
    """Fit every evaluation user with every Θ and judge, with every client; the judgments."""
    rows = []
    for dataset, eval_users in users.evaluation.items():
        fittable = {u.user_id: u for u in eval_users if u.train and u.test}
        for model, client in clients.items():
            jobs = []
            for label in design.thetas:
                fit_config = replace(config, persona_instruction=thetas[label],
                                     components=design.components)
                with log.stage(f"{dataset}: fit with {label}", client):
                    artifacts = fit_cells(fittable, client, fit_config, max_workers=max_workers,
                                          what=f"SynthesizeMe with {label} "
                                               f"({short_model(model)}, {dataset})")
                for user in fittable.values():
                    state = artifacts[user.user_id].with_components(design.components)
                    if getattr(client, "dry_run", False) and DRY_RUN_TEXT in (state.persona or ""):
                        # Dry-run personas are one stand-in text; keep each Θ's judgments
                        # distinct so they are priced (a real run's personas differ).
                        state = replace(state, persona=f"{state.persona} ({label})")
                    carries, flag = state.prompt_content()
                    for pref in user.test:
                        for order in ORDERS:
                            jobs.append((label, user.user_id, pref.pair_id, order, carries, flag,
                                         state.judge_request(pref, order)))
            with log.stage(f"{dataset}: judge test pairs", client):
                verdicts = client.judge_many([j[-1] for j in jobs],
                                             desc=f"{dataset}, {short_model(model)}")
            for (label, user_id, pair_id, order, carries, flag, _), v in zip(
                    jobs, verdicts, strict=True):
                rows.append({"dataset": dataset, "judge": model, "method": label,
                             "user_id": user_id, "pair_id": pair_id, "order": order,
                             "choice": v.choice, "correct": v.choice == correct_letter(order),
                             "failure": v.failure, "carries": carries, "flag": flag})
    return pd.DataFrame(rows, columns=["dataset", "judge", "method", "user_id", "pair_id",
                                       "order", "choice", "correct", "failure", "carries",
                                       "flag"])


def run_theta_study(users: ThetaUsers, clients: Mapping[str, Any], model: str,
                    config: SynthesizeMeConfig, design: ThetaDesign, folder: str | Path, *,
                    released: str | None = None, max_workers: int = 4) -> ThetaStudyResults:
    """Search Θ with ``clients[model]``, then compare the Θs on held-out users with every
    client. ``released``: the released Θ's template path (needed when the design compares
    it)."""
    if model not in clients:
        raise SettingsError(f"no client for the study's model {model!r}")
    if design.compare_released and released is None:
        raise SettingsError("compare_released is on but no released Θ was given")
    log = SpendLog()
    search = search_theta(users, clients[model], config, design, folder, log,
                          max_workers=max_workers)
    optimised = search.save(Path(folder) / "search")
    thetas = {OURS: config.persona_instruction, OPTIMISED: str(optimised)}
    if design.compare_released:
        thetas[RELEASED] = str(released)
    mipro = None
    if design.miprov2 is not None:
        mipro = miprov2_theta(users, clients[model], config, design, folder, log,
                              max_workers=max_workers)
        thetas[MIPROV2] = str(mipro.save(Path(folder) / "miprov2", theta_name="theta.txt"))
    judgments = compare_thetas(users, clients, config, design, thetas, log,
                               max_workers=max_workers)
    return ThetaStudyResults(search, thetas, judgments, log.table(), mipro)


# -- statistics --------------------------------------------------------------------------------
def accuracy_by_theta(judgments: pd.DataFrame, *, n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = 0) -> pd.DataFrame:
    """Per dataset, judge and Θ: accuracy (%) with a bootstrap CI resampling users."""
    parts = []
    for (dataset, judge), group in judgments.groupby(["dataset", "judge"], sort=False):
        pooled = pooled_accuracy(group, unit="user", n_resamples=n_resamples, seed=seed)
        pooled.insert(0, "judge", judge)
        pooled.insert(0, "dataset", dataset)
        parts.append(pooled)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def theta_comparisons(judgments: pd.DataFrame, design: ThetaDesign, *,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per dataset and judge: the paired comparisons of the Θs (users resampled for the CI,
    permutation tests per pair and per user, Holm within each dataset and judge)."""
    parts = []
    for (dataset, judge), group in judgments.groupby(["dataset", "judge"], sort=False):
        table = comparisons_table(group, design.comparisons(), unit="user",
                                  n_resamples=n_resamples, seed=seed)
        table.insert(0, "judge", judge)
        table.insert(0, "dataset", dataset)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# -- the estimate ------------------------------------------------------------------------------
def estimate_theta(config: Mapping[str, Any], client: Any) -> pd.DataFrame:
    """Dry-run chapter 11: ``client`` (``dry_run=True``) prices the search and the study's
    model; each other judge gets a sibling dry-run client. Returns calls, tokens and dollars
    per stage and model, with the search's ``calls at most`` bound on its row (and
    MIPROv2's on its own, when the design runs it)."""
    settings = smoke_limited({**DESIGN_DEFAULTS, **config})
    design = design_from_settings(settings)
    users = theta_users(settings, design)
    model = str(client.model)
    clients = {model: client, **{j: sibling_client(client, j) for j in design.judges}}
    method = theta_config(settings, components=design.components)
    with tempfile.TemporaryDirectory(prefix="persona-judge-theta-estimate-") as tmp:
        released = (_dry_run_released(Path(tmp), method.theta_program, model,
                                      smoke=settings.get("mode") == "smoke")
                    if design.compare_released else None)
        try:
            results = run_theta_study(users, clients, model, method, design, tmp,
                                      released=released)
        finally:
            for other in clients.values():
                if other is not client:
                    other.close()
    spend = results.spend.copy()
    spend["calls at most"] = float("nan")
    bound = results.search.settings["call_bound"]
    spend.loc[spend["stage"] == "optimise Θ on training users", "calls at most"] = bound
    if results.miprov2 is not None:
        spend.loc[spend["stage"] == MIPROV2_STAGE, "calls at most"] = \
            results.miprov2.settings["call_bound"]
    return spend

