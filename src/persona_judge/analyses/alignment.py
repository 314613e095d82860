"""Do personas describe the real person? PRISM personas against their authors' survey (chapter 08).

The paper reports that personas written by the 70B model align with PRISM users' own
stated preferences more often than with a random user's (**56.1% vs 47%, p < 0.05**)
without giving the protocol. This module's protocol, every choice a parameter:

**Matching test.** For each PRISM user u of the benchmark with a SynthesizeMe persona and a
survey profile, a judge LLM (template ``persona_survey_match@v1``) reads the persona and two
survey profiles — u's own and a *distractor* v's, drawn at random (seeded) from every other
survey participant with a profile — and says which person the persona describes. Each
question is asked in **both orders** (own profile as Person A, then as Person B), so a
position bias cannot pass for alignment; ties and unparseable answers count as wrong, as in
evaluation. Profiles show ``profile_sections`` of
:meth:`~persona_judge.data.raw_prism.SurveyProfile.render`; by default the **stated
preferences** (the eight 1–100 importance ratings, the survey's direct measure of what a
person wants from an assistant, which is what a persona written from reply choices can
speak to) and the **self-description** (values in their own words). Demographics are left
out by default: the persona rarely states them, and a country or age mentioned in a
conversation would let the judge match on identity rather than on preferences.

**Controls** (same user, same distractor, same orders — so every comparison is paired):

* *shuffled persona*: u's question is asked with another study user's persona (a seeded
  cyclic shuffle of the users, never the distractor's own persona), ``n_shuffles`` times.
  Its accuracy is the protocol's chance level, estimated rather than assumed (50% only if
  the judge has no bias toward some profiles);
* *unverified persona*: a persona written by the same instruction Θ from the **default
  judge's unverified reasoning** on u's training pairs: the default judge (no user
  information, no labelled context) reasons about each pair in its fitting display order,
  and every trace is kept whether or not it matches the user's choice. With
  ``unverified_picks="judge"`` (default) each example shows the reply *the judge* picked as
  the person's pick, so this persona sees u's conversations but none of u's choices: it
  tells what alignment the topics alone give. ``"user"`` shows u's real choices beside the
  unverified reasoning (reasoning that argued for the other reply included).

**Stated-priority ratings.** A judge (template ``persona_stated_priorities@v1``) reads only a
persona and estimates, 1–100, how the person rated each of the eight qualities; the answer
must be JSON with all eight keys (an unusable answer is asked again once at temperature
0.7, then recorded as missing). Agreement with the survey is scored two ways:

* per user: Spearman's rank correlation across the eight qualities between the ratings the
  persona implies and the ratings the user gave (ranks remove each person's own use of the
  slider; a user with fewer than three answered qualities, or constant ratings on either
  side, has no correlation and is counted as such);
* per quality: Spearman's correlation across users (does a persona that implies more
  weight on factuality belong to someone who gave factuality more weight?).

Each is compared with the shuffled assignment (another user's persona's ratings against
u's survey: no new calls) and the unverified personas. Why this is sound only within limits
(and so secondary to the matching test): eight items make a noisy per-user correlation, so
only the mean over users is tested; many participants rate most qualities near the top,
leaving ties (users with no ranking drop out rather than count as zero); the survey showed
the statements in a random order per person (``order_stated_prefs``), so order effects add
noise, not bias; and the implied ratings are a model's reading of the persona, whose own
habits the shuffled condition calibrates.

**Statistics:** accuracy with a bootstrap CI over users; a **paired permutation test**
(sign flips of per-user differences, exact for up to 13 users) of own versus shuffled and
own versus unverified; mean per-user Spearman with a bootstrap CI and the same paired test;
per-quality Spearman with a bootstrap CI, scipy's p-value and Holm's adjustment.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from persona_judge.analyses.common import (
    SpendLog,
    fit_cells,
    method_config,
    save_study,
    smoke_limited,
)
from persona_judge.data.raw_prism import (
    RENDER_SECTIONS,
    STATED_PREF_ATTRIBUTES,
    STATED_PREF_LABELS,
    SurveyProfile,
)
from persona_judge.data.records import Preference, UserSplit
from persona_judge.errors import SettingsError
from persona_judge.evaluation.stats import (
    DEFAULT_RESAMPLES,
    bootstrap_ci,
    holm,
    paired_permutation_test,
)
from persona_judge.llm import ChatRequest
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.bootstrap import Trace
from persona_judge.method.judge import ORDERS, Order, correct_letter, derive_seed, judge_request
from persona_judge.method.persona import PersonaResult, synthesize_persona
from persona_judge.method.selection import CandidateScore
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_context
from persona_judge.method.templates import load_template
from persona_judge.method.theta import resolve_instruction

MATCH_TEMPLATE = "persona_survey_match@v1"
RATINGS_TEMPLATE = "persona_stated_priorities@v1"
OWN = "SynthesizeMe persona"
UNVERIFIED = "unverified persona"
SHUFFLED = "shuffled persona"
#: The paper: 70B personas matched their own user's stated preferences 56.1% of the time,
#: a random user's 47% (p < 0.05); protocol not given.
PAPER_OWN, PAPER_RANDOM = 56.1, 47.0
UNVERIFIED_PICKS = ("judge", "user")
MATCH_MAX_TOKENS = 1024
RATINGS_MAX_TOKENS = 400

DESIGN_DEFAULTS: dict[str, Any] = {
    "max_users": 100, "profile_sections": ["stated_prefs", "self_description"],
    "n_shuffles": 2, "unverified_picks": "judge", "ratings": True}


@dataclass(frozen=True)
class AlignmentDesign:
    """What the profiles show, how many shuffled controls, which unverified personas."""

    profile_sections: tuple[str, ...] = ("stated_prefs", "self_description")
    n_shuffles: int = 2
    seed: int = 0
    unverified_picks: str = "judge"
    ratings: bool = True

    def __post_init__(self) -> None:
        sections = tuple(self.profile_sections)
        unknown = set(sections) - set(RENDER_SECTIONS)
        if not sections or unknown:
            raise SettingsError(f"setting profile_sections must be a non-empty list drawn from "
                                f"{', '.join(RENDER_SECTIONS)}; got {list(sections)!r}")
        object.__setattr__(self, "profile_sections", sections)
        if isinstance(self.n_shuffles, bool) or not isinstance(self.n_shuffles, int) \
                or self.n_shuffles < 1:
            raise SettingsError(f"setting n_shuffles must be a whole number >= 1, got "
                                f"{self.n_shuffles!r}")
        if self.unverified_picks not in UNVERIFIED_PICKS:
            raise SettingsError(f"setting unverified_picks must be one of {UNVERIFIED_PICKS}, "
                                f"got {self.unverified_picks!r}")


# -- who is compared with whom ---------------------------------------------------------------
def usable_profiles(surveys: Mapping[str, SurveyProfile], sections: Sequence[str]
                    ) -> dict[str, str]:
    """``{user_id: rendered profile}`` for every participant whose profile shows something."""
    out = {}
    for user_id in sorted(surveys):
        text = surveys[user_id].render(include=sections)
        if text.strip():
            out[user_id] = text
    return out


def draw_distractors(user_ids: Sequence[str], pool: Sequence[str], seed: int
                     ) -> dict[str, str]:
    """A random other participant for each user (seeded per user, so adding users moves none)."""
    candidates = sorted(set(pool))
    out = {}
    for user_id in user_ids:
        others = [p for p in candidates if p != user_id]
        if not others:
            raise SettingsError(f"no other survey participant to compare user {user_id!r} with")
        out[user_id] = random.Random(derive_seed(seed, "distractor", user_id)).choice(others)
    return out


def shuffle_personas(user_ids: Sequence[str], distractors: Mapping[str, str], seed: int,
                     draw: int) -> dict[str, str]:
    """Whose persona each user gets in shuffled draw ``draw``: never their own, never their
    distractor's.

    A seeded random order of the users, each given the next user's persona (a cyclic
    shuffle: every persona used once); orders in which some user would get their
    distractor's persona are redrawn. Needs at least three users.
    """
    ids = sorted(user_ids)
    if len(ids) < 3:
        raise SettingsError(f"a shuffled persona assignment needs at least 3 users with a "
                            f"persona and a profile, got {len(ids)}")
    rng = random.Random(derive_seed(seed, "shuffle", draw))
    for _ in range(1000):
        order = list(ids)
        rng.shuffle(order)
        owner = {u: order[(i + 1) % len(order)] for i, u in enumerate(order)}
        if all(owner[u] != distractors.get(u) for u in ids):
            return owner
    # Every cyclic order clashes with a distractor (only with a handful of users): draw each
    # user's persona independently instead, still never their own or their distractor's.
    return {u: rng.choice([w for w in ids if w not in (u, distractors.get(u))]) for u in ids}


# -- requests --------------------------------------------------------------------------------
def match_request(persona: str, own_profile: str, other_profile: str, order: Order, *,
                  user_id: str = "", condition: str = "", template: str = MATCH_TEMPLATE
                  ) -> ChatRequest:
    """Which of two profiles does ``persona`` describe? ``order`` puts the own profile first
    (``chosen_first``: it is Person A) or second."""
    tpl = load_template(template)
    a, b = (own_profile, other_profile) if correct_letter(order) == "A" else \
        (other_profile, own_profile)
    messages = ({"role": "system", "content": tpl.render("system")},
                {"role": "user", "content": tpl.render("user", persona=persona.strip(),
                                                       profile_a=a, profile_b=b)})
    return ChatRequest(messages=messages, template=tpl.id, max_tokens=MATCH_MAX_TOKENS,
                       labels={"user": user_id, "pair": condition,
                               "step": f"persona match ({order})"})


def ratings_request(persona: str, *, user_id: str = "", kind: str = "",
                    temperature: float = 0.0, sample_index: int = 0,
                    template: str = RATINGS_TEMPLATE) -> ChatRequest:
    """How would the person ``persona`` describes rate the eight qualities (1-100)?"""
    tpl = load_template(template)
    qualities = "\n".join(tpl.render("quality", quality=k, label=STATED_PREF_LABELS[k])
                          for k in STATED_PREF_ATTRIBUTES)
    keys = json.dumps({k: 50 for k in STATED_PREF_ATTRIBUTES}).replace("50", "<1-100>")
    messages = ({"role": "system", "content": tpl.render("system")},
                {"role": "user", "content": tpl.render("user", persona=persona.strip(),
                                                       qualities=qualities, keys=keys)})
    return ChatRequest(messages=messages, template=tpl.id, temperature=temperature,
                       max_tokens=RATINGS_MAX_TOKENS, sample_index=sample_index,
                       labels={"user": user_id, "pair": kind, "step": "stated priorities"})


_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse_ratings(text: str) -> tuple[dict[str, int] | None, str]:
    """(ratings, problem): the eight qualities as whole numbers 1-100 from a JSON answer.

    The first JSON object in the text that holds every quality is used (a code fence or a
    sentence around it is fine). A missing quality, a value that is not a whole number
    from 1 to 100, or no JSON at all makes the answer unusable; the problem says which.
    """
    problem = "no JSON object in the answer"
    for match in _OBJECT.finditer(text or ""):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            problem = "the JSON object in the answer does not parse"
            continue
        if not isinstance(data, dict):
            continue
        data = {str(k).strip().lower(): v for k, v in data.items()}
        missing = [k for k in STATED_PREF_ATTRIBUTES if k not in data]
        if missing:
            problem = f"no rating for {', '.join(missing)}"
            continue
        out = {}
        for key in STATED_PREF_ATTRIBUTES:
            value = data[key]
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or value != int(value) or not 1 <= value <= 100:
                return None, f"rating for {key} is {value!r}, not a whole number from 1 to 100"
            out[key] = int(value)
        return out, ""
    return None, problem


@dataclass(frozen=True)
class Ratings:
    """The qualities' ratings a persona implies (None when no usable answer came back)."""

    ratings: dict[str, int] | None
    samples: int
    problem: str = ""


