"""The construction end to end on the raw fixtures: stages, splits, the written dataset read
back through the benchmark loader, and the comparison with a published benchmark."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import ExitStack

import pyarrow.parquet as pq
import pytest

from persona_judge.construction.compare import (
    agreement_column_check,
    decision_agreement,
    funnel_table,
    match_published,
    overlap_table,
    recorded_consensus,
)
from persona_judge.construction.estimate import derive_pairs
from persona_judge.construction.filters import PUBLISHED_JUDGES
from persona_judge.construction.output import load_constructed, write_constructed
from persona_judge.construction.pipeline import ConstructionConfig, construct_source
from persona_judge.construction.smoke import construction_responder
from persona_judge.data.validation import PreferenceDataError, check_row
from persona_judge.study.notebook import smoke_llm

JUDGES = ("judge-one", "judge-two")
CONFIG = ConstructionConfig(min_pairs_per_user=8, llm_max_users=4)


def _stored_id(pref) -> str:
    """Our pair id as the loader hands it back: a record field once the loader keeps stored
    ids (issue #7), an extra column before."""
    return str(pref.extra.get("pair_id") or pref.pair_id)


def _loader_accepts_model_role() -> bool:
    row = {"user_id": "u", "conversation_id": "c", "context": [{"role": "user", "content": "q"}],
           "chosen": {"role": "model", "content": "a"},
           "rejected": {"role": "model", "content": "b"}, "split": "train"}
    try:
        check_row(row, "probe", 1)
    except PreferenceDataError:
        return False
    return True


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = {}
    with ExitStack() as stack:
        filter_client = stack.enter_context(smoke_llm("filter-model",
                                                      responder=construction_responder))
        judges = {m: stack.enter_context(smoke_llm(m, responder=construction_responder))
                  for m in JUDGES}
        for source in ("prism", "chatbot_arena"):
            pairs, report, revision = derive_pairs(source, "smoke", CONFIG)
            result = construct_source(source, pairs, report, CONFIG, filter_client=filter_client,
                                      judge_clients=judges, revision=revision)
            folder = tmp_path_factory.mktemp(source) / f"constructed_{source}"
            out[source] = (pairs, result, write_constructed(result, folder, mode="smoke"))
    return out


@pytest.mark.parametrize("source", ["prism", "chatbot_arena"])
def test_stages_chain_and_every_kept_user_is_split(built, source):
    pairs, result, _ = built[source]
    steps = result.steps
    assert steps[0].pairs_in == len(pairs) == result.derivation.pairs
    for before, after in zip(steps, steps[1:], strict=False):
        assert after.pairs_in == before.pairs_out
    assert steps[-1].pairs_out == len(result.pairs) > 0
    names = [s.name for s in steps]
    assert names[:4] == ["1. user filter", "sample of 4 users for the LLM filters",
                         "2. personalization filter", "3. consensus filter"]
    assert all(s.pairs_removed == sum(s.removed_by_reason.values()) for s in steps)
    per_user = Counter(p.user_id for p in result.pairs)
    assert min(per_user.values()) >= CONFIG.min_pairs_per_user and len(per_user) <= 4
    for user in per_user:
        assert {result.splits[p.pair_id] for p in result.pairs if p.user_id == user} == {
            "train", "val", "test"}
    table = result.stage_table()
    assert table["pairs"].tolist() == [len(pairs), *[s.pairs_out for s in steps]]


def test_written_dataset_has_the_published_columns(built):
    _, result, folder = built["chatbot_arena"]
    assert sorted(p.name for p in (folder / "data").iterdir()) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet"]
    columns = pq.read_schema(folder / "data" / "train-00000-of-00001.parquet").names
    published = ["user_id", "conversation_id", "context", "chosen", "rejected", "turns", "type",
                 "split", "flip", "chosen_score", "rejected_score", "dataset",
                 "query_reasoning", "personalizable_query", "response_reasoning",
                 "personalizable_responses", "agreement"]
    for judge in PUBLISHED_JUDGES:
        published += [f"prediction_{judge}", f"reasoning_{judge}", f"prediction_flip_{judge}",
                      f"reasoning_flip_{judge}"]
    assert set(published) <= set(columns) and "pair_id" in columns
    assert {f"prediction_flip_{j}" for j in JUDGES} <= set(columns)
    info = json.loads((folder / "construction.json").read_text())
    assert info["pairs"] == len(result.pairs) and info["mode"] == "smoke"
    assert info["config"]["min_pairs_per_user"] == 8
    assert "SMOKE RUN" in (folder / "README.md").read_text()


def test_arena_construction_loads_through_the_benchmark_loader(built):
    _, result, folder = built["chatbot_arena"]
    report = load_constructed("chatbot_arena", "smoke", folder=folder)
    loaded = {_stored_id(p): p for p in report.preferences}
    assert set(loaded) == {p.pair_id for p in result.pairs}
    for pair in result.pairs:
        pref = loaded[pair.pair_id]
        assert (pref.user_id, pref.conversation_id) == (pair.user_id, pair.conversation_id)
        assert (pref.chosen.content, pref.rejected.content) == (pair.chosen.content,
                                                               pair.rejected.content)
        assert [t.content for t in pref.context] == [t.content for t in pair.context]
        assert pref.split == result.splits[pair.pair_id] and pref.flip == pair.flip


@pytest.mark.xfail(not _loader_accepts_model_role(), strict=True,
                   reason="the benchmark loader on this branch rejects PRISM's real 'model' role "
                          "(issue #7 makes it accept it)")
def test_prism_construction_loads_through_the_benchmark_loader(built):
    _, result, folder = built["prism"]
    report = load_constructed("prism", "smoke", folder=folder)
    assert {_stored_id(p) for p in report.preferences} == {p.pair_id for p in result.pairs}
    assert all(t.role in ("user", "assistant") for p in report.preferences
               for t in (*p.context, p.chosen, p.rejected))


def test_published_comparison_round_trip(built):
    """Our own written output, read back as if it were the published benchmark."""
    _, result, folder = built["chatbot_arena"]
    published = load_constructed("chatbot_arena", "smoke", folder=folder).preferences
    matches = match_published(result.pairs, published)
    assert len(matches) == len(result.pairs)
    overlap = overlap_table(result.pairs, published, matches).set_index("what")
    assert overlap.loc["pairs", "in both"] == len(result.pairs)
    assert overlap.loc["pairs", "only ours"] == 0
    agreement = decision_agreement(matches, published, personalization=result.personalization,
                                   consensus=result.consensus).set_index("decision")
    assert agreement["agreement (%)"].tolist() == [100.0, 100.0, 100.0]
    # The prediction columns we wrote, read back with the recorded-column reader, give back
    # exactly our consensus decisions: writer and reader agree on order and flip.
    decisions, summary = recorded_consensus(published)
    ours = result.consensus.set_index("pair_id")
    by_published = dict(zip(matches["published_pair_id"], matches["pair_id"], strict=True))
    for row in decisions.itertuples():
        mine = ours.loc[by_published[row.pair_id]]
        assert (row.judgments, row.for_chosen, row.agreement) == (
            mine["judgments"], mine["for_chosen"], mine["agreement"])
    assert summary.loc[0, "our rule would drop"] == 0  # survivors of the same rule
    # The written agreement column is the share of judgments for the chosen reply.
    fit = agreement_column_check(published, decisions).set_index("reading")
    assert fit.loc["share of judgments for the chosen reply", "mean absolute difference"] == 0


def test_published_rows_with_other_conversation_ids_match_by_query_and_texts(built):
    _, result, _ = built["chatbot_arena"]
    from persona_judge.data.records import Preference

    published = [Preference(user_id=p.user_id, conversation_id=f"published-{i}",
                            context=p.context, chosen=p.chosen, rejected=p.rejected, split="test")
                 for i, p in enumerate(result.pairs[:5])]
    extra = Preference(user_id="x", conversation_id="other", context=result.pairs[0].context,
                       chosen=result.pairs[0].rejected, rejected=result.pairs[0].chosen,
                       split="test")  # same texts, opposite choice: not the same pair
    matches = match_published(result.pairs, [*published, extra])
    assert list(matches["pair_id"]) == [p.pair_id for p in result.pairs[:5]]
    assert set(matches["matched_by"]) == {"query + texts"}


def test_recorded_consensus_source_reuses_published_verdicts(built):
    pairs, result, folder = built["chatbot_arena"]
    published = load_constructed("chatbot_arena", "smoke", folder=folder).preferences
    config = ConstructionConfig(min_pairs_per_user=8, llm_max_users=4, personalization=False,
                                consensus_source="recorded")
    recorded = construct_source("chatbot_arena", pairs, result.derivation, config,
                                published=published)
    decisions = recorded.consensus.set_index("pair_id")
    matched = decisions[decisions["reason"] != "no verdicts"]
    assert set(matched.index) == {p.pair_id for p in result.pairs}
    assert (decisions.loc[decisions["reason"] == "no verdicts", "keep"]).all()


def test_funnel_table_sets_the_paper_counts_beside_the_final_stage(built):
    table = funnel_table([built["prism"][1], built["chatbot_arena"][1]])
    finals = table.groupby("source").tail(1).set_index("source")["paper users"].to_dict()
    assert finals == {"prism": 723, "chatbot_arena": 131}
    assert table["paper users"].notna().sum() == 2


def test_settings_from_flat_parameters():
    config = ConstructionConfig.from_parameters({
        "seed": 4, "min_pairs_per_user": 6, "llm_max_users": None, "arena_turns": "last",
        "arena_languages": ["English", "German"], "split_fractions": {"train": 2, "val": 1,
                                                                      "test": 1},
        "consensus_threshold": 0.9, "model": "ignored"})
    assert config.pairing.arena_turns == "last" and config.pairing.seed == 4
    assert config.pairing.arena_languages == ("English", "German")
    assert config.splits.fractions["train"] == 0.5 and config.splits.seed == 4
    assert (config.min_pairs_per_user, config.llm_max_users, config.consensus_threshold) == (
        6, None, 0.9)
    with pytest.raises(ValueError, match="consensus_source"):
        ConstructionConfig(consensus_source="maybe")  # type: ignore[arg-type]


def test_a_constructed_benchmark_is_a_dataset_every_chapter_can_load(built, monkeypatch,
                                                                     tmp_path):
    # chapters take `dataset: constructed_prism`; the study loader reads chapter 00's output
    import shutil

    from persona_judge import paths
    from persona_judge.data.benchmark import DataUnavailableError, dataset_revision
    from persona_judge.study.notebook import load_users

    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    with pytest.raises(DataUnavailableError, match="00_benchmark_construction"):
        load_users("constructed_prism", "smoke")
    _, result, folder = built["prism"]
    target = paths.data_dir() / "constructed" / "smoke" / "constructed_prism"
    shutil.copytree(folder, target)
    users = load_users("constructed_prism", "smoke")
    assert users and {p.pair_id for u in users for p in (*u.train, *u.val, *u.test)} <= \
        {p.pair_id for p in result.pairs}
    assert dataset_revision("constructed_prism", "smoke").startswith("constructed (smoke, ")
