"""The whole comparison on real code paths: the same judgments for every method, no test pair
in any fitting prompt, the estimate against a real smoke run, and a resumed grid."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from persona_judge.data.raw_prism import SurveyProfile
from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.errors import PersonaJudgeError
from persona_judge.evaluation import main_results as mr
from persona_judge.llm import client_from_env
from persona_judge.llm.standin import Fault, StandInServer
from persona_judge.method.synthesizeme import SynthesizeMeConfig
from persona_judge.study.estimate import EstimateOptions

TEST_MARK = re.compile(r"\[(u\d)-test-(\d)\]")
SMALL = SynthesizeMeConfig(n_candidates=3, m_candidates=3)


def _pref(user: str, split: str, i: int) -> Preference:
    tag = f"{user}-{split}-{i}"
    return Preference(user, f"conv-{tag}", (Turn("user", f"question MARK[{tag}]"),),
                      Turn("assistant", f"short CHOSEN[{tag}]"),
                      Turn("assistant", f"a much longer and wordier REJECTED[{tag}] reply"),
                      split, flip=bool(i % 2))


def _user(user: str, n_train: int = 4, n_val: int = 2, n_test: int = 2) -> UserSplit:
    return UserSplit(user, *(tuple(_pref(user, s, i) for i in range(n))
                             for s, n in (("train", n_train), ("val", n_val), ("test", n_test))))


def _prompt(body: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch):
    from persona_judge.baselines.smoke import smoke_responder

    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    with StandInServer(responder=smoke_responder) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        yield server


def _client(tmp_path: Path, name: str = "cache.sqlite", model: str = "judge-a"):
    return client_from_env(model, cache_path=tmp_path / name, progress=False, preflight=False,
                           structured_output="off", max_retries=0, timeout=5.0)


def test_every_method_judges_the_same_pairs_and_no_test_pair_reaches_a_fit(
        stand_in: StandInServer, tmp_path: Path) -> None:
    users = [_user("u1"), _user("u2", n_train=3, n_val=1, n_test=3)]
    survey = {"u1": SurveyProfile("u1", age="18-24 years old", self_description="calm")}
    client = _client(tmp_path)
    results = mr.run_main_results(users, client, SMALL, survey=survey, max_workers=1,
                                  progress=False)
    client.close()
    frame = results.judgments
    expected = {(u.user_id, p.pair_id, o) for u in users for p in u.test
                for o in ("chosen_first", "rejected_first")}
    methods = set(frame["method"])
    assert {mr.DEFAULT, mr.MEMORY, mr.DEMOGRAPHICS, mr.FULL, mr.JUST_PERSONAS, mr.JUST_DEMOS,
            mr.DEMOS_SEARCHED_ALONE, mr.RANDOM_DEMOS, *mr.RECORDED} == methods
    for method in methods:
        rows = frame[frame["method"] == method]
        assert set(zip(rows["user_id"], rows["pair_id"], rows["order"], strict=True)) == \
            expected, method
    assert results.notes["survey coverage"] == {"survey profile": 1, "no survey row": 1,
                                                "blank answers": 0}
    # every prompt the endpoint saw: a test pair appears only as the pair being judged
    judged = 0
    for request in stand_in.requests:
        prompt = _prompt(request.body)
        marks = {m.group(0) for m in TEST_MARK.finditer(prompt)}
        if not marks:
            continue
        judged += 1
        assert len({m.split("-test-")[0] + m.split("-test-")[1] for m in marks}) == 1, marks
        last = prompt.rindex("## Conversation")
        assert not TEST_MARK.search(prompt[:last]), "a test pair leaked into a prompt's context"
    # every evaluation request carried its one test pair; fits never saw one
    assert judged == results.spend.set_index("stage").filter(like="evaluate", axis=0)["calls"].sum()


def test_the_estimate_counts_a_real_smoke_runs_calls(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """Chapter 05's estimator against the chapter's own smoke run of the same cell."""
    from persona_judge.baselines.smoke import smoke_responder
    from persona_judge.data.raw_prism import load_prism_survey

    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("TOGETHER_API_KEY", raising=False)
    params = {"mode": "smoke", "dataset": "prism", "model": "judge-a", "max_users": None,
              "smoke_max_users": 4, "seed": 0, "n_candidates": 3, "m_candidates": 3,
              "algorithm": "faithful", "trace_context": "labelled",
              "persona_instruction": "persona_synthesis@v1",
              "survey_include": ["demographics", "stated_prefs", "self_description"],
              "survey_revision": None,
              "compare_theta": False, "variant": "public", "theta_program": "llama70b",
              "compare_variant": False, "reference_arm": False,
              "llm_settings": {"structured_output": "off"}}
    users = mr.results_users(params)
    with StandInServer(responder=smoke_responder) as server:
        monkeypatch.setenv("LLM_BASE_URL", server.url)
        client = _client(tmp_path, "smoke.sqlite")
        real = mr.run_main_results(users, client, mr.method_config(params),
                                   survey=load_prism_survey("smoke"), max_workers=1,
                                   progress=False).spend.set_index("stage")
        client.close()
        sent = server.requests_seen
        cold = mr.estimate_main_results(params, EstimateOptions(
            cache_path=tmp_path / "fresh.sqlite")).set_index("stage")
        warm = mr.estimate_main_results(params, EstimateOptions(
            cache_path=tmp_path / "smoke.sqlite")).set_index("stage")
        assert server.requests_seen == sent  # estimating sent nothing
    assert list(cold.index) == list(real.index)
    n_judgments = 2 * sum(len(u.test) for u in users)
    for stage in (f"evaluate {mr.DEFAULT}", f"evaluate {mr.MEMORY}",
                  f"evaluate {mr.DEMOGRAPHICS}", "score recorded judges (no calls)"):
        # prompts that depend on no answer: the estimate is exact
        assert cold.loc[stage, "calls"] == real.loc[stage, "calls"], stage
    for stage in cold.index[cold.index.str.startswith("evaluate ")]:
        # at most one request per judgment (identical requests in a batch are sent once)
        assert cold.loc[stage, "calls"] + cold.loc[stage, "cache_hits"] <= n_judgments
        assert real.loc[stage, "calls"] + real.loc[stage, "cache_hits"] <= n_judgments
        assert cold.loc[stage, "calls at most"] == n_judgments
    fit = f"fit {mr.FULL}"
    bound = mr.fit_call_bound(users, mr.method_config(params))
    assert cold.loc[fit, "calls at most"] == bound
    assert real.loc[fit, "calls"] <= bound and cold.loc[fit, "calls"] <= bound
    assert cold.loc[fit, "calls"] >= sum(len(u.train) for u in users)
    assert cold.loc["total", "dollars"] == 0.0  # judge-a is not in prices.yaml
    # after the real run, everything is in its cache: the estimate says nothing is left
    assert warm.loc["total", "calls"] == 0
    assert warm.loc["total", "cache_hits"] == real.loc["total", "calls"] + \
        real.loc["total", "cache_hits"]


def test_fit_call_bound_by_hand() -> None:
    users = [_user("u1", 7, 3), _user("u2", 2, 0), UserSplit("u3", (), (), ())]
    faithful = SynthesizeMeConfig(n_candidates=10, m_candidates=10)
    # the README's 7 train / 3 val user: 7 + 36 + 2 + 7 + 39 = 91, plus the demos-only
    # search's "no demos" candidate (3); 2 / 0: 2 + 0 + 2 + 2 + 0
    assert mr.fit_call_bound(users, faithful) == 91 + 3 + 6
    no_search = SynthesizeMeConfig(n_candidates=10, m_candidates=10, demos_only_search=False)
    assert mr.fit_call_bound(users, no_search) == 91 + 6
    both = SynthesizeMeConfig(n_candidates=10, m_candidates=10, demos_only_search=False,
                              validation_orders="both")
    assert mr.fit_call_bound(users[:1], both) == 7 + 6 * 12 + 2 + 7 + 6 * 13
    lite = SynthesizeMeConfig(algorithm="lite", n_candidates=10, m_candidates=10)
    assert mr.fit_call_bound(users[:1], lite) == 7 + 30 + 2 + 30


def _bodies(server: StandInServer) -> list[str]:
    return [json.dumps(r.body, sort_keys=True) for r in server.requests]


def test_an_interrupted_grid_resumes_without_repeating_a_call(stand_in: StandInServer,
                                                              tmp_path: Path) -> None:
    users = [_user("u1"), _user("u2", n_train=3, n_val=2)]
    grid = ("judge-a", "judge-b")  # two settings sharing one cache, as the study's grid does

    def run_setting(cache: str, model: str) -> Any:
        client = _client(tmp_path, cache, model)
        try:
            return mr.run_main_results(users, client, SMALL, max_workers=1, progress=False).spend
        finally:
            client.close()

    def run_grid(cache: str) -> list[Any]:
        return [run_setting(cache, model) for model in grid]

    run_setting("grid.sqlite", grid[0])
    # the second setting's fit is stopped by a request the server refuses
    stand_in.inject(Fault("status", status=400, match="MARK[u2-val-1]"))
    with pytest.raises(PersonaJudgeError):
        run_setting("grid.sqlite", grid[1])
    first = _bodies(stand_in)
    # the one refused request: setting 2's first request carrying the fault's mark
    refused = {next(b for b in first if "MARK[u2-val-1]" in b and '"judge-b"' in b)}
    stand_in.reset_counters()
    spends = run_grid("grid.sqlite")
    second = _bodies(stand_in)
    assert spends[0].set_index("stage").loc["total", "calls"] == 0  # setting 1: all cached
    finished = set(first) - refused
    assert not finished & set(second), "a finished call was sent again"
    # and together the two runs sent exactly what one uninterrupted run sends
    stand_in.reset_counters()
    run_grid("cold.sqlite")
    assert finished | set(second) == set(_bodies(stand_in))



def test_compare_theta_adds_one_fit_with_the_released_instruction(
        stand_in: StandInServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from persona_judge.method import theta

    program = {"synthesize.predict": {"demos": [], "signature": {
        "instructions": "RELEASED-THETA: describe the user.", "fields": []}}}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(program).encode())

        def log_message(self, *args: object) -> None:
            pass

    files = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(theta.URL_ENV, f"http://127.0.0.1:{files.server_port}/llama70b.json")
    try:
        users = [_user("u1")]
        client = _client(tmp_path)
        ours = SynthesizeMeConfig(n_candidates=3, m_candidates=3, variant="ours")
        results = mr.run_main_results(users, client, ours, baselines=(), compare_theta=True,
                                      max_workers=1, progress=False)
        client.close()
    finally:
        files.shutdown()
        files.server_close()
    stages = list(results.spend["stage"])
    assert stages.count(f"fit {mr.FULL}") == 1 and f"fit {mr.RELEASED_THETA}" in stages
    assert mr.RELEASED_THETA in set(results.judgments["method"])
    released = results.theta_artifacts["u1"]
    assert released.templates["persona_synthesis"].startswith("persona_synthesis_public@")
    assert results.artifacts["u1"].templates["persona_synthesis"] == "persona_synthesis@v1"
    assert any("RELEASED-THETA" in json.dumps(r.body) for r in stand_in.requests)
    assert mr._other_theta("public") == ("persona_synthesis@v1", mr.OUR_THETA)


def test_compare_variant_adds_one_fit_with_the_other_variant(stand_in: StandInServer,
                                                              tmp_path: Path) -> None:
    users = [_user("u1")]
    client = _client(tmp_path)
    results = mr.run_main_results(users, client, SMALL, baselines=(), compare_variant=True,
                                  max_workers=1, progress=False)
    client.close()
    stages = list(results.spend["stage"])
    assert stages.count(f"fit {mr.FULL}") == 1 and f"fit {mr.OUR_VARIANT}" in stages
    assert {mr.FULL, mr.OUR_VARIANT} <= set(results.judgments["method"])
    other = results.theta_artifacts[f"u1 ({mr.OUR_VARIANT})"]
    assert other.settings["variant"] == "ours" and other.settings["answer_format"] == "json"
    assert other.templates["persona_synthesis"] == "persona_synthesis@v1"
    assert other.templates["judge_personalized"] == "judge_personalized@v1"
    # the search settings are the same; only the variant's settings differ
    mine = results.artifacts["u1"].settings
    assert all(mine[k] == other.settings[k] for k in ("n_candidates", "m_candidates",
                                                      "trace_context", "stop_at_accuracy"))
    fields = set(SynthesizeMeConfig.__dataclass_fields__)
    back, name = mr._other_variant(SynthesizeMeConfig(**{
        k: v for k, v in other.settings.items() if k in fields and k != "components"}))
    assert name == mr.PUBLIC_VARIANT and back.persona_instruction == "public"
    assert back.judge_personalized == "judge_personalized_first_second@v1"


def test_the_reference_arm_adds_the_official_code_row_its_cost_and_its_estimate(
        stand_in: StandInServer, tmp_path: Path) -> None:
    users = [_user("u1"), _user("u2", n_train=3, n_val=2, n_test=3)]
    client = _client(tmp_path)
    results = mr.run_main_results(users, client, SMALL, baselines=(), reference_arm=True,
                                  max_workers=1, progress=False)
    client.close()
    judgments = results.judgments
    official = judgments[judgments["method"] == mr.OFFICIAL]
    ours = judgments[judgments["method"] == mr.FULL]
    # the same pairs in the same orders as our full method: a paired comparison is possible
    assert sorted(zip(official["pair_id"], official["order"], strict=True)) == sorted(
        zip(ours["pair_id"], ours["order"], strict=True))
    assert len(official) == 2 * sum(len(u.test) for u in users)
    spend = results.spend.set_index("stage")
    fit, judge = f"fit {mr.OFFICIAL}", f"evaluate {mr.OFFICIAL}"
    assert spend.loc[fit, "calls"] > 0 and spend.loc[judge, "calls"] + \
        spend.loc[judge, "cache_hits"] > 0
    assert spend.loc[fit, "calls"] <= mr.official_fit_call_bound(users)
    assert spend.loc["total", "calls"] == spend.drop(index="total")["calls"].sum()
    assert set(results.notes["official code"]) == {"u1", "u2"}
    assert mr.method_rank(mr.OFFICIAL) == mr.method_rank(mr.FULL) + 1
    # the requests the official code sent carry the package's DSPy format, not our prompts
    official_bodies = [r.body for r in stand_in.requests
                       if "[[ ## completed ## ]]" in json.dumps(r.body)]
    assert official_bodies and all(b["max_tokens"] == 8192 for b in official_bodies)


def test_reference_arm_setting_defaults_to_smoke_runs_and_checks_its_extra(monkeypatch) -> None:
    from persona_judge.reference import extra

    assert mr.reference_arm_on({"mode": "smoke"}) is True
    assert mr.reference_arm_on({"mode": "real"}) is False
    assert mr.reference_arm_on({"mode": "real", "reference_arm": True}) is True
    assert mr.reference_arm_on({"mode": "smoke", "reference_arm": False}) is False
    with pytest.raises(PersonaJudgeError, match="reference_arm must be"):
        mr.reference_arm_on({"mode": "smoke", "reference_arm": "yes"})
    monkeypatch.setattr(extra, "reference_extra_missing", lambda: ["synthesizeme"])
    assert mr.check_reference_arm({"mode": "real"}) is False  # off: nothing to check
    with pytest.raises(extra.ReferenceExtraMissingError, match=r'pip install -e "\.\[reference\]"'):
        mr.check_reference_arm({"mode": "real", "reference_arm": True})


def test_the_estimate_prices_the_reference_arm_without_sending_anything(
        stand_in: StandInServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    params = {"mode": "smoke", "dataset": "chatbot_arena",
              "model": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "max_users": 2,
              "smoke_max_users": 2, "seed": 0, "n_candidates": 2, "m_candidates": 2,
              "algorithm": "faithful", "trace_context": "labelled",
              "persona_instruction": "persona_synthesis@v1", "survey_include": ["demographics"],
              "survey_revision": None, "compare_theta": False, "reference_arm": None,
              "variant": "public", "theta_program": "llama70b", "compare_variant": False,
              "llm_settings": {"structured_output": "off"}}
    estimate = mr.estimate_main_results(params, EstimateOptions(
        cache_path=tmp_path / "fresh.sqlite")).set_index("stage")
    assert stand_in.requests_seen == 0
    fit, judge = f"fit {mr.OFFICIAL}", f"evaluate {mr.OFFICIAL}"
    users = mr.results_users(params)
    assert estimate.loc[fit, "calls at most"] == mr.official_fit_call_bound(users)
    assert 0 < estimate.loc[fit, "calls"] <= estimate.loc[fit, "calls at most"]
    assert 0 < estimate.loc[judge, "calls"] <= estimate.loc[judge, "calls at most"]
    assert estimate.loc[fit, "dollars"] > 0 and estimate.loc[fit, "prompt_tokens"] > 0
    off = mr.estimate_main_results({**params, "reference_arm": False}, EstimateOptions(
        cache_path=tmp_path / "fresh.sqlite")).set_index("stage")
    assert fit not in off.index
    assert estimate.loc["total", "dollars"] > off.loc["total", "dollars"]