def rate_personas(personas: Mapping[str, str], client: Any, *, kind: str = ""
                  ) -> dict[str, Ratings]:
    """One ratings request per persona (user id → persona); unusable answers asked again once
    at temperature 0.7 with sample index 1 (a distinct cache entry)."""
    ids = list(personas)
    first = client.chat_many([ratings_request(personas[u], user_id=u, kind=kind) for u in ids],
                             desc=f"rate {kind or 'personas'}")
    out: dict[str, Ratings] = {}
    retry = []
    for user_id, answer in zip(ids, first, strict=True):
        parsed, problem = (None, f"call failed: {answer.error}") if answer.error else \
            parse_ratings(answer.text)
        if parsed is None:
            retry.append(user_id)
            out[user_id] = Ratings(None, 1, problem)
        else:
            out[user_id] = Ratings(parsed, 1)
    if retry:
        again = client.chat_many([ratings_request(personas[u], user_id=u, kind=kind,
                                                  temperature=0.7, sample_index=1)
                                  for u in retry], desc=f"rate {kind} again")
        for user_id, answer in zip(retry, again, strict=True):
            parsed, problem = (None, f"call failed: {answer.error}") if answer.error else \
                parse_ratings(answer.text)
            out[user_id] = Ratings(parsed, 2, "" if parsed else
                                   f"{out[user_id].problem}; then {problem}")
    return out


