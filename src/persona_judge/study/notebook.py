"""The few calls every chapter notebook makes: banner, users, LLM client.

A notebook starts with ``show_mode_banner(mode)`` so that a smoke run can never be
mistaken for a result, loads its users with ``load_users`` (the benchmark chapter:
``load_benchmark_data``, which also returns what was skipped) and, if it needs a
model, gets the study's one cached client from ``open_llm(mode, model,
**llm_settings)``. In smoke mode that client talks, through the real HTTP code
path, to a local stand-in server that answers from a scripted responder (the
method's :func:`~persona_judge.method.smoke.smoke_responder`, or the chapter's own
``responder=``), with a fresh cache per kernel so a smoke notebook's printed counts
are the same on every run (nbval relies on this), and without any API key. In
real mode it uses the endpoint configured in the environment and the persistent
cache under ``data/cache``. Local mode (``make real-check``) is a **local model check**:
the fixture data of a smoke run, judged by the endpoint in the environment (a tiny model
served on this machine), with its own cache ``data/cache/llm-local.sqlite``; its numbers
say that a real model drives the code, nothing about SynthesizeMe. ``llm_settings`` are
the client settings of ``study.yaml`` (timeout, connect_timeout, max_retries, max_concurrency,
structured_output, ...; see ``persona_judge.llm.ClientConfig``); an unknown or
bad one is a :class:`~persona_judge.errors.SettingsError` naming it.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from persona_judge import paths
from persona_judge.data import LoadReport, UserSplit, check_user_splits, load_benchmark
from persona_judge.data.benchmark import bad_row_share_setting, pinned_revision, study_settings
from persona_judge.errors import SettingsError

if TYPE_CHECKING:
    from persona_judge.llm import LLMClient

SMOKE_BANNER = (
    "**SMOKE RUN — not a result.** This page was executed on synthetic fixture data"
    "{llm}. Its numbers only show that the code runs end to end; they say nothing about "
    "SynthesizeMe. See *How to reproduce* for a real run."
)
LOCAL_BANNER = (
    "**LOCAL MODEL CHECK — not a result.** This page was executed on synthetic fixture data"
    "{llm}. Its numbers only show that a real model drives the code end to end; they say "
    "nothing about SynthesizeMe."
)
MODES = ("real", "smoke", "local")


def _display_markdown(text: str) -> None:
    """Markdown in a notebook; the plain text anywhere else (a script, a test, a terminal)."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(text)
        return
    display(Markdown(text))


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise SettingsError(f"mode must be 'real', 'smoke' or 'local', got {mode!r} (notebook "
                            "parameter 'mode')")
    return mode


def data_mode(mode: str) -> str:
    """The data a run mode reads: fixtures for ``smoke`` and ``local``, the Hub for ``real``."""
    return "real" if check_mode(mode) == "real" else "smoke"


def run_label(mode: str) -> str:
    """The prefix of every caption of a run that is not a result ("" for a real run)."""
    return {"real": "", "smoke": "SMOKE RUN (scripted stand-in, not a result). ",
            "local": "LOCAL MODEL CHECK (a tiny local model on fixture data, not a result). "
            }[check_mode(mode)]


def show_mode_banner(mode: str, *, needs_llm: bool = False) -> None:
    """Show the run's mode at the top of a chapter; loud for a smoke run."""
    check_mode(mode)
    if mode == "smoke":
        llm = " with a scripted stand-in LLM served locally" if needs_llm else ""
        _display_markdown("> " + SMOKE_BANNER.format(llm=llm))
    elif mode == "local":
        llm = ", judged by a tiny model served on this machine" if needs_llm else ""
        _display_markdown("> " + LOCAL_BANNER.format(llm=llm))
    else:
        _display_markdown("*Real run: PersonalRewardBench from the Hugging Face Hub"
                          + (", judged by the configured LLM endpoint.*" if needs_llm else ".*"))


@dataclass
class BenchmarkData:
    """One dataset as a study chapter loads it: the load report, the usable users, the copy.

    ``report`` holds every valid preference (with its file and row), every
    skipped bad row and every user set aside (``report.set_aside``); ``users``
    are the users with the required splits, sorted by id; ``revision`` names the
    copy that was read (a Hub commit, or the fixture's seed).
    """

    dataset: str
    report: LoadReport
    users: list[UserSplit]

    @property
    def revision(self) -> str:
        return self.report.revision


