"""Seeded, visibly synthetic copies of the raw sources, with their exact files and schemas.

Smoke runs and tests construct the benchmark from these instead of the Hub:

* **PRISM** (``survey.jsonl``, ``conversations.jsonl``, ``README.md``): survey rows
  for exactly ``user0`` .. ``user59`` (the benchmark fixture draws its PRISM users
  from these ids) in the released nested layout, with realistic gaps (unanswered
  sliders, "Prefer not to say", survey-only participants); conversations for
  most of them (usually six, some fewer), each a turn 0 of two to four rated
  candidate replies from different models (scores 1-100, the best-rated one
  ``if_chosen``, occasional equal scores) followed by zero to three A/B turns of
  the chosen model.
* **Chatbot Arena** (``data/train-00000-of-00001.parquet``, ``README.md``): votes
  with the release's exact columns and nested types, all four ``winner`` values,
  multi-turn conversations, a few heavy voters and many light ones, non-English
  rows, moderation and toxicity flags.

Every text says ``[synthetic ...]``. Each synthetic person has a hidden taste
(shorter or longer replies) that drives their scores and votes, so a smoke run's
stand-in judge has something to learn. Two markers steer the construction
responder (:mod:`persona_judge.construction.smoke`) so that each filter removes
something: a prompt marked ``[synthetic factual question]`` leaves no room for
taste, and a reply marked ``[synthetic clearly worse reply]`` is one any judge
rejects. Nothing computed from these files is a finding.

``prism_survey_rows(layout="qualtrics")`` also writes the survey as the flat
109-column table of ``survey_question_mapping.json`` (the Qualtrics export the
release was derived from); the readers accept both layouts.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from persona_judge.data.raw_prism import STATED_PREF_ATTRIBUTES

FIXTURE_SEED = 0
N_SURVEY_USERS = 60
FACTUAL_MARK = "[synthetic factual question]"
WORSE_MARK = "[synthetic clearly worse reply]"

# -- PRISM ------------------------------------------------------------------------------------
_PRISM_MODELS = (  # (model_name, model_provider) as in PRISM's model registry
    ("claude-2", "anthropic"), ("claude-instant-1", "anthropic"), ("command", "cohere"),
    ("command-light", "cohere"), ("gpt-3.5-turbo", "openai"), ("gpt-4", "openai"),
    ("gpt-4-1106-preview", "openai"), ("HuggingFaceH4/zephyr-7b-beta", "huggingface_api"),
    ("luminous-extended-control", "aleph_alpha"), ("meta-llama/Llama-2-70b-chat-hf",
                                                   "huggingface_api"),
    ("mistralai/Mistral-7B-Instruct-v0.1", "huggingface_api"),
    ("models/chat-bison-001", "google"), ("tiiuae/falcon-7b-instruct", "huggingface_api"),
)
_CONVERSATION_TYPES = ("unguided", "values guided", "controversy guided")
_TOPICS = (
    "raising teenagers", "working from home", "eating less meat", "learning to paint",
    "moving to a new city", "saving for retirement", "volunteering", "caring for a parent",
    "choosing a university", "religion at school", "social media and friendship",
    "public transport", "keeping bees", "starting to run", "arguing about politics at dinner",
)
_FACTUAL = ("the boiling point of water at altitude", "how many bones an adult has",
            "the capital of Australia", "what year the first moon landing was")
_PERF_KEYS = ("values", "fluency", "factuality", "safety", "diversity", "creativity",
              "helpfulness")

_AGES = ("18-24 years old", "25-34 years old", "35-44 years old", "45-54 years old",
         "55-64 years old", "65+ years old", "Prefer not to say")
_GENDERS = ("Male", "Female", "Non-binary / third gender", "Prefer not to say")
_EMPLOYMENT = ("Working full-time", "Working part-time", "Student", "Retired",
               "Unemployed, seeking work", "Homemaker / Stay-at-home parent", "Prefer not to say")
_EDUCATION = ("University Bachelors Degree", "Graduate / Professional degree",
              "Completed Secondary School", "Some University but no degree", "Vocational",
              "Prefer not to say")
_MARITAL = ("Never been married", "Married", "Divorced / Separated", "Widowed",
            "Prefer not to say")
_ENGLISH = ("Native speaker", "Fluent", "Advanced", "Intermediate", "Basic")
_RELIGIONS = (("christian", "Christian", "Christian"), ("no religion", "Non-religious",
                                                          "No Affiliation"),
              ("muslim", "Muslim", "Muslim"), ("jewish", "Jewish", "Jewish"),
              ("spiritual but not religious", "Spiritual", "Other"))
_ETHNICITIES = (("white", "White", "White"), ("black", "Black / African", "Black"),
                ("hispanic", "Hispanic / Latino", "Hispanic"), ("asian", "Asian", "Asian"),
                ("mixed", "Mixed", "Mixed"))
_COUNTRIES = (("United States", "USA", "Americas", "Northern America", "US"),
              ("United Kingdom", "GBR", "Europe", "Northern Europe", "UK"),
              ("Mexico", "MEX", "Americas", "Latin America and the Caribbean",
               "Latin America and the Caribbean"),
              ("South Africa", "ZAF", "Africa", "Sub-Saharan Africa", "Africa"),
              ("Australia", "AUS", "Oceania", "Australia and New Zealand",
               "Australia and New Zealand"))
_USECASES = ("homework_assistance", "research", "source_suggestions", "professional_work",
             "creative_writing", "casual_conversation", "personal_recommendations",
             "daily_productivity", "technical_or_programming_help", "travel_guidance",
             "lifestyle_and_hobbies", "well-being_guidance", "medical_guidance",
             "financial_guidance", "games", "historical_or_news_insight",
             "relationship_advice", "language_learning")


_SHORT_TIPS = ("pick one small step and start today.", "keep it simple and ask a friend.",
               "try it for a week, then decide.", "write down what matters most to you.",
               "start small; adjust as you go.", "trust your own judgement here.",
               "look at what worked for others.", "set one clear goal first.")
_LONG_STEPS = ("First, think about what you want to get out of it and who else it affects.",
               "Second, look at the options side by side, with their costs and benefits.",
               "It also helps to read what people who tried it say about it.",
               "Third, talk it through with someone you trust before you decide.",
               "Keep notes as you go, so you can see what changes.",
               "Finally, revisit the choice after a few weeks and adjust.")


def _reply(rng: random.Random, topic: str, long: bool, worse: bool = False) -> str:
    if worse:
        return f"{WORSE_MARK} {topic}? no idea, look it up yourself."
    if long:
        steps = rng.sample(_LONG_STEPS, rng.randint(3, 5))
        return " ".join([f"[synthetic long reply] On {topic}, there is a lot to weigh.", *steps])
    return f"[synthetic short reply] On {topic}: {rng.choice(_SHORT_TIPS)}"


def _survey_row(index: int, rng: random.Random) -> dict[str, Any]:
    survey_only = index % 13 == 7  # a few participants never reached the conversations
    country = rng.choice(_COUNTRIES)
    birth = country if rng.random() < 0.8 else rng.choice(_COUNTRIES)
    religion = rng.choice(_RELIGIONS)
    ethnicity = rng.choice(_ETHNICITIES)
    prefs: dict[str, Any] = {k: rng.randint(1, 100) for k in STATED_PREF_ATTRIBUTES}
    if index % 9 == 4:  # unanswered sliders
        prefs["diversity"] = None
        prefs["personalisation"] = None
    prefs["other"] = rng.randint(1, 100) if index % 17 == 3 else None
    prefs["other_text"] = "[synthetic] it admits when it does not know" if prefs["other"] \
        else None
    order = list(range(1, 10))
    rng.shuffle(order)
    order_prefs = dict(zip([*STATED_PREF_ATTRIBUTES, "other"], order, strict=True))
    usecases: dict[str, Any] = {k: rng.random() < 0.3 for k in _USECASES}
    usecases["other"] = False
    usecases["other_text"] = None
    use_order = list(range(1, len(_USECASES) + 2))
    rng.shuffle(use_order)
    order_usecases = dict(zip([*_USECASES, "other"], use_order, strict=True))
    ethnicity_value = {"self_described": ethnicity[0], "categorised": ethnicity[1],
                       "simplified": ethnicity[2]}
    if index % 11 == 5:
        ethnicity_value = {"self_described": "prefer not to say",
                           "categorised": "Prefer not to say", "simplified": "Prefer not to say"}
    duration = round(rng.uniform(300, 1500), 1)
    n_conversations = 0 if survey_only else _n_conversations(index)
    return {
        "user_id": f"user{index}",
        "survey_only": survey_only,
        "num_completed_conversations": n_conversations,
        "consent": "Yes, I consent to take part",
        "consent_age": "I certify that I am 18 years of age or over",
        "lm_familiarity": rng.choice(("Very familiar", "Somewhat familiar",
                                      "Not familiar at all")),
        "lm_indirect_use": rng.choice(("Yes", "No", "Unsure")),
        "lm_direct_use": rng.choice(("Yes", "No", "Unsure")),
        "lm_frequency_use": rng.choice(("Every day", "Every week", "Every month",
                                        "Less than once every year")),
        "self_description": None if index % 19 == 8 else (
            f"[synthetic self-description {index}] I value honesty and "
            f"{rng.choice(('family', 'hard work', 'curiosity', 'fairness'))}."),
        "system_string": f"[synthetic system string {index}] Be "
                         f"{rng.choice(('brief and direct', 'thorough and careful'))}.",
        "age": rng.choice(_AGES),
        "gender": rng.choice(_GENDERS),
        "employment_status": rng.choice(_EMPLOYMENT),
        "education": rng.choice(_EDUCATION),
        "marital_status": rng.choice(_MARITAL),
        "english_proficiency": rng.choice(_ENGLISH),
        "study_id": f"synthetic-study-{index % 3}",
        "study_locale": country[4].lower() if country[4] in ("US", "UK") else "rest",
        "religion": {"self_described": religion[0], "categorised": religion[1],
                     "simplified": religion[2]},
        "ethnicity": ethnicity_value,
        "location": {
            "birth_country": birth[0], "birth_countryISO": birth[1], "birth_region": birth[2],
            "birth_subregion": birth[3], "reside_country": country[0],
            "reside_region": country[2], "reside_subregion": country[3],
            "reside_countryISO": country[1],
            "same_birth_reside_country": "Yes" if birth == country else "No",
            "special_region": birth[4]},
        "lm_usecases": usecases,
        "stated_prefs": prefs,
        "order_lm_usecases": order_usecases,
        "order_stated_prefs": order_prefs,
        "generated_datetime": f"2023-11-{22 + index % 7:02d} {10 + index % 12:02d}:00:00",
        "timing_duration_s": duration,
        "timing_duration_mins": round(duration / 60, 2),
        "included_in_US_REP": country[4] == "US" and index % 2 == 0,
        "included_in_UK_REP": country[4] == "UK" and index % 2 == 0,
        "included_in_balanced_subset": not survey_only and n_conversations == 6,
    }


def _n_conversations(index: int) -> int:
    # Most PRISM participants had six conversations; a few stopped early.
    return (6, 6, 6, 6, 6, 3, 6, 2, 6, 5, 1, 6)[index % 12]


#: The flat survey columns (``survey_question_mapping.json``): the Qualtrics export.
QUALTRICS_COLUMNS: tuple[str, ...] = (
    "meta_start_date", "meta_end_date", "meta_status", "meta_ip_address", "meta_progress",
    "timing_duration_s", "meta_finished", "meta_recorded_date", "meta_response_id",
    "meta_location_latitude", "meta_location_longitude", "meta_user_language", "consent",
    "timing_consent_first_click", "timing_consent_last_click", "timing_consent_page_submit",
    "timing_consent_click_count", "consent_age", "lm_familiarity", "lm_indirect_use",
    "lm_direct_use", "lm_frequency_use",
    *(f"lm_usecases:{k}" for k in (*_USECASES, "other", "other_text")),
    *(f"order_lm_usecases:{k}" for k in (*_USECASES, "other")),
    "self_description",
    *(f"stated_prefs:{k}" for k in (*STATED_PREF_ATTRIBUTES, "other", "other_text")),
    *(f"order_stated_prefs:{k}" for k in (*STATED_PREF_ATTRIBUTES, "other")),
    "system_string", "timing_main_first_click", "timing_main_last_click",
    "timing_main_page_submit", "timing_main_click_count", "age", "gender", "gender_4_text",
    "employment_status", "marital_status", "education", "reside_country", "birth_country",
    "ethnicity", "ethnicity_1_text", "religion", "religion_1_text", "english_proficiency",
    "meta_browser", "meta_version", "meta_operating_system", "meta_resolution",
    "timing_demographics_first_click", "timing_demographics_last_click",
    "timing_demographics_page_submit", "timing_demographics_click_count", "user_id", "status",
)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A released survey row in the flat Qualtrics layout (109 columns)."""
    out: dict[str, Any] = {}
    for column in QUALTRICS_COLUMNS:
        if ":" in column:
            group, key = column.split(":", 1)
            out[column] = row[group].get(key)
        elif column in ("reside_country", "birth_country"):
            out[column] = row["location"][column]
        elif column in ("ethnicity", "religion"):
            out[column] = row[column]["self_described"]
        elif column in row:
            out[column] = row[column]
        elif column.startswith("timing_"):
            out[column] = 3 if column.endswith("click_count") else 12.5
        elif column.endswith("_text"):
            out[column] = None
        else:
            out[column] = f"[synthetic {column}]"
    return out


