"""Persona-survey alignment: the protocol's requests, controls, parsing and statistics."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from analyses_helpers import make_user, pref, user_text
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from persona_judge.analyses import alignment
from persona_judge.analyses.alignment import AlignmentDesign
from persona_judge.data.raw_prism import STATED_PREF_ATTRIBUTES, SurveyProfile
from persona_judge.data.records import UserSplit
from persona_judge.errors import SettingsError
from persona_judge.method.synthesizeme import SynthesizeMeConfig

CONFIG = SynthesizeMeConfig(n_candidates=2, m_candidates=2, variant="ours")  # JSON script
_PORTRAIT = re.compile(r"## Portrait\n(.*?)\n\n## Person A\n(.*?)\n\n## Person B\n(.*?)\n\n##",
                       re.S)


def _ratings_for(persona: str) -> dict[str, int]:
    token = re.search(r"TOKEN-(\w+)", persona)
    base = sum(map(ord, token.group(1))) if token else 0
    return {k: 1 + (base * (i + 3)) % 100 for i, k in enumerate(STATED_PREF_ATTRIBUTES)}


def responder(body: dict[str, Any]) -> str:
    """Judges always say A; personas name their user; matching follows the persona's token;
    ratings depend on the token (prose first for a persona saying STUBBORN, always for
    HOPELESS)."""
    text = user_text(body)
    found = _PORTRAIT.search(text)
    if found:
        persona, a, b = found.groups()
        token = re.search(r"TOKEN-\w+", persona)
        pick = "B" if token and token.group(0) in b and token.group(0) not in a else "A"
        return json.dumps({"reasoning": "scripted", "preferred": pick})
    if "## The survey" in text:
        persona = text.split("## Portrait\n", 1)[1].split("\n\n## The survey", 1)[0]
        hot = body.get("temperature", 0) > 0
        if "HOPELESS" in persona or ("STUBBORN" in persona and not hot):
            return "I think they like factual replies."
        return "```json\n" + json.dumps(_ratings_for(persona)) + "\n```"
    if "Reply they picked" in text:
        user = re.search(r"conv-(\w+?)-t", text).group(1)
        return f"This person, TOKEN-{user}, picks short and direct replies every time."
    return json.dumps({"reasoning": "scripted: A it is", "preferred": "A"})


def profile(user: str, **prefs: int) -> SurveyProfile:
    """A survey whose stated priorities differ from user to user (so a rating compared with
    the wrong user's survey shows)."""
    shift = sum(map(ord, user))
    stated = {k: prefs.get(k, 1 + (shift * (i + 5) + 7 * i) % 100)
              for i, k in enumerate(STATED_PREF_ATTRIBUTES)}
    return SurveyProfile(user, stated_prefs=stated, self_description=f"I am TOKEN-{user}.")


@pytest.fixture
def study(make_client):
    client, server = make_client(responder)
    users = [make_user(u, 2, 1, 1) for u in ("ua", "ub", "uc", "ud")] + \
        [make_user("nosurvey", 2, 1, 1)]
    surveys = {u: profile(u) for u in ("ua", "ub", "uc", "ud", "sx", "sy")}
    design = AlignmentDesign(n_shuffles=2, seed=1)
    return alignment.run_alignment(users, surveys, client, CONFIG, design, max_workers=1), \
        server, surveys


def test_every_condition_asks_both_orders_about_the_same_distractor(study):
    results, _, _ = study
    judged = results.judgments
    part = results.participants.set_index("user_id")
    assert not part.at["nosurvey", "in study"]
    assert part.at["nosurvey", "left out because"] == "no survey profile with the chosen sections"
    assert set(judged["user_id"]) == {"ua", "ub", "uc", "ud"}
    for (_, _, user), group in judged.groupby(["condition", "draw", "user_id"]):
        assert sorted(group["order"]) == ["chosen_first", "rejected_first"]
        assert group["distractor"].nunique() == 1
        assert group["distractor"].iloc[0] == part.at[user, "distractor"] != user
    shuffled = judged[judged["condition"] == alignment.SHUFFLED]
    assert sorted(shuffled["draw"].unique()) == [0, 1]
    assert (shuffled["persona_of"] != shuffled["user_id"]).all()
    assert (shuffled["persona_of"] != shuffled["distractor"]).all()
    own = judged[judged["condition"] == alignment.OWN]
    assert (own["persona_of"] == own["user_id"]).all()


def test_a_persona_that_names_its_author_is_matched_and_a_shuffled_one_is_chance(study):
    results, _, _ = study
    acc = alignment.matching_accuracy(results.judgments, n_resamples=200).set_index("condition")
    assert acc.at[alignment.OWN, "accuracy"] == 100
    assert acc.at[alignment.UNVERIFIED, "accuracy"] == 100
    # a shuffled persona names neither person, the judge says A: right in one order of two
    assert acc.at[alignment.SHUFFLED, "accuracy"] == 50
    own = alignment.per_user_outcome(results.judgments, alignment.OWN)
    shuffled = alignment.per_user_outcome(results.judgments, alignment.SHUFFLED)
    test = alignment.compare_conditions(own, shuffled, alignment.OWN, alignment.SHUFFLED)
    assert test.difference == pytest.approx(50) and test.n_users == 4
    assert test.pvalue == pytest.approx(2 / 16)  # exact: all 4 users positive, two-sided


@pytest.mark.parametrize(("picks", "shown"), [("judge", "Rejected reply for uz-t0"),
                                              ("user", "Chosen reply for uz-t0")])
def test_the_unverified_persona_is_written_from_the_judges_picks_not_the_users(
        make_client, tmp_path, picks, shown):
    client, server = make_client(responder, cache=tmp_path / f"{picks}.sqlite")
    # flip=False shows the rejected reply first: the always-A judge then picks it
    user = UserSplit("uz", (pref("uz", "uz-t0", "train", flip=False),
                            pref("uz", "uz-t1", "train", flip=True)), (), ())
    traced = alignment.unverified_traces(user, client, CONFIG)
    result = alignment.unverified_persona(traced, client, CONFIG, picks)
    assert result.persona and "TOKEN-uz" in result.persona
    prompts = [user_text(r.body) for r in server.requests
               if "Reply they picked" in user_text(r.body)]
    assert len(prompts) == 1
    example = prompts[0].split("### Choice 1", 1)[1].split("### Choice 2", 1)[0]
    picked = example.split("Reply they picked", 1)[1].split("Reply they passed over", 1)[0]
    assert shown in picked
    assert "scripted: A it is" in example  # the judge's own reasoning, unchecked


def test_shuffled_ratings_reuse_the_owners_ratings_against_the_users_own_survey(study):
    results, _, surveys = study
    ratings = results.ratings
    own = ratings[ratings["condition"] == alignment.OWN].set_index(["user_id", "attribute"])
    shuffled = ratings[ratings["condition"] == alignment.SHUFFLED]
    assert len(shuffled) == 2 * 4 * 8
    for row in shuffled.itertuples():
        assert row.rated == own.at[(row.persona_of, row.attribute), "rated"]
        assert row.stated == surveys[row.user_id].stated_prefs[row.attribute]
    # the surveys differ, so the pairing above is tested: the owner's survey would not match
    assert any(surveys[r.user_id].stated_prefs[r.attribute]
               != surveys[r.persona_of].stated_prefs[r.attribute] for r in shuffled.itertuples())
    own_rows = ratings[ratings["condition"] == alignment.OWN]
    assert own_rows.groupby("user_id")["stated"].apply(tuple).nunique() == 4


def _matching_frame():
    """Two users: ua always matched (6 questions), ub never (2). Shuffled-persona rows carry
    the other user's persona (persona_of) and the opposite outcome."""
    rows = []
    for user, other, n, right in (("ua", "ub", 3, True), ("ub", "ua", 1, False)):
        for draw in range(n):
            for order in ("chosen_first", "rejected_first"):
                rows.append({"condition": alignment.OWN, "draw": draw, "user_id": user,
                             "persona_of": user, "order": order, "correct": right})
                rows.append({"condition": alignment.SHUFFLED, "draw": draw, "user_id": user,
                             "persona_of": other, "order": order, "correct": not right})
    return pd.DataFrame(rows)


def test_matching_accuracy_interval_resamples_users_not_questions():
    frame = _matching_frame()
    acc = alignment.matching_accuracy(frame, n_resamples=400, seed=3).set_index("condition")
    own = acc.loc[alignment.OWN]
    assert own["accuracy"] == pytest.approx(75.0) and own["n_users"] == 2
    # users are all-right or all-wrong: resampled users give 0, 75 or 100 only
    assert (own["ci_low"], own["ci_high"]) == (0.0, 100.0)
    from persona_judge.evaluation.stats import bootstrap_ci
    per_question = bootstrap_ci(frame[frame["condition"] == alignment.OWN]["correct"]
                                .to_numpy(float), n_resamples=400, seed=3)
    assert per_question[0] > 0.0  # a bootstrap over questions would be narrower


def test_per_user_outcomes_are_keyed_by_the_judged_user_not_the_personas_owner():
    frame = _matching_frame()
    shuffled = alignment.per_user_outcome(frame, alignment.SHUFFLED)
    # ua judged with ub's persona: wrong every time; ub with ua's: right every time
    assert shuffled.to_dict() == {"ua": 0.0, "ub": 1.0}
    own = alignment.per_user_outcome(frame, alignment.OWN)
    test = alignment.compare_conditions(own, shuffled, alignment.OWN, alignment.SHUFFLED)
    assert test.difference == pytest.approx(0.0)  # (+100 − 100) / 2
    assert test.n_users == 2 and test.n_differing == 2


def test_a_comparison_with_one_user_is_not_testable_and_says_so():
    own = pd.Series({"ua": 1.0, "ub": 0.5})
    shuffled = pd.Series({"ua": 0.0, "uc": 0.5})  # only ua in both
    test = alignment.compare_conditions(own, shuffled, alignment.OWN, alignment.SHUFFLED)
    assert test.n_users == 1 and math.isnan(test.pvalue)
    assert test.note == "not testable (1 unit)" and test.difference == pytest.approx(100.0)
    none = alignment.compare_conditions(own, pd.Series({"ux": 1.0}), "a", "b")
    assert none.n_users == 0 and none.note.startswith("not testable")


def test_match_request_puts_the_own_profile_in_the_slot_the_order_names():
    first = user_text({"messages": list(alignment.match_request(
        "persona text", "OWN PROFILE", "OTHER PROFILE", "chosen_first").messages)})
    second = user_text({"messages": list(alignment.match_request(
        "persona text", "OWN PROFILE", "OTHER PROFILE", "rejected_first").messages)})
    assert first.index("OWN PROFILE") < first.index("## Person B") < first.index("OTHER")
    assert second.index("OTHER PROFILE") < second.index("## Person B") < second.index("OWN")
    assert alignment.match_request("p", "a", "b", "chosen_first").template == \
        "persona_survey_match@v1"


@pytest.mark.parametrize(("text", "ok", "problem"), [
    (json.dumps({k: 50 for k in STATED_PREF_ATTRIBUTES}), True, ""),
    ("Sure!\n```json\n" + json.dumps({k.upper(): 70 for k in STATED_PREF_ATTRIBUTES})
     + "\n```", True, ""),
    (json.dumps({k: "70" for k in STATED_PREF_ATTRIBUTES}), True, ""),
    (json.dumps({k: 50.0 for k in STATED_PREF_ATTRIBUTES}), True, ""),
    (json.dumps({k: 50.5 for k in STATED_PREF_ATTRIBUTES}), False, "50.5"),
    (json.dumps({**{k: 50 for k in STATED_PREF_ATTRIBUTES}, "safety": 0}), False, "safety"),
    (json.dumps({**{k: 50 for k in STATED_PREF_ATTRIBUTES}, "values": True}), False, "values"),
    (json.dumps({k: 50 for k in STATED_PREF_ATTRIBUTES[1:]}), False, "no rating for values"),
    ("They care about facts.", False, "no JSON object"),
    ("{not json}", False, "does not parse"),
])
def test_parse_ratings(text, ok, problem):
    ratings, why = alignment.parse_ratings(text)
    assert (ratings is not None) == ok
    assert problem in why
    if ok:
        assert set(ratings) == set(STATED_PREF_ATTRIBUTES)


def test_rate_personas_asks_again_once_at_a_higher_temperature(make_client):
    client, server = make_client(responder)
    out = alignment.rate_personas({"a": "TOKEN-a STUBBORN", "b": "TOKEN-b HOPELESS",
                                   "c": "TOKEN-c"}, client, kind="test")
    assert out["c"].ratings == _ratings_for("TOKEN-c") and out["c"].samples == 1
    assert out["a"].ratings == _ratings_for("TOKEN-a") and out["a"].samples == 2
    assert out["b"].ratings is None and out["b"].samples == 2
    assert out["b"].problem.count("no JSON object") == 2
    retries = [r.body for r in server.requests if r.body.get("temperature", 0) > 0]
    assert len(retries) == 2 and all(r["temperature"] == 0.7 for r in retries)
    assert all(r.get("seed") == 1 for r in retries)  # sample index 1: a new draw, cached apart


def test_rank_agreement_is_scipys_spearman_over_the_answered_qualities():
    rated = dict(zip(STATED_PREF_ATTRIBUTES, [10, 80, 30, 30, 90, 5, 60, 40], strict=True))
    stated = dict(zip(STATED_PREF_ATTRIBUTES, [20, 70, 50, None, 100, 1, 40, None],
                      strict=True))
    keys = [k for k in STATED_PREF_ATTRIBUTES if stated[k] is not None]
    expected = sps.spearmanr([rated[k] for k in keys], [stated[k] for k in keys]).statistic
    assert alignment.rank_agreement(rated, stated) == pytest.approx(expected)
    two = {k: (v if k in ("values", "creativity") else None) for k, v in stated.items()}
    assert math.isnan(alignment.rank_agreement(rated, two))  # fewer than three answered
    assert math.isnan(alignment.rank_agreement({k: 50 for k in rated}, stated))  # constant


def test_spearman_with_ci_matches_scipy_and_a_plain_bootstrap_loop():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 100, 25).astype(float)
    y = x + rng.normal(0, 30, 25)
    rho, low, high, p = alignment.spearman_with_ci(x, y, n_resamples=400, seed=9)
    reference = sps.spearmanr(x, y)
    assert (rho, p) == pytest.approx((reference.statistic, reference.pvalue))
    draws = np.random.default_rng(9).integers(0, 25, (400, 25))
    rhos = [sps.spearmanr(x[i], y[i]).statistic for i in draws]
    rhos = [r for r in rhos if not math.isnan(r)]
    assert (low, high) == pytest.approx(tuple(np.quantile(rhos, [0.025, 0.975])))
    assert alignment.spearman_with_ci([1, 2, 3, 4], [2, 4, 6, 8], n_resamples=50)[1:3] == \
        pytest.approx((1.0, 1.0))
    assert all(math.isnan(v) for v in alignment.spearman_with_ci([1, 2], [3, 4]))


