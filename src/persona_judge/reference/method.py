"""The reference arm: the authors' released code, fitted and judged on our users via our client.

:class:`OfficialCodeMethod` wraps ``synthesizeme.SynthesizeMe`` (PyPI ``synthesizeme==0.0.11a1``,
the optional ``[reference]`` extra) behind the study's ``PreferenceMethod`` interface, so
chapter 05 can put "official code" beside our own implementation on exactly the same users
and test pairs:

* **fit** hands the user's train and validation preferences (as the benchmark rows the
  package reads: ``context``, ``chosen``, ``rejected``, ``flip``, ...; PRISM's ``model``
  role as written) to ``SynthesizeMe(...).fit(train, val)``, which runs the package's own
  bootstrap, its released persona program (loaded from the installed package's data, never
  stored here) and its demo search. The state kept is plain JSON: the persona and the
  fitted judge program's DSPy state.
* **judge_pairs** rebuilds the package's persona judge from that state and asks it about
  each test pair in the order given (reply A shown as its first completion), with the
  conversation and replies formatted by the package's own formatter, as its ``evaluate``
  does. "First"/"Second" become A/B; the package's ties and its give-ups after four failed
  attempts count as wrong under our protocol, like every method's.

Every LM call goes through :class:`persona_judge.reference.lm.StudyLM`, i.e. the study's one
cached client (cached, counted, priced, resumable; see that module for why an adapter
rather than a local endpoint). DSPy's settings are global and its worker threads inherit
only the global configuration, so all of the arm's DSPy work runs on one dedicated thread
that configures the LM before each job: users are fitted one after another (each fit is
itself parallel inside the package). A user with no train or no validation pair cannot be
fitted by the package (it refuses); that user is judged by the package's default judge
program, and the judgments say so (``flag``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from persona_judge.data.records import Preference, Turn, UserSplit
from persona_judge.errors import PersonaJudgeError
from persona_judge.llm import ChatRequest, Judgment
from persona_judge.method.judge import Order, correct_letter
from persona_judge.reference.extra import require_reference_extra

NAME = "Official code (synthesizeme 0.0.11a1)"
log = logging.getLogger(__name__)
T = TypeVar("T")

_DSPY_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dspy-official")


class OfficialCodeError(PersonaJudgeError):
    """The official code could not be run as asked (the message names user and cause)."""


@dataclass(frozen=True)
class OfficialState:
    """What the official code learned about one user (plain JSON)."""

    user_id: str
    persona: str | None
    program: dict[str, Any] | None
    n_demos: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "persona": self.persona, "program": self.program,
                "n_demos": self.n_demos, "note": self.note, "extra": self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OfficialState:
        return cls(**data)


def _turn(turn: Turn) -> dict[str, str]:
    return {"role": turn.source_role or turn.role, "content": turn.content}


def package_rows(preferences: Sequence[Preference]) -> list[dict[str, Any]]:
    """Our preferences as the benchmark rows the package reads (its ``fit`` input).

    ``flip`` (which reply the package shows first when it scores validation) is passed
    when every row has it, as the benchmark's rows do; otherwise the package draws it."""
    with_flip = all(p.flip is not None for p in preferences)
    rows = []
    for p in preferences:
        row = {"context": [_turn(t) for t in p.context], "chosen": _turn(p.chosen),
               "rejected": _turn(p.rejected), "conversation_id": p.conversation_id,
               "type": p.type or "default", "dataset": p.dataset or "default",
               "user_id": p.user_id}
        if with_flip:
            row["flip"] = bool(p.flip)
        rows.append(row)
    return rows


def _plain(state: Any) -> Any:
    """A DSPy state with its Examples as dicts, JSON-safe."""
    return json.loads(json.dumps(state, default=lambda o: o.toDict() if hasattr(o, "toDict")
                                 else str(o)))