def prism_survey_rows(seed: int = FIXTURE_SEED, layout: str = "released") -> list[dict[str, Any]]:
    """Survey rows for ``user0`` .. ``user59``: the release's nested layout or ``qualtrics``."""
    rows = [_survey_row(i, random.Random(f"prism-survey:{seed}:{i}"))
            for i in range(N_SURVEY_USERS)]
    if layout == "released":
        return rows
    if layout == "qualtrics":
        return [_flat(r) for r in rows]
    raise ValueError(f"layout must be 'released' or 'qualtrics', got {layout!r}")


def _model_entry(turn: int, content: str, model: tuple[str, str], score: int, chosen: bool,
                 within: int) -> dict[str, Any]:
    return {"turn": turn, "role": "model", "content": content, "model_provider": model[1],
            "model_name": model[0], "score": score, "if_chosen": chosen, "within_turn_id": within}


def _conversation(cid: int, user: int, k: int, seed: int) -> dict[str, Any]:
    rng = random.Random(f"prism-conversation:{seed}:{cid}")
    likes_long = user % 2 == 0  # the person's hidden taste
    factual = cid % 9 == 4
    topic = rng.choice(_FACTUAL if factual else _TOPICS)
    opening = (f"{FACTUAL_MARK} What is {topic}?" if factual
               else f"[synthetic opening prompt] What do you think about {topic}?")
    history: list[dict[str, Any]] = [{"turn": 0, "role": "user", "content": opening}]
    n_candidates = rng.choice((4, 4, 4, 4, 3, 2))
    models = rng.sample(_PRISM_MODELS, n_candidates)
    candidates = []
    for j, model in enumerate(models):
        long = rng.random() < 0.5
        worse = rng.random() < 0.12
        base = 70 if long == likes_long else 40
        score = max(1, min(100, base + rng.randint(-25, 25) - (30 if worse else 0)))
        text = _reply(rng, topic, long, worse)
        if rng.random() < 0.03:
            text = "EMPTY STRING"  # how the release writes a reply that came back empty
        candidates.append([model, text, score, j])
    if cid % 7 == 2 and n_candidates > 1:  # equal scores happen
        candidates[1][2] = candidates[0][2]
    best = max(range(n_candidates), key=lambda j: (candidates[j][2], -j))
    for j, (model, text, score, within) in enumerate(candidates):
        history.append(_model_entry(0, text, model, score, j == best, within))
    chosen_model = candidates[best][0]
    extra_turns = rng.choice((0, 0, 1, 1, 2, 3))
    for turn in range(1, extra_turns + 1):
        history.append({"turn": turn, "role": "user",
                        "content": f"[synthetic follow-up {turn}] Could you say more about "
                                   f"{topic}?"})
        texts = [_reply(rng, topic, long=bool(j)) for j in (0, 1)]
        scores = [(70 if bool(j) == likes_long else 40) + rng.randint(-20, 20) for j in (0, 1)]
        if turn == 2 and cid % 5 == 0:
            scores[1] = scores[0]
        pick = 0 if scores[0] >= scores[1] else 1
        for j in (0, 1):
            history.append(_model_entry(turn, texts[j], chosen_model, scores[j], j == pick, j))
    num_turns = extra_turns + 1
    duration = round(rng.uniform(60, 900), 2)
    perf = {key: rng.randint(1, 100) for key in _PERF_KEYS}
    choice = {key: (rng.randint(1, 100) if rng.random() < 0.8 else None) for key in _PERF_KEYS}
    return {
        "conversation_id": f"c{cid}",
        "user_id": f"user{user}",
        "included_in_balanced_subset": k < 6,
        "generated_datetime": f"2023-11-{22 + cid % 7:02d} {9 + cid % 13:02d}:{cid % 60:02d}:00",
        "timing_duration_s": duration,
        "timing_duration_mins": round(duration / 60, 2),
        "conversation_type": _CONVERSATION_TYPES[k % 3],
        "opening_prompt": opening,
        "conversation_turns": num_turns,
        "conversation_history": history,
        "performance_attributes": perf,
        "choice_attributes": choice,
        "open_feedback": f"[synthetic feedback on conversation c{cid}]",
    }