# -- unverified personas ----------------------------------------------------------------------
def unverified_traces(user: UserSplit, client: Any, config: SynthesizeMeConfig
                      ) -> list[tuple[Preference, Any, Order]]:
    """The default judge's verdict on each training pair, shown in its fitting display order."""
    ctx = fit_context(user, config)
    requests = [judge_request(p, ctx.orders[p.pair_id], step="unverified trace",
                              default_template=config.judge_default) for p in user.train]
    judgments = client.judge_many(requests, desc="unverified traces")
    return [(p, j, ctx.orders[p.pair_id]) for p, j in zip(user.train, judgments, strict=True)]


def unverified_persona(traced: Sequence[tuple[Preference, Any, Order]], client: Any,
                       config: SynthesizeMeConfig, picks: str = "judge") -> PersonaResult:
    """A persona written by Θ from every default-judge trace (none checked against the user).

    ``picks="judge"``: each example shows the reply the judge picked as the pick (the
    user's choices never enter); ``"user"``: the user's real pick beside the reasoning.
    A trace without a verdict (failed or unparseable) is left out.
    """
    prefs, traces = [], []
    for pref, judgment, order in traced:
        if judgment.choice is None:
            continue
        if picks == "judge":
            agrees = judgment.choice == correct_letter(order)
            shown = pref if agrees else replace(pref, chosen=pref.rejected,
                                                rejected=pref.chosen)
            # The judge's pick sits in the slot it named, whatever the user chose.
            order = "chosen_first" if judgment.choice == "A" else "rejected_first"
        else:
            shown = pref
        prefs.append(shown)
        # Marked verified so that Θ's examples show the reasoning; here nothing was checked.
        traces.append(Trace(pref.pair_id, order, judgment.reasoning or "", judgment.choice,
                            verified=True))
    if not prefs:
        return PersonaResult(None, [])
    every = CandidateScore(0, tuple(p.pair_id for p in prefs), kind="every trace")
    theta = resolve_instruction(str(config.persona_instruction), config.theta_program,
                                str(getattr(client, "model", "")))
    return synthesize_persona(prefs, traces, every, client, theta,
                              max_tokens=config.persona_max_tokens)


