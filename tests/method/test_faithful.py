"""The faithful default is the public code's configuration: the released persona program
(fetched from a local server serving a synthetic program of the released structure), the
First/Second speculative judges, the persona in the system message, demos as turns, the
8192-token cap, parse retries at temperature 0, both-orders validation and the demos-only
search. Each deviation is a named setting; "ours" keeps our Θ and JSON decoding."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scripted import pref, user_split

from persona_judge.llm import client_from_env
from persona_judge.llm.standin import StandInServer
from persona_judge.method import theta
from persona_judge.method.judge import DefaultJudgeMethod, Demo
from persona_judge.method.smoke import smoke_responder
from persona_judge.method.synthesizeme import SynthesizeMeConfig, fit_user

FAST: dict[str, Any] = {"timeout": 5.0, "backoff_initial": 0.01, "backoff_max": 0.05,
                        "max_retries": 1, "progress": False, "preflight": False}


def synthetic_program(tag: str, n_demos: int = 3) -> dict[str, Any]:
    """A program with the released file's structure; every text names ``tag``."""
    demos = [{"augmented": True,
              "past_judgements": f"{tag} history {i}: the user twice chose the terse reply.",
              "reasoning": f"{tag} reasoning {i}: terse replies won, costs $5.",
              "synthesized_persona": f"{tag} persona {i}: a busy engineer who wants brevity."}
             for i in range(1, n_demos + 1)]
    return {"synthesize.predict": {"lm": None, "traces": [], "train": [], "demos": demos,
                                   "signature": {"instructions": f"{tag} instruction.",
                                                 "fields": []}},
            "metadata": {"dependency_versions": {"dspy": "test"}}}


@pytest.fixture
def programs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, int]]:
    """Serves llama70b / llama8b / llama3b programs (distinct texts); counts the fetches."""
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            name = self.path.rsplit("/", 1)[-1].removesuffix(".json")
            if name not in theta.PROGRAMS:
                self.send_response(404)
                self.end_headers()
                return
            hits[name] = hits.get(name, 0) + 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(synthetic_program(f"[{name}]")).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv(theta.URL_ENV, f"http://127.0.0.1:{server.server_port}/prompts/")
    yield hits
    server.shutdown()
    server.server_close()


@pytest.fixture
def smoke_server() -> Iterator[StandInServer]:
    with StandInServer(responder=smoke_responder) as srv:
        yield srv


def _client(server: StandInServer, tmp_path: Path, model: str = "meta-llama/Llama-3.3-70B",
            **overrides: Any):
    return client_from_env(model, cache_path=tmp_path / f"{model.replace('/', '_')}.sqlite",
                           base_url=server.url, **{**FAST, **overrides})


def _user(name: str, n_train: int = 4, n_val: int = 2):
    train = [pref(name, f"{name}t{i}", "train") for i in range(n_train)]
    val = [pref(name, f"{name}v{i}", "val") for i in range(n_val)]
    return user_split(name, train, val)


def _persona_bodies(server: StandInServer) -> list[dict[str, Any]]:
    return [r.body for r in server.requests
            if "Past judgements of one user" in r.body["messages"][-1]["content"]]


def test_the_released_demonstrations_reach_the_persona_request(
        programs: dict[str, int], smoke_server: StandInServer, tmp_path: Path) -> None:
    for name in ("ann", "bob"):
        with _client(smoke_server, tmp_path) as client:
            art = fit_user(_user(name), client, SynthesizeMeConfig(n_candidates=2,
                                                                   m_candidates=2))
        assert art.settings["persona_instruction"] == "public"
        assert art.templates["persona_synthesis"].startswith(
            f"persona_synthesis_public@{theta.PUBLIC_COMMIT[:7]}-llama70b-")
    bodies = _persona_bodies(smoke_server)
    assert len(bodies) >= 2
    for body, name in zip(bodies, ("ann", "bob"), strict=False):
        messages = body["messages"]
        roles = [m["role"] for m in messages]
        # system, 3 worked demonstrations as user/assistant turns, then the user's history
        assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]
        assert messages[0]["content"].startswith("[llama70b] instruction.")
        for i in range(1, 4):
            shot_in, shot_out = messages[2 * i - 1]["content"], messages[2 * i]["content"]
            assert f"[llama70b] history {i}: the user twice chose" in shot_in
            # reasoning before the persona, "$" kept literally
            assert shot_out.index(f"[llama70b] reasoning {i}: terse replies won, costs $5.") \
                < shot_out.index(f"[llama70b] persona {i}: a busy engineer")
        last = messages[-1]["content"]
        assert f"conv-{name}t" in last and "[llama70b] history" not in last
        assert body["max_tokens"] == 8192
    assert programs == {"llama70b": 1}  # fetched once, then read from the data folder
    # the persona is what follows "Persona:" in the answer, not the reasoning before it
    assert art.persona and not art.persona.startswith("Reasoning")