def prism_conversation_rows(seed: int = FIXTURE_SEED) -> list[dict[str, Any]]:
    """Conversation rows for the survey users who took part (ids ``c0``, ``c1``, ...)."""
    rows = []
    for survey in prism_survey_rows(seed):
        user = int(survey["user_id"][4:])
        for k in range(survey["num_completed_conversations"]):
            rows.append(_conversation(len(rows), user, k, seed))
    return rows


_PRISM_CARD = """---
license: cc
pretty_name: SYNTHETIC fixture of HannahRoseKirk/prism-alignment
configs:
- config_name: survey
  data_files: "survey.jsonl"
- config_name: conversations
  data_files: "conversations.jsonl"
---

# SYNTHETIC FIXTURE -- not the real PRISM alignment dataset

Generated by `persona_judge.data.raw_fixtures` (seed {seed}) for tests and smoke runs: the
survey and conversation files with PRISM's schema, every text synthetic.
"""


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_prism_fixture(folder: Path, seed: int = FIXTURE_SEED) -> str:
    """Write the PRISM fixture files into ``folder``; return a one-line description."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _write_jsonl(folder / "survey.jsonl", prism_survey_rows(seed))
    _write_jsonl(folder / "conversations.jsonl", prism_conversation_rows(seed))
    (folder / "README.md").write_text(_PRISM_CARD.format(seed=seed))
    return fixture_description("prism", seed)


# -- Chatbot Arena -------------------------------------------------------------------------------
_ARENA_MODELS = ("vicuna-13b", "koala-13b", "alpaca-13b", "chatglm-6b", "oasst-pythia-12b",
                 "gpt-3.5-turbo", "gpt-4", "claude-v1", "claude-instant-v1", "palm-2",
                 "mpt-7b-chat", "RWKV-4-Raven-14B", "fastchat-t5-3b", "dolly-v2-12b")
_MODERATION = ("harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
               "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors",
               "violence", "violence/graphic")
_LANGUAGES = ("English",) * 17 + ("Spanish", "German", "Chinese")
# Voters: a few with many votes (they become benchmark users), many with one to three.
_VOTES_PER_VOTER = (48, 44, 40, 36, 32, 28, 24, 16, 12, 9, 6, 5) + (3,) * 10 + (2,) * 12 + \
                   (1,) * 16


def _arena_schema():
    import pyarrow as pa

    message = pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))
    return pa.schema([
        ("question_id", pa.string()), ("model_a", pa.string()), ("model_b", pa.string()),
        ("winner", pa.string()), ("judge", pa.string()), ("conversation_a", message),
        ("conversation_b", message), ("turn", pa.int64()), ("anony", pa.bool_()),
        ("language", pa.string()), ("tstamp", pa.float64()),
        ("openai_moderation", pa.struct([
            ("categories", pa.struct([(k, pa.bool_()) for k in _MODERATION])),
            ("category_scores", pa.struct([(k, pa.float64()) for k in _MODERATION])),
            ("flagged", pa.bool_())])),
        ("toxic_chat_tag", pa.struct([
            ("roberta-large", pa.struct([("flagged", pa.bool_()),
                                         ("probability", pa.float64())])),
            ("t5-large", pa.struct([("flagged", pa.bool_()), ("score", pa.float64())]))])),
    ])


def arena_vote_rows(seed: int = FIXTURE_SEED) -> list[dict[str, Any]]:
    """Vote rows with the release's columns, deterministic in ``seed``."""
    rng = random.Random(f"arena:{seed}")
    rows: list[dict[str, Any]] = []
    for voter, n_votes in enumerate(_VOTES_PER_VOTER):
        likes_long = voter % 2 == 1
        for _ in range(n_votes):
            n = len(rows)
            topic = rng.choice(_FACTUAL if n % 11 == 3 else _TOPICS)
            prompt = (f"{FACTUAL_MARK} What is {topic}?" if n % 11 == 3
                      else f"[synthetic arena prompt] Tell me about {topic}.")
            turns = rng.choice((1, 1, 1, 1, 1, 2, 3))
            a_long, b_long = rng.random() < 0.5, rng.random() < 0.5
            worse = rng.choice(("a", "b")) if rng.random() < 0.1 else ""
            conv: dict[str, list[dict[str, str]]] = {"a": [], "b": []}
            for t in range(turns):
                question = prompt if t == 0 else f"[synthetic follow-up {t}] And then?"
                for side, long in (("a", a_long), ("b", b_long)):
                    conv[side].append({"content": question, "role": "user"})
                    conv[side].append({"content": _reply(rng, topic, long, worse == side),
                                       "role": "assistant"})
            if worse:
                winner = "model_b" if worse == "a" else "model_a"
            elif a_long == b_long:
                winner = rng.choice(("tie", "tie (bothbad)", "model_a", "model_b"))
            else:
                winner = "model_a" if a_long == likes_long else "model_b"
                if rng.random() < 0.15:
                    winner = "model_b" if winner == "model_a" else "model_a"
            flagged = rng.random() < 0.06
            scores = {k: round(rng.random() * (0.9 if flagged else 0.01), 6) for k in _MODERATION}
            toxic = rng.random() < 0.04
            model_a, model_b = rng.sample(_ARENA_MODELS, 2)
            rows.append({
                "question_id": hashlib.md5(f"{seed}:{n}".encode()).hexdigest(),
                "model_a": model_a, "model_b": model_b, "winner": winner,
                "judge": f"arena_user_{1000 + voter * 37}",
                "conversation_a": conv["a"], "conversation_b": conv["b"], "turn": turns,
                "anony": rng.random() < 0.9,
                "language": rng.choice(_LANGUAGES),
                "tstamp": 1682351591.0 + n * 977.5,
                "openai_moderation": {
                    "categories": {k: flagged and v > 0.5 for k, v in scores.items()},
                    "category_scores": scores, "flagged": flagged},
                "toxic_chat_tag": {
                    "roberta-large": {"flagged": toxic, "probability": 0.8 if toxic else 0.01},
                    "t5-large": {"flagged": toxic, "score": 0.7 if toxic else 0.02}},
            })
    return rows


