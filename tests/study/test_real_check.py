"""The real check's own bookkeeping, on the real client and cache (the check itself, against
llama-server, is ``make real-check``): its reading of the client's summary line, of the
cache's schema-requested verdicts, and of a killed fit's cached answers."""

from __future__ import annotations

import pytest

from persona_judge.llm import ChatRequest, ResponseCache, client_from_env, request_key
from persona_judge.llm.standin import StandInServer
from persona_judge.study import real_check


def _request(i: int, structured: str) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": f"Which reply, A or B? ({i})"}], "judge@1",
                       structured=structured)


@pytest.mark.parametrize("n_calls", [1, 3])
def test_the_summary_line_of_a_real_client_is_read_back(tmp_path, n_calls):
    with StandInServer() as server, client_from_env(
            "tiny", cache_path=tmp_path / "c.sqlite", base_url=server.url,
            backend="openai-compatible", keyless=True, progress=False) as client:
        client.judge_many([_request(i, "off") for i in range(n_calls)])
        client.judge_many([_request(0, "off")])  # asked again: from the cache
        text = "noise before\n" + client.summary() + "\nnoise after"
        stats = client.stats.to_dict()
    counted = real_check.parse_summary(text)
    assert counted["calls"] == stats["calls"] == n_calls
    assert counted["hits"] == stats["cache_hits"] == 1
    assert counted["preflight"] == stats["preflight_calls"] >= 1
    assert counted["prompt"] == stats["prompt_tokens"] > 0
    assert counted["completion"] == stats["completion_tokens"] > 0
    assert real_check.cache_rows(tmp_path / "c.sqlite") == n_calls


def test_a_warm_summary_reads_zero_calls_and_no_preflight():
    line = ("LLM run -- m via x: 0 calls, 57 cache hits, 0 failures, 0 fallbacks, 0 unparseable "
            "answers (0 resamples); tokens 0 prompt + 0 completion; cost $0.00.")
    assert real_check.parse_summary(line) == {
        "calls": 0, "preflight": 0, "hits": 57, "failures": 0, "fallbacks": 0,
        "unparseable": 0, "prompt": 0, "completion": 0}
    with pytest.raises(real_check.CheckFailed, match="no client summary"):
        real_check.parse_summary("Traceback: it broke")


@pytest.mark.parametrize(("answers", "expected"), [
    ([('{"reasoning": "short", "preferred": "A"}', "stop"),
      ('{"reasoning": "x", "preferred": "B"}', "stop"),
      ('{"reasoning": "cut off at max_tok', "length")], (3, 2, 0)),
    ([('{"preferred": "B", "reasoning": ""}', "stop"), ("Neither, really.", "stop")],
     (2, 1, 1)),
])
def test_schema_verdicts_counts_only_schema_requests_and_parses_them(tmp_path, answers,
                                                                     expected):
    cache_path = tmp_path / "c.sqlite"
    cache = ResponseCache(cache_path)
    for i, (text, finish) in enumerate(answers):
        request = _request(i, "json_schema")
        cache.put(request_key(request, backend="b", model="m"), request, backend="b",
                  model="m", text=text, prompt_tokens=5, completion_tokens=5,
                  finish_reason=finish)
    free = _request(99, "off")  # a free-text answer (a persona) is no verdict
    cache.put(request_key(free, backend="b", model="m"), free, backend="b", model="m",
              text="A persona that names no reply.", prompt_tokens=5, completion_tokens=5)
    cache.close()
    assert real_check.schema_verdicts(cache_path) == expected
    assert real_check.cache_rows(cache_path) == len(answers) + 1
    report = real_check.Report()
    if expected[2]:  # a finished answer that does not parse: the structured path broke
        with pytest.raises(real_check.CheckFailed, match="1 finished but unparseable"):
            real_check.check_verdicts(cache_path, "fit", report)
    else:
        real_check.check_verdicts(cache_path, "fit", report)
        assert report.facts["fit_schema_verdicts"]["unparsed_share"] == round(1 / 3, 3)
    assert real_check.cache_rows(tmp_path / "absent.sqlite") == 0


def test_the_report_records_what_held_and_names_what_did_not():
    report = real_check.Report()
    report.check(True, "the server process is gone", "PID 1")
    assert report.passed == ["the server process is gone"]
    with pytest.raises(real_check.CheckFailed, match="a warm rerun sends no call: 3 calls"):
        report.check(False, "a warm rerun sends no call", "3 calls")


def test_can_run_says_no_without_a_compiler_and_no_cached_server(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PERSONA_JUDGE_TOOLS_CACHE", str(tmp_path / "tools"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    for argv in (["--can-run"], [], ["--skip", "fit"]):
        assert real_check.main(argv) == real_check.EXIT_UNAVAILABLE
        assert "REAL CHECK NOT RUN" in capsys.readouterr().out
    assert not (tmp_path / "tools").exists()  # nothing was downloaded