# -- running ---------------------------------------------------------------------------------
@dataclass
class AlignmentResults:
    """Everything the alignment study produced.

    ``participants``: one row per benchmark user (in the study or why not, distractor).
    ``personas``: one row per user and persona kind (text, owner, fallbacks).
    ``judgments``: one row per matching question (condition, draw, order, choice, correct).
    ``ratings``: one row per persona kind, user and quality (rated, stated).
    """

    participants: pd.DataFrame
    personas: pd.DataFrame
    judgments: pd.DataFrame
    ratings: pd.DataFrame
    spend: pd.DataFrame
    artifacts: dict[str, SynthesizeMeArtifact] = field(default_factory=dict)

    def save(self, folder: str | Path) -> Path:
        named = [(u.replace("/", "_"), a) for u, a in self.artifacts.items()]
        return save_study(folder, {"participants": self.participants,
                                   "personas": self.personas, "judgments": self.judgments,
                                   "ratings": self.ratings, "spend": self.spend}, named)


def _participants(users: Sequence[UserSplit], profiles: Mapping[str, str],
                  personas: Mapping[str, str | None], distractors: Mapping[str, str]
                  ) -> pd.DataFrame:
    rows = []
    for user in users:
        if user.user_id not in profiles:
            why = "no survey profile with the chosen sections"
        elif personas.get(user.user_id) is None:
            why = "no usable persona"
        else:
            why = ""
        rows.append({"user_id": user.user_id, "in study": not why, "left out because": why,
                     "distractor": distractors.get(user.user_id, "")})
    return pd.DataFrame(rows, columns=["user_id", "in study", "left out because",
                                       "distractor"])


