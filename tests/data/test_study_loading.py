"""How the study's chapters load users: bad rows skipped and counted, users set aside named."""

import pytest

from persona_judge.data.benchmark import local_copy, write_revision_record
from persona_judge.data.fixtures import write_fixture
from persona_judge.data.validation import TooManyBadRowsError
from persona_judge.errors import PersonaJudgeError
from persona_judge.study.notebook import load_benchmark_data, load_users


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return tmp_path


def test_users_need_train_and_test_but_not_validation(data_root, capsys):
    users = load_users("chatbot_arena", "smoke")
    assert users and all(u.train and u.test for u in users)
    assert sum(not u.val for u in users) >= 1 and sum(len(u.val) == 1 for u in users) >= 1
    assert [u.user_id for u in users] == sorted(u.user_id for u in users)
    note = capsys.readouterr().out
    assert note.startswith("chatbot_arena: 1 user(s) set aside: arena_user_")
    assert "(no train preferences (0 train, 2 val, 5 test))" in note


def test_bad_rows_are_skipped_and_counted_within_the_studys_share(data_root, capsys):
    data = load_benchmark_data("prism", "smoke")
    assert data.report.n_skipped == 2 and data.revision == "fixture (synthetic, seed 0)"
    assert {u.user_id for u in data.users}.isdisjoint(u.user_id for u in data.report.set_aside)
    assert any(not u.val for u in data.users)  # no validation pair: kept (method fallback)
    load_users("prism", "smoke", max_users=3, seed=1)
    assert "prism: 2 bad row(s) of 157 skipped" in capsys.readouterr().out
    # 2 of 157 rows is within study.yaml's 2%, not within 1%
    with pytest.raises(TooManyBadRowsError, match=r"2 of 157 rows \(1.3%\) are bad"):
        load_users("prism", "smoke", max_bad_row_share=0.01)


def test_study_yaml_supplies_the_share(data_root, monkeypatch):
    from persona_judge.study import notebook

    monkeypatch.setattr(notebook, "study_settings", lambda: {"max_bad_row_share": 0.005})
    with pytest.raises(TooManyBadRowsError, match="more than the 0.5%"):
        load_benchmark_data("prism", "smoke")


def test_a_pinned_revision_reaches_the_loader(data_root, monkeypatch):
    from persona_judge.study import notebook

    folder = local_copy("chatbot_arena", "real")
    write_fixture("chatbot_arena", folder)
    write_revision_record(folder, requested=None, resolved="a" * 40)
    assert load_benchmark_data("chatbot_arena", "real").revision == "a" * 40
    with pytest.raises(PersonaJudgeError, match="pins revision " + "b" * 40):
        load_users("chatbot_arena", "real", revision="b" * 40)
    monkeypatch.setattr(notebook, "study_settings",
                        lambda: {"hub_revisions": {"chatbot_arena": "c" * 40}})
    with pytest.raises(PersonaJudgeError, match="pins revision " + "c" * 40):
        load_users("chatbot_arena", "real")