def test_per_model_program_selection(programs: dict[str, int], smoke_server: StandInServer,
                                     tmp_path: Path) -> None:
    models = {"meta-llama/Llama-3.2-3B-Instruct-Turbo": "llama3b",
              "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": "llama8b"}
    for choice in ("llama70b", "per-model"):
        for model, program in models.items():
            smoke_server.reset_counters()
            smoke_server.requests.clear()
            with _client(smoke_server, tmp_path / choice, model) as client:
                art = fit_user(_user("cy"), client, SynthesizeMeConfig(
                    n_candidates=1, m_candidates=1, theta_program=choice))
            expected = program if choice == "per-model" else "llama70b"
            assert f"-{expected}-" in art.templates["persona_synthesis"]
            system = _persona_bodies(smoke_server)[0]["messages"][0]["content"]
            assert system.startswith(f"[{expected}] instruction.")
    assert programs == {"llama70b": 1, "llama3b": 1, "llama8b": 1}
    assert theta.program_for_model("per-model", "Llama-3.3-70B-Instruct") == "llama70b"
    assert theta.program_for_model("per-model", "some-unknown-model") == "llama70b"


def _judge_shape(config: SynthesizeMeConfig, tmp_path: Path, server: StandInServer,
                 structured: str = "json_schema"
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages of a personalized test request and of the default judge's."""
    train = [pref("u", f"t{i}", "train") for i in range(2)]
    test = pref("u", "x", "test")
    demos = [Demo(train[0], "chosen_first", "They like the short one."),
             Demo(train[1], "rejected_first")]
    from persona_judge.method.artifact import SynthesizeMeArtifact
    from persona_judge.method.synthesizeme import _templates

    art = SynthesizeMeArtifact(
        user_id="u", model="m", seed=0, settings=config.settings(),
        templates=_templates(config), components=("persona", "demos"), val_orders={},
        traces=[], bootstrap_candidates=[], bootstrap_winner=0,
        persona="PERSONA-TEXT: prefers short replies.", persona_source_pairs=[],
        demo_candidates=[], demo_winner=0, demo_set=demos)
    request = art.judge_request(test, "chosen_first")
    default = DefaultJudgeMethod(str(config.judge_default), config.judge_style())
    # "auto" probes the endpoint at a preflight (it accepts JSON schema), as a real run does
    with _client(server, tmp_path, structured_output=structured,
                 preflight=structured == "auto") as client:
        client.judge(request)
        client.judge(default.judge_request(None, test, "chosen_first"))
    bodies = [r.body for r in server.requests[-2:]]
    return bodies, {"request": request}


@pytest.mark.parametrize("structured", ["json_schema", "auto"])
def test_judge_request_shape_per_setting(tmp_path: Path, smoke_server: StandInServer,
                                         structured: str) -> None:
    (personal, default), _ = _judge_shape(SynthesizeMeConfig(), tmp_path / "public",
                                          smoke_server, structured)
    roles = [m["role"] for m in personal["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]  # demo turns
    assert "PERSONA-TEXT" in personal["messages"][0]["content"]  # persona: system message
    assert all("PERSONA-TEXT" not in m["content"] for m in personal["messages"][1:])
    assert personal["messages"][2]["content"].endswith("Preference: First")
    assert "They like the short one." in personal["messages"][2]["content"]
    assert personal["messages"][4]["content"] == "Preference: Second"  # labelled only
    assert personal["max_tokens"] == 8192 and "response_format" not in personal
    # the default judge speculates, in the same answer format and cap
    assert "hypotheses" in default["messages"][0]["content"]
    assert default["max_tokens"] == 8192 and "response_format" not in default

    ours = SynthesizeMeConfig(variant="ours")
    (personal, default), _ = _judge_shape(ours, tmp_path / "ours", smoke_server, structured)
    assert [m["role"] for m in personal["messages"]] == ["system", "user"]  # demos inline
    assert "PERSONA-TEXT" in personal["messages"][1]["content"]
    assert "PERSONA-TEXT" not in personal["messages"][0]["content"]
    assert personal["max_tokens"] == 1024
    assert personal["response_format"]["type"] == "json_schema"
    assert "hypotheses" not in default["messages"][0]["content"]

    # each setting alone switches its row
    mixed = SynthesizeMeConfig(variant="ours", persona_placement="system",
                               demo_placement="turns", max_tokens=4000)
    (personal, _), _ = _judge_shape(mixed, tmp_path / "mixed", smoke_server, structured)
    assert [m["role"] for m in personal["messages"]][:3] == ["system", "user", "assistant"]
    assert "PERSONA-TEXT" in personal["messages"][0]["content"]
    assert personal["max_tokens"] == 4000 and "response_format" in personal
    assert json.loads(personal["messages"][2]["content"])["preferred"] == "A"  # JSON demos


def test_unparseable_answers_retry_at_temperature_zero_then_tie(tmp_path: Path) -> None:
    """The public code's rule: retries stay at 0 and end as a tie (wrong); ours resamples."""
    test = pref("u", "x", "test")
    for config, temperatures, tie in ((SynthesizeMeConfig(), [0.0, 0.0, 0.0], True),
                                      (SynthesizeMeConfig(variant="ours"), [0.0, 0.7, 0.7],
                                       False)):
        with StandInServer(responder=lambda body: "I cannot decide between them.") as server:
            method = DefaultJudgeMethod(str(config.judge_default), config.judge_style())
            with _client(server, tmp_path / str(config.variant)) as client:
                judgment = client.judge(method.judge_request(None, test, "chosen_first"))
            assert [r.body["temperature"] for r in server.requests] == temperatures
            assert [r.body.get("seed") for r in server.requests] == [0, 1, 2]
        assert judgment.choice is None and judgment.attempts == 3
        assert ("scored as a tie" in str(judgment.failure)) is tie


def test_validation_in_both_orders(tmp_path: Path, smoke_server: StandInServer) -> None:
    for name in ("dee", "eve"):
        user = _user(name, n_val=3)
        with _client(smoke_server, tmp_path / name) as client:
            one = fit_user(user, client, SynthesizeMeConfig(n_candidates=2, m_candidates=2))
            both = fit_user(user, client, SynthesizeMeConfig(
                n_candidates=2, m_candidates=2, validation_orders="both"))
        scored = [c for c in both.bootstrap_candidates if c.n_correct is not None]
        assert scored and all(c.n_judged == 6 for c in scored)
        assert all(c.n_judged == 3 for c in one.bootstrap_candidates if c.n_correct is not None)
        keys = set(scored[0].per_pair)
        for p in user.val:
            assert {p.pair_id, f"{p.pair_id} (other order)"} <= keys
        # each validation pair was asked in both orders (the chosen reply in each slot)
        asked = [r.body["messages"][-1]["content"] for r in smoke_server.requests]
        for p in user.val:
            first = [a for a in asked if p.chosen.content in a and p.rejected.content in a]
            assert any(a.index(p.chosen.content) < a.index(p.rejected.content) for a in first)
            assert any(a.index(p.chosen.content) > a.index(p.rejected.content) for a in first)


def test_demos_only_search_runs_without_a_persona(tmp_path: Path,
                                                  smoke_server: StandInServer) -> None:
    for name in ("fay", "gus"):
        user = _user(name, n_train=5, n_val=2)
        with _client(smoke_server, tmp_path / name) as client:
            art = fit_user(user, client, SynthesizeMeConfig(n_candidates=3, m_candidates=3))
            calls_before = smoke_server.requests_seen
            without = fit_user(user, client, SynthesizeMeConfig(
                n_candidates=3, m_candidates=3, demos_only_search=False))
            assert smoke_server.requests_seen == calls_before  # everything cached
        assert art.has_demos_only_search and not without.has_demos_only_search
        assert art.demos_only_candidates[0].kind == "no demos"
        spend = art.spend["demos-only search"]
        # step 1's requests again (cache hits) plus the "no demos" candidate's n_val
        assert spend.requests == (len(user.train) + sum(
            c.status in ("scored", "scored after the stop")
            for c in art.demos_only_candidates) * len(user.val))
        view = art.demos_only()
        assert view.persona is None and view.components == ("demos",)
        assert [d.preference.pair_id for d in view.demo_set] == \
            [d.preference.pair_id for d in art.demos_only_set]
        request = view.judge_request(user.val[0], "chosen_first")
        assert all(str(art.persona) not in m["content"] for m in request.messages)
        assert request.template == art.templates["judge_trace"]
        # the full fit's "demos only" view keeps its own (persona-searched) demos
        assert art.with_components(("demos",)).demo_set == art.demo_set
        with pytest.raises(ValueError, match="demos_only_search"):
            without.demos_only()


def test_a_dry_run_prices_the_released_program(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """The estimate prices the persona request with the program's worked demonstrations
    (the released 70B program is ~21.7k prompt tokens); served here with 3 × 8k-char demos."""
    big = synthetic_program("[big]")
    for demo in big["synthesize.predict"]["demos"]:
        demo["past_judgements"] += " judged" * (8000 // 7)  # ~8k characters each
    body = json.dumps(big).encode()
    with StandInServer(files={"/big/llama70b.json": body}) as files:
        monkeypatch.setenv("PERSONA_JUDGE_DATA", str(tmp_path / "data"))
        monkeypatch.setenv(theta.URL_ENV, f"{files.url}/big/")
        spent = {}
        for variant in ("public", "ours"):
            client = client_from_env("meta-llama/Llama-3.3-70B-Instruct-Turbo",
                                     cache_path=tmp_path / f"{variant}.sqlite", dry_run=True,
                                     progress=False)
            with client:
                art = fit_user(_user("hal"), client, SynthesizeMeConfig(
                    variant=variant, n_candidates=1, m_candidates=1))
            spent[variant] = art.spend["persona"]
    demo_chars = sum(len(d["past_judgements"]) + len(d["reasoning"])
                     + len(d["synthesized_persona"]) for d in big["synthesize.predict"]["demos"])
    assert demo_chars > 24_000
    extra = spent["public"].prompt_tokens - spent["ours"].prompt_tokens
    # chars/4 per the dry run's estimate, give or take our framing of the two Θs
    assert demo_chars / 4 - 500 < extra < demo_chars / 4 + 1500
    assert spent["public"].completion_tokens >= 8192  # the public cap is priced as the bound


@pytest.mark.parametrize(("text", "choice"), [
    ("Reasoning: they like brevity.\n\nPreference: First", "A"),
    ("Reasoning: detail wins.\nPreference: Second", "B"),
    ('{"reasoning": "r", "preference": "Second"}', "B"),
    ("Some thinking.\n**First**", "A"),
    ("Reasoning: x\nPreference: the second reply", "B"),
    ("Reasoning: x\nPreference: Tie", None),
    ("First, I think about it. No verdict here.", None),
])
def test_first_second_answers_parse(text: str, choice: str | None) -> None:
    from persona_judge.llm.parsing import parse_judgment

    assert parse_judgment(text).choice == choice
    if text.startswith("Reasoning: "):  # the reasoning is kept without its label
        assert parse_judgment(text).reasoning == text.split("\n")[0].removeprefix("Reasoning: ")


def test_the_persona_follows_the_reasoning() -> None:
    from persona_judge.method.persona import clean_persona

    answer = ("Reasoning: The picks favour short answers.\n\n"
              "Persona: A busy engineer who wants short, direct answers.")
    assert clean_persona(answer) == "A busy engineer who wants short, direct answers."
    # without a reasoning part a "Persona:" line inside the text is kept as it is
    kept = "A calm reader who likes lists.\nPersona: traits are stable over time."
    assert clean_persona(kept) == kept


def test_concurrent_first_fetches_of_the_released_program_all_succeed(
        programs: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Fits started at once, with nothing downloaded yet, each fetch the program; none may
    rename another's temporary file away (they once shared one ``.part`` name)."""
    from concurrent.futures import ThreadPoolExecutor

    fetched = threading.Barrier(6)
    real_get = theta.httpx.get

    def get_then_wait(*args: Any, **kwargs: Any) -> Any:
        response = real_get(*args, **kwargs)
        fetched.wait(timeout=30)  # every fit holds its download before any writes it
        return response

    monkeypatch.setattr(theta.httpx, "get", get_then_wait)

    def first_use(_: int) -> Path:
        return theta.public_theta_template(program="llama70b")

    with ThreadPoolExecutor(6) as pool:
        paths = list(pool.map(first_use, range(6)))
    assert len(set(paths)) == 1 and paths[0].is_file()
    assert "[llama70b] instruction." in paths[0].read_text()
    assert not [p for p in paths[0].parent.rglob("*") if p.name.endswith((".part", ".tmp"))]