class OfficialCodeMethod:
    """The authors' ``SynthesizeMe`` behind the ``PreferenceMethod`` interface (module doc).

    ``seed`` is the package's (its default, 42); ``num_workers`` / ``num_workers_bootstrap``
    its thread counts (the study's client caps calls in flight whatever they are);
    ``persona_program`` a path to another released persona program of the package
    (``None``: the package's default, ``llama70b.json``, as the authors' class loads it).
    """

    name = NAME

    def __init__(self, *, seed: int = 42, num_workers: int = 4, num_workers_bootstrap: int = 8,
                 persona_program: str | None = None, name: str | None = None) -> None:
        require_reference_extra()
        self.seed = seed
        self.num_workers = num_workers
        self.num_workers_bootstrap = num_workers_bootstrap
        self.persona_program = persona_program
        if name:
            self.name = name

    # -- running DSPy -------------------------------------------------------------------
    def _run(self, client: Any, job: Callable[[], T]) -> T:
        """Run ``job`` on the DSPy thread with the study's client as DSPy's LM."""
        from persona_judge.reference.lm import StudyLM, dspy

        lm = StudyLM(client)

        def configured() -> T:
            # provide_traceback: a setting of later DSPy that the package's patched
            # executor reads; 2.6.12 (the version its persona program was saved with)
            # lacks it, so it is set here, off as in later DSPy's defaults.
            dspy.settings.configure(lm=lm, provide_traceback=False)
            quiet = io.StringIO()  # the package prints each failed attempt; keep it for logs
            try:
                with contextlib.redirect_stdout(quiet):
                    return job()
            finally:
                if quiet.getvalue():
                    log.debug("official code printed: %s", quiet.getvalue())
        try:
            result = _DSPY_THREAD.submit(configured).result()
        except Exception as exc:
            # The package may turn our client's stop into an error of its own (or a
            # TypeError in its persona retry loop): the client's reason is the one to show.
            if lm.stopped is not None:
                raise lm.stopped from exc
            raise
        if lm.stopped is not None:
            raise lm.stopped
        return result

    # -- PreferenceMethod -----------------------------------------------------------------
    def fit(self, user_split: UserSplit, client: Any) -> OfficialState:
        """Run the package's ``SynthesizeMe.fit`` on this user's train and validation pairs."""
        if not user_split.train or not user_split.val:
            missing = "train" if not user_split.train else "validation"
            return OfficialState(user_split.user_id, None, None,
                                 note=f"no {missing} pairs: the package cannot fit this user; "
                                      "judged by its default judge")

        def job() -> OfficialState:
            from synthesizeme.personalrm.synthesizeme import SynthesizeMe

            from persona_judge.reference.lm import dspy

            model = SynthesizeMe(
                user_id=user_split.user_id, seed=self.seed, num_workers=self.num_workers,
                num_workers_bootstrap=self.num_workers_bootstrap, lm=dspy.settings.lm,
                persona_synthesis_program_path=self.persona_program,
                progress_update_hook=lambda progress, message: None)
            program = model.fit(package_rows(user_split.train), package_rows(user_split.val))
            return OfficialState(user_split.user_id, str(model.persona),
                                 _plain(program.dump_state()),
                                 n_demos=len(program.judge_persona.predict.demos))
        return self._run(client, job)

    def judge_request(self, state: OfficialState, preference: Preference, order: Order
                      ) -> ChatRequest:
        raise TypeError(
            f"{self.name} judges through the authors' DSPy program, not one request; "
            "evaluate it with persona_judge.evaluation.predict (it calls judge_pairs)")

    def judge_pairs(self, state: OfficialState, jobs: Sequence[tuple[Preference, Order]],
                    client: Any) -> list[Judgment]:
        """Verdicts of the fitted official program on ``jobs`` (pair, order), in order."""
        def job() -> list[Judgment]:
            program = self._program(state)
            with ThreadPoolExecutor(max_workers=max(1, self.num_workers),
                                    thread_name_prefix="dspy-judge") as pool:
                return list(pool.map(lambda j: self._judge(program, *j), jobs))
        return self._run(client, job) if jobs else []

    def prompt_content(self, state: OfficialState) -> tuple[str, str]:
        if state.persona is None:
            return "nothing", state.note
        return ("persona + demos" if state.n_demos else "persona"), ""

    # -- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _program(state: OfficialState) -> Any:
        from synthesizeme.utils.dspy_methods import (
            LLMAsAJudgeProgram,
            LLMAsAJudgeProgramPersona,
        )

        if state.persona is None:
            return LLMAsAJudgeProgram()
        program = LLMAsAJudgeProgramPersona(state.persona)
        program.load_state(state.program)
        return program

    @staticmethod
    def _judge(program: Any, preference: Preference, order: Order) -> Judgment:
        from synthesizeme.utils.format_conv import format_conversation

        from persona_judge.reference.lm import meter

        first, second = ((preference.chosen, preference.rejected)
                         if correct_letter(order) == "A"
                         else (preference.rejected, preference.chosen))
        with meter() as tally:
            answer = program(conversation=format_conversation([_turn(t) for t in
                                                               preference.context]),
                             completion_one=format_conversation(_turn(first)),
                             completion_two=format_conversation(_turn(second)))
        said = str(answer.preference)
        choice = {"First": "A", "Second": "B"}.get(said)
        failure = kind = None
        if choice is None:
            if str(answer.reasoning) != "Error":
                failure, kind = f"the official program answered {said!r} (a tie)", "tie"
            elif tally.errors:
                failure, kind = "the official program's calls failed", "call_failed"
            else:
                failure, kind = ("no parseable answer in the official program's four attempts",
                                 "unparseable")
        return Judgment(choice=choice, reasoning=str(answer.reasoning), failure=failure,  # type: ignore[arg-type]
                        attempts=max(1, tally.calls), prompt_tokens=tally.prompt_tokens,
                        completion_tokens=tally.completion_tokens, failure_kind=kind,
                        parse_failures=0 if choice or kind == "tie" else 1)
