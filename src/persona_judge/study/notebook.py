"""The few calls every chapter notebook makes: banner, users, LLM client.

A notebook starts with ``show_mode_banner(mode)`` so that a smoke run can never be
mistaken for a result, loads its users with ``load_users`` and, if it needs a
model, gets the study's one cached client from ``open_llm``. In smoke mode that
client talks, through the real HTTP code path, to a local stand-in server that
answers from a scripted responder, with a fresh cache per kernel so a smoke
notebook's printed counts are the same on every run (nbval relies on this). In
real mode it uses the endpoint configured in the environment and the persistent
cache under ``data/cache``.
"""

from __future__ import annotations

import atexit
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from persona_judge import paths
from persona_judge.data import UserSplit, check_user_splits, load_benchmark

if TYPE_CHECKING:
    from persona_judge.llm import LLMClient

SMOKE_BANNER = (
    "**SMOKE RUN — not a result.** This page was executed on synthetic fixture data"
    "{llm}. Its numbers only show that the code runs end to end; they say nothing about "
    "SynthesizeMe. See *How to reproduce* for a real run."
)
_smoke_servers: list[Any] = []


def _display_markdown(text: str) -> None:
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # outside Jupyter: plain text is fine
        print(text)


def check_mode(mode: str) -> str:
    if mode not in ("real", "smoke"):
        raise ValueError(f"mode must be 'real' or 'smoke', got {mode!r} (notebook parameter "
                         "'mode')")
    return mode


def show_mode_banner(mode: str, *, needs_llm: bool = False) -> None:
    """Show the run's mode at the top of a chapter; loud for a smoke run."""
    check_mode(mode)
    if mode == "smoke":
        llm = " with a scripted stand-in LLM served locally" if needs_llm else ""
        _display_markdown("> " + SMOKE_BANNER.format(llm=llm))
    else:
        _display_markdown("*Real run: PersonalRewardBench from the Hugging Face Hub"
                          + (", judged by the configured LLM endpoint.*" if needs_llm else ".*"))


def load_users(
    dataset: str,
    mode: str,
    max_users: int | None = None,
    seed: int = 0,
    require: tuple[str, ...] = ("val", "test"),
) -> list[UserSplit]:
    """The benchmark's users, each with its own splits, sorted by id; see ``sample_users``."""
    import datasets

    datasets.disable_progress_bars()
    report = load_benchmark(dataset, check_mode(mode))  # type: ignore[arg-type]
    users = check_user_splits(report, require=require)
    return sample_users([users[i] for i in sorted(users)], max_users, seed)


def sample_users(users: list[UserSplit], max_users: int | None, seed: int) -> list[UserSplit]:
    """``max_users`` users drawn at random (seeded) from ``users``, kept in id order.

    The draw is over the users sorted by id, so it does not depend on the order of
    rows in the source; ``None`` (or a limit above the count) keeps everyone.
    """
    ordered = sorted(users, key=lambda u: u.user_id)
    if max_users is None or max_users >= len(ordered):
        return ordered
    if max_users < 1:
        raise ValueError(f"max_users must be at least 1 (or None for all), got {max_users}")
    keep = set(random.Random(seed).sample(range(len(ordered)), max_users))
    return [u for i, u in enumerate(ordered) if i in keep]


def open_llm(mode: str, model: str, *, cache_mode: str = "readwrite", **overrides: Any
             ) -> LLMClient:
    """The study's cached LLM client for this run mode.

    Smoke: a local stand-in OpenAI-compatible server (scripted answers) and a
    throw-away cache. Real: the endpoint from the environment (``TOGETHER_API_KEY``
    or ``LLM_BASE_URL``) and the persistent cache ``data/cache/llm-real.sqlite``.
    """
    from persona_judge.llm import client_from_env, endpoint_configured

    if check_mode(mode) == "smoke":
        from persona_judge.llm.standin import StandInServer
        from persona_judge.method.smoke import smoke_responder

        server = StandInServer(responder=smoke_responder)
        server.__enter__()
        _smoke_servers.append(server)
        atexit.register(server.__exit__, None, None, None)
        cache_dir = Path(tempfile.mkdtemp(prefix="persona-judge-smoke-"))
        # Always the keyless OpenAI-compatible backend: a real TOGETHER_API_KEY in the
        # environment must never be sent to the stand-in. No progress bars: a smoke
        # notebook's outputs are nbval's record and must not vary between runs.
        overrides = {"progress": False, **overrides}
        return client_from_env(model, cache_path=cache_dir / "llm-smoke.sqlite",
                               cache_mode=cache_mode, base_url=server.url,
                               backend="openai-compatible", **overrides)
    if not endpoint_configured():
        raise RuntimeError(
            "No LLM endpoint is configured. Set TOGETHER_API_KEY (Together AI) or LLM_BASE_URL "
            "(any OpenAI-compatible server, e.g. http://localhost:8000/v1) in the environment, "
            "or run this notebook in smoke mode (-p mode smoke).")
    return client_from_env(model, cache_path=paths.cache_path("real"), cache_mode=cache_mode,
                           **overrides)