def test_attribute_agreement_adjusts_each_condition_over_its_qualities_with_holm():
    rng = np.random.default_rng(2)
    rows = []
    for u in range(12):
        for a in STATED_PREF_ATTRIBUTES:
            stated = int(rng.integers(1, 101))
            rows.append({"condition": alignment.OWN, "draw": 0, "user_id": f"u{u}",
                         "persona_of": f"u{u}", "attribute": a,
                         "rated": stated + int(rng.integers(-20, 20)), "stated": stated})
    table = alignment.attribute_agreement(pd.DataFrame(rows), conditions=(alignment.OWN,),
                                          n_resamples=100)
    assert list(table["attribute"]) == list(STATED_PREF_ATTRIBUTES)
    assert list(table["p (Holm)"]) == pytest.approx(
        list(multipletests(table["p"], method="holm")[1]))
    one = pd.DataFrame(rows)[lambda f: f["attribute"] == "safety"]
    assert table.set_index("attribute").at["safety", "rho"] == pytest.approx(
        sps.spearmanr(one["rated"], one["stated"]).statistic)


def test_shuffled_assignments_never_give_own_or_distractor_personas():
    users = [f"u{i}" for i in range(6)]
    distractors = {"u0": "u1", "u1": "u0", "u2": "x", "u3": "u4", "u4": "u5", "u5": "u3"}
    for draw in range(5):
        owner = alignment.shuffle_personas(users, distractors, seed=0, draw=draw)
        assert sorted(owner.values()) == users  # a permutation: each persona used once
        assert all(owner[u] not in (u, distractors[u]) for u in users)
        assert owner == alignment.shuffle_personas(users, distractors, seed=0, draw=draw)
    assert alignment.shuffle_personas(users, distractors, 0, 0) != \
        alignment.shuffle_personas(users, distractors, 0, 1)
    # three users whose distractors block every cycle: independent draws, same guarantees
    tight = {"a": "b", "b": "c", "c": "a"}
    owner = alignment.shuffle_personas(["a", "b", "c"], tight, seed=0, draw=0)
    assert all(owner[u] not in (u, tight[u]) for u in tight)
    with pytest.raises(SettingsError, match="at least 3"):
        alignment.shuffle_personas(["a", "b"], {}, 0, 0)


