"""Fit any ``PreferenceMethod`` on many users, then judge their test pairs in both orders.

:func:`fit_users` fits users concurrently (a thread pool across users; each
user's own LLM batches go through the client, which caps calls in flight), with
a tqdm bar. :func:`evaluate` builds one judge request per test pair per order
(``chosen_first`` and ``rejected_first``) for every user and sends them as one
batch, so N test pairs cost exactly 2N calls on a cold cache and none on a warm
one. Each judgment becomes a :class:`JudgmentRecord`; a judgment is correct only
if it names the slot holding the user's chosen reply, so ties, unparseable
answers and failed calls count as wrong. Each record also says what the
method's prompt carried for that user (``carries``: persona + demos, persona,
demos, nothing) and ``flag`` when it carried less than the method asks for (e.g.
"just personas" for a user with no usable persona is the default judge, and says
so); methods report this through an optional ``prompt_content(state)``.

Several methods that share fits are evaluated with :func:`evaluate_many`:
one batch for all of them, one record each. A method with its own program instead of
requests (the authors' code, :mod:`persona_judge.reference`) has ``judge_pairs(state,
[(pair, order)], client)``, called once per user with that user's jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, TypeVar

import pandas as pd
from tqdm import tqdm

from persona_judge.data.records import Preference, UserSplit
from persona_judge.errors import PersonaJudgeError
from persona_judge.evaluation.protocol import PreferenceMethod
from persona_judge.method.judge import ORDERS, Order, correct_letter

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class FitFailedError(PersonaJudgeError):
    """A user's fit stopped on an expected problem; the message names the user and method."""


@dataclass(frozen=True)
class JudgmentRecord:
    """One judgment of one test pair in one order by one method."""

    method: str
    user_id: str
    pair_id: str
    order: Order
    choice: str | None
    correct: bool
    failure: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    carries: str = ""
    flag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_concurrently(jobs: Mapping[K, Callable[[], T]], *, failed: Callable[[K], str],
                     max_workers: int = 4, progress: bool = False, desc: str = "fit",
                     thread_name: str = "fit") -> dict[K, T]:
    """Run fit ``jobs`` (key -> no-argument function) on a thread pool; ``{key: result}``
    in the jobs' order.

    A job that stops on an expected problem (:class:`~persona_judge.errors.PersonaJudgeError`:
    bad data, a dead endpoint) stops the rest with a :class:`FitFailedError` whose message
    starts with ``failed(key)``; anything else is a bug and keeps its own type and traceback.
    The LLM calls of jobs already finished are in the client's cache, so a rerun repeats none.
    """
    done: dict[K, T] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers),
                            thread_name_prefix=thread_name) as pool:
        futures = {pool.submit(job): key for key, job in jobs.items()}
        bar = tqdm(total=len(futures), desc=desc, disable=not progress)
        try:
            for future in as_completed(futures):
                key = futures[future]
                try:
                    done[key] = future.result()
                except PersonaJudgeError as exc:
                    for other in futures:
                        other.cancel()
                    raise FitFailedError(f"{failed(key)}: {exc}") from exc
                except BaseException:
                    for other in futures:
                        other.cancel()
                    raise
                bar.update(1)
        finally:
            bar.close()
    return {key: done[key] for key in jobs}


def fit_users(method: PreferenceMethod, user_splits: Sequence[UserSplit], client: Any, *,
              max_workers: int = 4, progress: bool = True) -> dict[str, Any]:
    """Fit ``method`` on each user (concurrently); ``{user_id: state}`` in input order.

    A user whose fit stops on an expected problem stops the run with an error naming the
    user (:func:`fit_concurrently`).
    """
    return fit_concurrently(
        {u.user_id: partial(method.fit, u, client) for u in user_splits},
        failed=lambda user_id: f"Fitting {method.name} failed for user {user_id!r}",
        max_workers=max_workers, progress=progress, desc=f"fit {method.name}",
        thread_name="fit-user")


def prompt_content(method: PreferenceMethod, state: Any) -> tuple[str, str]:
    """(what the method's prompt carries for this state, flag); ``("", "")`` if unknown."""
    describe = getattr(method, "prompt_content", None)
    return describe(state) if describe is not None else ("", "")


def _record(method: str, pref: Preference, order: Order, judgment: Any,
            content: tuple[str, str] = ("", "")) -> JudgmentRecord:
    return JudgmentRecord(
        method=method, user_id=pref.user_id, pair_id=pref.pair_id, order=order,
        choice=judgment.choice, correct=judgment.choice == correct_letter(order),
        failure=judgment.failure, attempts=int(judgment.attempts),
        prompt_tokens=int(judgment.prompt_tokens),
        completion_tokens=int(judgment.completion_tokens),
        carries=content[0], flag=content[1])


