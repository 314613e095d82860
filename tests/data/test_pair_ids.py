"""End to end: a PRISM user with several pairs per conversation keeps every pair apart.

One PRISM conversation yields several preference pairs, so ``user/conversation``
is not an id. A PRISM-like user (``model`` roles, up to three pairs per
conversation in every split) is fitted with SynthesizeMe against the smoke
stand-in and evaluated; every trace, validation order, candidate score, demo and
judgment must belong to exactly one pair. The same run with the old ids
(``user_id/conversation_id``, what ``Preference.pair_id`` used to return) loses
pairs, and the check names how: that is what this test guards against.
"""

import json
from dataclasses import replace

import pytest

from persona_judge.data.records import Preference, UserSplit
from persona_judge.data.validation import validate_rows
from persona_judge.evaluation.predict import evaluate
from persona_judge.method.artifact import SynthesizeMeArtifact
from persona_judge.method.synthesizeme import SynthesizeMe, SynthesizeMeConfig
from persona_judge.study.notebook import smoke_llm

CONFIG = SynthesizeMeConfig(n_candidates=4, m_candidates=4, seed=0)
REJECTED = (
    "[synthetic detailed response] A thorough answer: background, options and trade-offs, a "
    "plan with weekly check-ins, then a review of what worked.",
    "[synthetic formal response] It is advisable to proceed methodically and to consult "
    "reliable sources first.",
    "[synthetic playful response] Ooh, a game: level one is curiosity, level two practice, "
    "the boss fight is consistency!",
)
# (conversation, split, pairs): every split holds a conversation with several pairs
CONVERSATIONS = [("c101", "train", 3), ("c102", "train", 2), ("c103", "train", 1),
                 ("c201", "val", 2), ("c202", "val", 1), ("c301", "test", 2), ("c302", "test", 1)]


def prism_user() -> UserSplit:
    """A PRISM-shaped user, built from raw rows as the loader reads them."""
    rows = []
    for conversation, split, n_pairs in CONVERSATIONS:
        context = [{"content": f"[synthetic user message] Advice on {conversation}?",
                    "role": "user"}]
        chosen = {"content": f"[synthetic brief response] {conversation}: start small.",
                  "role": "model"}
        for rejected in REJECTED[:n_pairs]:
            rows.append({"user_id": "user7", "conversation_id": conversation,
                         "context": context, "chosen": chosen,
                         "rejected": {"content": rejected, "role": "model"},
                         "split": split, "turns": 1, "type": "unguided", "flip": False})
    prefs = validate_rows(enumerate(rows, 1), "prism-like user").preferences
    by_split = {s: tuple(p for p in prefs if p.split == s) for s in ("train", "val", "test")}
    return UserSplit("user7", **by_split)


def with_old_ids(user: UserSplit) -> UserSplit:
    """The same user with the ids the old ``pair_id`` property gave: user/conversation."""
    def old(pref: Preference) -> Preference:
        return replace(pref, pair_id=f"{pref.user_id}/{pref.conversation_id}")

    return UserSplit(user.user_id, *(tuple(old(p) for p in getattr(user, s))
                                     for s in ("train", "val", "test")))


def pairs_lost(user: UserSplit, client) -> list[str]:
    """Fit and evaluate ``user``; name every place where a pair lost its own identity."""
    art = SynthesizeMe(CONFIG).fit(user, client)
    art = SynthesizeMeArtifact.from_dict(json.loads(json.dumps(art.to_dict())))  # as saved
    records = evaluate(SynthesizeMe(CONFIG), [user], client, {user.user_id: art})
    problems = []
    if len({t.pair_id for t in art.traces}) != len(user.train):
        problems.append("traces: a trace is shared by several training pairs")
    if len(art.val_orders) != len(user.val):
        problems.append("validation orders: fewer orders than validation pairs")
    for step, cands in (("bootstrap", art.bootstrap_candidates), ("demo", art.demo_candidates)):
        if any(c.status == "scored" and c.n_judged != len(user.val) for c in cands):
            problems.append(f"{step} search: a candidate was scored on fewer validation pairs")
    train = {p.pair_id: p for p in user.train}
    members = art.demo_candidates[art.demo_winner].members
    if len(art.demo_set) != len(members) or any(
            train.get(d.preference.pair_id) != d.preference for d in art.demo_set):
        problems.append("demos: a demo is not the training pair its id names")
    keys = {(r.pair_id, r.order) for r in records}
    if len(keys) != len(records) or {r.pair_id for r in records} != \
            {p.pair_id for p in user.test} or len(records) != 2 * len(user.test):
        problems.append("judgments: two test pairs share a (pair, order) key")
    return problems


@pytest.fixture(scope="module")
def client():
    with smoke_llm("smoke-judge") as smoke:
        yield smoke


def test_a_prism_user_keeps_every_pair_apart_from_fit_to_judgment(client):
    user = prism_user()
    assert len({(p.user_id, p.conversation_id) for p in user.train}) < len(user.train)
    assert len({p.pair_id for p in (*user.train, *user.val, *user.test)}) == 12
    assert pairs_lost(user, client) == []


def test_the_old_user_conversation_ids_lose_pairs(client):
    """The check above bites: with the old ids the same run loses pairs at every step."""
    problems = pairs_lost(with_old_ids(prism_user()), client)
    assert "traces: a trace is shared by several training pairs" in problems
    assert "validation orders: fewer orders than validation pairs" in problems
    assert "bootstrap search: a candidate was scored on fewer validation pairs" in problems
    assert "judgments: two test pairs share a (pair, order) key" in problems