def load_benchmark_data(
    dataset: str,
    mode: str,
    *,
    require: tuple[str, ...] = ("train", "test"),
    revision: str | None = None,
    max_bad_row_share: float | None = None,
) -> BenchmarkData:
    """Load one dataset the way every study chapter does: skip and count bad rows.

    Bad rows are skipped and reported; the load fails (``TooManyBadRowsError``) only
    if more than ``max_bad_row_share`` of the rows are bad. Users without every
    split in ``require`` (default: train and test -- a user with 0 or 1 validation
    pairs is kept, and the method takes a documented fallback) are set aside and
    listed with the reason. ``revision`` and ``max_bad_row_share`` default to
    ``hub_revisions`` and ``max_bad_row_share`` in ``study.yaml``.
    """
    settings = study_settings()
    share = max_bad_row_share if max_bad_row_share is not None else \
        bad_row_share_setting(settings)
    pinned = revision if revision is not None else pinned_revision(dataset, settings)
    report = load_benchmark(dataset, data_mode(mode), on_error="skip",  # type: ignore[arg-type]
                            revision=pinned, max_bad_row_share=share)
    users = check_user_splits(report, require=require, on_error="skip")
    return BenchmarkData(dataset, report, [users[u] for u in sorted(users)])


def load_users(
    dataset: str,
    mode: str,
    max_users: int | None = None,
    seed: int = 0,
    require: tuple[str, ...] = ("train", "test"),
    *,
    revision: str | None = None,
    max_bad_row_share: float | None = None,
) -> list[UserSplit]:
    """The benchmark's usable users, each with its own splits, sorted by id; see ``sample_users``.

    The load is :func:`load_benchmark_data`'s: bad rows skipped and counted (the
    benchmark chapter shows them), users without training or test pairs set aside.
    """
    data = load_benchmark_data(dataset, mode, require=require, revision=revision,
                               max_bad_row_share=max_bad_row_share)
    note = set_aside_note(data)
    if note:
        _display_markdown(note.strip())
    return sample_users(data.users, max_users, seed)


def set_aside_note(data: BenchmarkData) -> str:
    """One paragraph on what a load left out (bad rows, users set aside); empty if nothing."""
    parts = []
    report = data.report
    if report.skipped:
        parts.append(f"{report.n_skipped} bad row(s) of {report.n_rows} skipped (the benchmark "
                     "chapter lists them)")
    if report.set_aside:
        parts.append(f"{len(report.set_aside)} user(s) set aside: " + "; ".join(
            f"{u.user_id} ({u.reason})" for u in report.set_aside))
    return f"{data.dataset}: " + "; ".join(parts) + "." if parts else ""


def sample_users(users: list[UserSplit], max_users: int | None, seed: int) -> list[UserSplit]:
    """``max_users`` users drawn at random (seeded) from ``users``, kept in id order.

    The draw is over the users sorted by id, so it does not depend on the order of
    rows in the source; ``None`` (or a limit above the count) keeps everyone.
    """
    ordered = sorted(users, key=lambda u: u.user_id)
    if max_users is None or max_users >= len(ordered):
        return ordered
    if max_users < 1:
        raise SettingsError(f"setting 'max_users' must be at least 1 (or null for all), "
                            f"got {max_users}")
    keep = set(random.Random(seed).sample(range(len(ordered)), max_users))
    return [u for i, u in enumerate(ordered) if i in keep]


Responder = Callable[[dict[str, Any]], str]
_SMOKE_THETA: list[Any] = []  # the process's stand-in program server, once started


def _serve_smoke_theta() -> None:
    """Serve a stand-in of the released persona program on 127.0.0.1 for this process, so
    smoke runs of ``persona_instruction="public"`` never reach the network. Started once
    and left running (fits of several clients may overlap); a ``PERSONA_JUDGE_THETA_URL``
    already set (e.g. by the tests) is left alone."""
    from persona_judge.llm.standin import StandInServer
    from persona_judge.method import theta
    from persona_judge.method.smoke import smoke_theta_program

    if _SMOKE_THETA or os.environ.get(theta.URL_ENV):
        return
    program = json.dumps(smoke_theta_program()).encode()
    server = StandInServer(files={f"/smoke-theta/{n}.json": program for n in theta.PROGRAMS})
    server.start()
    _SMOKE_THETA.append(server)
    os.environ[theta.URL_ENV] = f"{server.url}/smoke-theta/"
    # the download is kept per URL, and the port differs every run: leave nothing behind
    mirror = theta.theta_dir()
    atexit.register(shutil.rmtree, mirror, True)