def run_alignment(users: Sequence[UserSplit], surveys: Mapping[str, SurveyProfile],
                  client: Any, config: SynthesizeMeConfig, design: AlignmentDesign, *,
                  max_workers: int = 4) -> AlignmentResults:
    """Fit personas, write unverified ones, ask every matching and rating question."""
    log = SpendLog()
    profiles = usable_profiles(surveys, design.profile_sections)
    fittable = [u for u in users if u.user_id in profiles and u.train]
    persona_config = replace(config, components=("persona",))
    with log.stage("fit SynthesizeMe personas (steps 1-2)", client):
        artifacts = fit_cells({u.user_id: u for u in fittable}, client, persona_config,
                              max_workers=max_workers, what="SynthesizeMe (persona)")
    own = {u: a.persona for u, a in artifacts.items()}
    study = [u.user_id for u in fittable if own.get(u.user_id)]
    if len(study) < 3:
        raise SettingsError(
            f"the alignment study needs at least 3 users with a survey profile and a persona, "
            f"got {len(study)} of {len(users)}; draw more users (max_users) or show more "
            "profile_sections")
    distractors = draw_distractors(study, list(profiles), design.seed)

    with log.stage("unverified personas (default-judge traces + Θ)", client):
        by_user = {u.user_id: u for u in fittable}
        with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
            written = dict(zip(study, pool.map(
                lambda u: unverified_persona(unverified_traces(by_user[u], client, config),
                                             client, config, design.unverified_picks),
                study), strict=True))
    unverified = {u: r.persona for u, r in written.items()}

    # condition, draw, user -> whose persona (owner) and its text
    questions: list[tuple[str, int, str, str, str]] = []
    for u in study:
        questions.append((OWN, 0, u, u, str(own[u])))
        if unverified.get(u):
            questions.append((UNVERIFIED, 0, u, u, str(unverified[u])))
    for draw in range(design.n_shuffles):
        owner = shuffle_personas(study, distractors, design.seed, draw)
        questions += [(SHUFFLED, draw, u, owner[u], str(own[owner[u]])) for u in study]
    jobs = [(q, o) for q in questions for o in ORDERS]
    requests = [match_request(text, profiles[u], profiles[distractors[u]], o, user_id=u,
                              condition=f"{cond} {draw}")
                for (cond, draw, u, _, text), o in jobs]
    with log.stage("matching questions (all conditions, both orders)", client):
        verdicts = client.judge_many(requests, desc="persona matching")
    judgments = pd.DataFrame([
        {"condition": cond, "draw": draw, "user_id": u, "persona_of": owner,
         "distractor": distractors[u], "order": o, "choice": j.choice,
         "correct": j.choice == correct_letter(o), "failure": j.failure}
        for ((cond, draw, u, owner, _), o), j in zip(jobs, verdicts, strict=True)],
        columns=["condition", "draw", "user_id", "persona_of", "distractor", "order",
                 "choice", "correct", "failure"])

    ratings = pd.DataFrame(columns=["condition", "draw", "user_id", "persona_of", "attribute",
                                    "rated", "stated"])
    rated: dict[str, dict[str, Ratings]] = {}
    if design.ratings:
        with log.stage("stated-priority ratings of each persona", client):
            rated[OWN] = rate_personas({u: str(own[u]) for u in study}, client, kind=OWN)
            rated[UNVERIFIED] = rate_personas({u: str(unverified[u]) for u in study
                                               if unverified.get(u)}, client, kind=UNVERIFIED)
        ratings = ratings_frame(questions, rated, surveys)

    persona_rows = []
    for u in study:
        persona_rows.append({"user_id": u, "kind": OWN, "persona": own[u],
                             "fallbacks": ", ".join(artifacts[u].fallback_codes),
                             "ratings problem": rated.get(OWN, {}).get(u, Ratings(None, 0))
                             .problem})
        persona_rows.append({"user_id": u, "kind": UNVERIFIED, "persona": unverified.get(u),
                             "fallbacks": ", ".join(f.code for f in written[u].fallbacks),
                             "ratings problem": rated.get(UNVERIFIED, {}).get(
                                 u, Ratings(None, 0)).problem})
    return AlignmentResults(
        _participants(users, profiles, own, distractors),
        pd.DataFrame(persona_rows, columns=["user_id", "kind", "persona", "fallbacks",
                                            "ratings problem"]),
        judgments, ratings, log.table(), artifacts)