def test_distractors_are_other_participants_and_do_not_move_when_users_are_added():
    pool = [f"p{i}" for i in range(30)]
    few = alignment.draw_distractors(["p1", "p2"], pool, seed=4)
    more = alignment.draw_distractors(["p1", "p2", "p3"], pool, seed=4)
    assert few == {k: more[k] for k in few}
    assert all(v != k for k, v in more.items())
    with pytest.raises(SettingsError):
        alignment.draw_distractors(["only"], ["only"], seed=0)


def test_profiles_without_the_chosen_sections_are_not_usable():
    surveys = {"a": SurveyProfile("a", self_description="hi"), "b": SurveyProfile("b")}
    assert list(alignment.usable_profiles(surveys, ("self_description",))) == ["a"]
    with pytest.raises(SettingsError):
        AlignmentDesign(profile_sections=("hobbies",))
    with pytest.raises(SettingsError):
        AlignmentDesign(unverified_picks="nobody")


def test_too_few_users_for_a_shuffle_is_a_settings_error_naming_the_count(make_client):
    client, _ = make_client(responder)
    users = [make_user(u, 2, 1, 1) for u in ("ua", "ub")]
    with pytest.raises(SettingsError, match="at least 3 users .* got 2 of 2"):
        alignment.run_alignment(users, {u: profile(u) for u in ("ua", "ub", "sx")}, client,
                                CONFIG, AlignmentDesign(), max_workers=1)


def test_persona_fits_reuse_a_full_fit_of_the_same_settings_from_the_cache(make_client):
    from dataclasses import replace

    from persona_judge.analyses.common import fit_cells
    from persona_judge.method.synthesizeme import fit_user

    client, server = make_client(responder)
    user = make_user("ua", 3, 1, 1)
    full = fit_user(user, client, CONFIG)  # chapter 05's fit
    seen = server.requests_seen
    persona_only = fit_cells({"ua": user}, client, replace(CONFIG, components=("persona",)))
    assert server.requests_seen == seen  # steps 1-2 are the same requests
    assert persona_only["ua"].persona == full.persona