@contextmanager
def smoke_llm(model: str, *, cache_path: str | Path | None = None,
              responder: Responder | None = None, **overrides: Any) -> Iterator[LLMClient]:
    """A client wired to a local stand-in server with scripted answers, for smoke runs.

    ``responder`` (``request body -> answer text``) scripts the answers; default:
    the method's smoke responder. Always the keyless OpenAI-compatible backend, so
    no key at all is sent to the stand-in (a real ``TOGETHER_API_KEY`` in the
    environment is never used); no progress bars by default, so a smoke notebook's
    outputs (nbval's record) do not vary between runs. Without ``cache_path`` the
    cache is a throw-away folder, removed on exit with everything in it.
    """
    from persona_judge.llm import client_from_env
    from persona_judge.llm.standin import StandInServer
    from persona_judge.method.smoke import smoke_responder

    _serve_smoke_theta()
    with ExitStack() as stack:
        server = stack.enter_context(StandInServer(responder=responder or smoke_responder))
        if cache_path is None:
            cache_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="persona-judge-smoke-"))
            cache_path = Path(cache_dir) / "llm-smoke.sqlite"
        client = client_from_env(model, cache_path=cache_path, base_url=server.url,
                                 backend="openai-compatible", keyless=True,
                                 **{"progress": False, **overrides})
        stack.callback(client.close)
        yield client


def real_llm(model: str, *, cache_path: str | Path | None = None, **overrides: Any
             ) -> LLMClient:
    """The client for the endpoint in the environment, with the persistent real-run cache.

    Raises :class:`~persona_judge.llm.NoEndpointError`, saying how to configure an
    endpoint (or use smoke mode), when neither ``TOGETHER_API_KEY`` nor
    ``LLM_BASE_URL`` is set.
    """
    from persona_judge.llm import client_from_env

    require_endpoint()
    return client_from_env(model, cache_path=cache_path or paths.cache_path("real"),
                           **overrides)


def require_endpoint() -> None:
    """Raise :class:`~persona_judge.llm.NoEndpointError`, saying what to set, unless the
    environment configures an LLM endpoint (cheap: reads environment variables only)."""
    from persona_judge.llm.endpoint import NoEndpointError, endpoint_configured

    if not endpoint_configured():
        raise NoEndpointError(
            "No LLM endpoint is configured. Set TOGETHER_API_KEY (Together AI) or LLM_BASE_URL "
            "(any OpenAI-compatible server, e.g. http://localhost:8000) in the environment, "
            "or use smoke mode (-p mode smoke in a notebook, --smoke for `persona-judge fit`).")


def open_llm(mode: str, model: str, *, cache_mode: str = "readwrite",
             responder: Responder | None = None, **llm_settings: Any) -> LLMClient:
    """The study's cached LLM client for a notebook in this run mode.

    Smoke: ``smoke_llm`` (answers from ``responder``, default the method's smoke
    responder), kept open until the kernel exits. Real: ``real_llm``, the endpoint
    from the environment and ``data/cache/llm-real.sqlite`` (``responder`` is
    ignored: a real model answers). ``llm_settings`` are client settings, e.g. the
    chapter's ``llm_settings`` parameter from ``study.yaml``. Local: like real, with the
    cache ``data/cache/llm-local.sqlite`` (a tiny model's answers never mix with a real run's).
    """
    if check_mode(mode) == "local":
        return real_llm(model, cache_path=paths.cache_path("local"), cache_mode=cache_mode,
                        **llm_settings)
    if mode == "smoke":
        context = smoke_llm(model, cache_mode=cache_mode, responder=responder, **llm_settings)
        client = context.__enter__()
        atexit.register(context.__exit__, None, None, None)
        return client
    return real_llm(model, cache_mode=cache_mode, **llm_settings)