def ratings_frame(questions: Sequence[tuple[str, int, str, str, str]],
                  rated: Mapping[str, Mapping[str, Ratings]],
                  surveys: Mapping[str, SurveyProfile]) -> pd.DataFrame:
    """One row per condition, user and quality: what the persona implies, what u stated.

    A shuffled condition reuses the ratings of the persona it shows (its owner's), against
    u's own survey: no new calls.
    """
    rows = []
    for cond, draw, u, owner, _ in questions:
        source = rated.get(OWN if cond == SHUFFLED else cond, {}).get(owner)
        if source is None or source.ratings is None:
            continue
        for attribute in STATED_PREF_ATTRIBUTES:
            rows.append({"condition": cond, "draw": draw, "user_id": u, "persona_of": owner,
                         "attribute": attribute, "rated": source.ratings[attribute],
                         "stated": surveys[u].stated_prefs.get(attribute)})
    return pd.DataFrame(rows, columns=["condition", "draw", "user_id", "persona_of",
                                       "attribute", "rated", "stated"])


# -- statistics ------------------------------------------------------------------------------
def matching_accuracy(judgments: pd.DataFrame, *, confidence: float = 0.95,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """Accuracy (%) per condition with a bootstrap CI over users."""
    rows = []
    for cond, group in judgments.groupby("condition", sort=False):
        correct = group["correct"].to_numpy(dtype=float)
        low, high = bootstrap_ci(correct, clusters=group["user_id"].astype(str).tolist(),
                                 confidence=confidence, n_resamples=n_resamples, seed=seed)
        rows.append({"condition": cond, "n_users": group["user_id"].nunique(),
                     "n_judgments": len(group), "accuracy": 100 * correct.mean(),
                     "ci_low": 100 * low, "ci_high": 100 * high})
    return pd.DataFrame(rows, columns=["condition", "n_users", "n_judgments", "accuracy",
                                       "ci_low", "ci_high"])


def per_user_outcome(frame: pd.DataFrame, condition: str, value: str = "correct"
                     ) -> pd.Series:
    """Each user's mean ``value`` in ``condition`` (over orders, draws and qualities)."""
    part = frame[frame["condition"] == condition]
    return part.groupby("user_id")[value].mean().astype(float)


@dataclass(frozen=True)
class PairedComparison:
    """Condition A minus B, per user then averaged, with a sign-flip permutation test."""

    condition_a: str
    condition_b: str
    difference: float
    pvalue: float
    n_users: int
    n_differing: int
    exact: bool
    note: str = ""  # why there is no p-value, e.g. "not testable (1 unit)"


def compare_conditions(per_user_a: pd.Series, per_user_b: pd.Series, condition_a: str,
                       condition_b: str, *, scale: float = 100.0,
                       n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
                       ) -> PairedComparison:
    """Paired test on the users both conditions have: under the null that a persona says
    nothing about its author, each user's two outcomes are exchangeable, so the signs of
    their differences can be flipped (``paired_permutation_test``)."""
    both = pd.concat({"a": per_user_a, "b": per_user_b}, axis=1, join="inner").dropna()
    if both.empty:
        return PairedComparison(condition_a, condition_b, float("nan"), float("nan"), 0, 0,
                                True, "not testable (no user in both conditions)")
    test = paired_permutation_test((both["a"] - both["b"]).to_numpy(),
                                   n_resamples=n_resamples, seed=seed)
    return PairedComparison(condition_a, condition_b, scale * test.difference, test.pvalue,
                            test.n_units, test.n_nonzero, test.exact, test.note)


def rank_agreement(rated: Mapping[str, float], stated: Mapping[str, float | None]) -> float:
    """Spearman's correlation between implied and stated ratings over the answered qualities.

    NaN when fewer than three qualities were answered or either side is constant (no
    ranking to agree with).
    """
    keys = [k for k in STATED_PREF_ATTRIBUTES
            if stated.get(k) is not None and rated.get(k) is not None]
    if len(keys) < 3:
        return float("nan")
    x = np.array([rated[k] for k in keys], dtype=float)
    y = np.array([stated[k] for k in keys], dtype=float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(sps.spearmanr(x, y).statistic)


def per_user_rank_agreement(ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per condition, draw and user: Spearman's rho over the eight qualities."""
    rows = []
    for (cond, draw, user), group in ratings.groupby(["condition", "draw", "user_id"],
                                                     sort=False):
        rated = dict(zip(group["attribute"], group["rated"], strict=True))
        stated = {a: (None if pd.isna(s) else s)
                  for a, s in zip(group["attribute"], group["stated"], strict=True)}
        rows.append({"condition": cond, "draw": draw, "user_id": user,
                     "rho": rank_agreement(rated, stated)})
    return pd.DataFrame(rows, columns=["condition", "draw", "user_id", "rho"])


def mean_with_ci(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95,
                 n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
                 ) -> tuple[float, float, float, int]:
    """(mean, CI low, CI high, n) of the non-missing values; percentile bootstrap."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    low, high = bootstrap_ci(arr, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return float(arr.mean()), low, high, int(arr.size)


def spearman_with_ci(x: Sequence[float], y: Sequence[float], *, confidence: float = 0.95,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0
                     ) -> tuple[float, float, float, float]:
    """(rho, CI low, CI high, p): Spearman across paired observations, CI resampling pairs.

    p is scipy's (``spearmanr``); resamples with a constant side are skipped. NaN with fewer
    than three pairs or a constant side.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    nan = float("nan")
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return nan, nan, nan, nan
    result = sps.spearmanr(a, b)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, (n_resamples, a.size))
    ra = sps.rankdata(a[idx], axis=1)
    rb = sps.rankdata(b[idx], axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(axis=1) * (rb ** 2).sum(axis=1))
    ok = denom > 0
    rhos = (ra * rb).sum(axis=1)[ok] / denom[ok]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(rhos, [alpha, 1 - alpha]) if rhos.size else (nan, nan)
    return float(result.statistic), float(low), float(high), float(result.pvalue)


def attribute_agreement(ratings: pd.DataFrame, conditions: Sequence[str] = (OWN, SHUFFLED,
                                                                             UNVERIFIED), *,
                        confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                        seed: int = 0) -> pd.DataFrame:
    """Per quality and condition: Spearman across users between implied and stated ratings.

    Shuffled draws are pooled (each user once per draw). Holm's adjustment runs over the
    eight qualities of each condition.
    """
    rows = []
    for cond in conditions:
        part = ratings[(ratings["condition"] == cond)].dropna(subset=["stated"])
        block = []
        for attribute in STATED_PREF_ATTRIBUTES:
            one = part[part["attribute"] == attribute]
            rho, low, high, p = spearman_with_ci(one["rated"].to_numpy(float),
                                                 one["stated"].to_numpy(float),
                                                 confidence=confidence,
                                                 n_resamples=n_resamples, seed=seed)
            block.append({"attribute": attribute, "condition": cond, "n": len(one),
                          "rho": rho, "ci_low": low, "ci_high": high, "p": p})
        finite = [r["p"] for r in block if not np.isnan(r["p"])]
        adjusted = iter(holm(finite))
        for r in block:
            r["p (Holm)"] = float("nan") if np.isnan(r["p"]) else next(adjusted)
        rows += block
    return pd.DataFrame(rows, columns=["attribute", "condition", "n", "rho", "ci_low",
                                       "ci_high", "p", "p (Holm)"])


# -- the chapter's settings and its estimate ---------------------------------------------------
def design_from_settings(settings: Mapping[str, Any]) -> AlignmentDesign:
    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    return AlignmentDesign(profile_sections=tuple(s["profile_sections"]),
                           n_shuffles=s["n_shuffles"], seed=int(s.get("seed", 0)),
                           unverified_picks=str(s["unverified_picks"]),
                           ratings=bool(s["ratings"]))


def alignment_users(settings: Mapping[str, Any]) -> tuple[list[UserSplit],
                                                         dict[str, SurveyProfile], str]:
    """PRISM benchmark users (``max_users`` drawn at random), the survey, and a note."""
    from persona_judge.data.raw_prism import load_prism_survey
    from persona_judge.study.notebook import load_benchmark_data, sample_users, set_aside_note

    s = {**DESIGN_DEFAULTS, **smoke_limited(settings)}
    mode = str(s.get("mode", "real"))
    data = load_benchmark_data("prism", mode)
    surveys = load_prism_survey(mode, revision=s.get("prism_revision"))
    users = sample_users(data.users, s["max_users"], int(s.get("seed", 0)))
    return users, surveys, set_aside_note(data)


def estimate_alignment(config: Mapping[str, Any], client: Any) -> pd.DataFrame:
    """Dry-run chapter 08 with ``client`` (``dry_run=True``): calls, tokens, dollars per stage.

    ``config``: the chapter's settings as the runner passes them (missing ones take the
    chapter's defaults). Needs the PRISM benchmark and survey on disk (real mode downloads).
    """
    settings = {**DESIGN_DEFAULTS, **smoke_limited(config)}
    users, surveys, _ = alignment_users(settings)
    result = run_alignment(users, surveys, client, method_config(settings),
                           design_from_settings(settings))
    return result.spend