_ARENA_CARD = """---
license: cc-by-nc-4.0
pretty_name: SYNTHETIC fixture of lmsys/chatbot_arena_conversations
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
---

# SYNTHETIC FIXTURE -- not the real Chatbot Arena conversations

Generated by `persona_judge.data.raw_fixtures` (seed {seed}) for tests and smoke runs: the
release's columns and nested types, every text synthetic.
"""


def write_arena_fixture(folder: Path, seed: int = FIXTURE_SEED) -> str:
    """Write the Chatbot Arena fixture files into ``folder``; return a one-line description."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(arena_vote_rows(seed), schema=_arena_schema())
    pq.write_table(table, folder / "data" / "train-00000-of-00001.parquet")
    (folder / "README.md").write_text(_ARENA_CARD.format(seed=seed))
    return fixture_description("chatbot_arena", seed)


FIXTURE_WRITERS = {"prism": write_prism_fixture, "chatbot_arena": write_arena_fixture}


def fixture_description(name: str, seed: int = FIXTURE_SEED) -> str:
    """``fixture (synthetic, seed 0, rows <fingerprint>)``: the fingerprint hashes every row
    the generator writes, so a copy written by other generator code is regenerated."""
    import hashlib

    if name == "prism":
        rows: list[Any] = [prism_survey_rows(seed), prism_conversation_rows(seed)]
    else:
        rows = [arena_vote_rows(seed)]
    blob = json.dumps(rows, sort_keys=True, default=str)
    fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return f"fixture (synthetic, seed {seed}, rows {fingerprint})"