def predict(method: PreferenceMethod, state: Any, preferences: Iterable[Preference], client: Any,
            orders: Sequence[Order] = ORDERS) -> list[JudgmentRecord]:
    """Judge ``preferences`` with a fitted ``state``, once per order (default: both)."""
    jobs = [(p, o) for p in preferences for o in orders]
    judge_pairs = getattr(method, "judge_pairs", None)
    if judge_pairs is not None:  # a method that judges through its own program
        judgments = judge_pairs(state, jobs, client)
    else:
        requests = [method.judge_request(state, p, o) for p, o in jobs]
        judgments = client.judge_many(requests, desc=f"judge {method.name}")
    content = prompt_content(method, state)
    return [_record(method.name, p, o, j, content)
            for (p, o), j in zip(jobs, judgments, strict=True)]


def evaluate(method: PreferenceMethod, user_splits: Sequence[UserSplit], client: Any,
             states: Mapping[str, Any], *, split: str = "test",
             orders: Sequence[Order] = ORDERS) -> list[JudgmentRecord]:
    """Judge every user's ``split`` pairs in both orders as one batch; one record each."""
    return evaluate_many([(method, states)], user_splits, client, split=split, orders=orders)


def evaluate_many(methods: Sequence[tuple[PreferenceMethod, Mapping[str, Any]]],
                  user_splits: Sequence[UserSplit], client: Any, *, split: str = "test",
                  orders: Sequence[Order] = ORDERS, desc: str | None = None
                  ) -> list[JudgmentRecord]:
    """Several (method, states) on the same users' pairs, all in one client batch.

    Each user is judged with that user's own state (looked up by ``user_id``); a
    missing state is an error naming the user and the method.
    """
    jobs = []
    for method, states in methods:
        for user in user_splits:
            if user.user_id not in states:
                raise KeyError(f"No fitted state for user {user.user_id!r} ({method.name}); "
                               "run fit_users on the same users first.")
            state = states[user.user_id]
            content = prompt_content(method, state)
            jobs.extend((method, state, content, p, o)
                        for p in getattr(user, split) for o in orders)
    names = ", ".join(m.name for m, _ in methods)
    judgments = _judge_jobs(jobs, client, desc or f"evaluate {names}")
    return [_record(m.name, p, o, j, content)
            for (m, _, content, p, o), j in zip(jobs, judgments, strict=True)]


def _judge_jobs(jobs: Sequence[tuple[Any, Any, Any, Preference, Order]], client: Any,
                desc: str) -> list[Any]:
    """Verdicts for (method, state, content, pair, order) jobs, in order: one client batch for
    the methods that build requests; methods with a ``judge_pairs(state, [(pair, order)],
    client)`` (the official code's DSPy program) judge their own jobs, user by user."""
    own = [i for i, job in enumerate(jobs) if hasattr(job[0], "judge_pairs")]
    if not own:
        return client.judge_many([m.judge_request(st, p, o) for m, st, _, p, o in jobs],
                                 desc=desc)
    mine = set(own)
    rest = [i for i in range(len(jobs)) if i not in mine]
    judgments: list[Any] = [None] * len(jobs)
    answers = client.judge_many([jobs[i][0].judge_request(jobs[i][1], jobs[i][3], jobs[i][4])
                                 for i in rest], desc=desc) if rest else []
    for i, answer in zip(rest, answers, strict=True):
        judgments[i] = answer
    groups: dict[tuple[int, int], list[int]] = {}
    for i in own:
        groups.setdefault((id(jobs[i][0]), id(jobs[i][1])), []).append(i)
    for indices in groups.values():
        method, state = jobs[indices[0]][0], jobs[indices[0]][1]
        found = method.judge_pairs(state, [(jobs[i][3], jobs[i][4]) for i in indices], client)
        for i, answer in zip(indices, found, strict=True):
            judgments[i] = answer
    return judgments


def records_frame(records: Iterable[JudgmentRecord]) -> pd.DataFrame:
    """Judgment records as a DataFrame (one row per pair per order per method)."""
    rows = [r.to_dict() for r in records]
    columns = list(JudgmentRecord.__dataclass_fields__)
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("choice", "failure"):  # no verdict stays None (pandas would make it NaN)
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
