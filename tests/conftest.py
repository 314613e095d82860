"""Shared test setup: every test's data (Hub copies, fixtures, caches) lives in a temp folder,
and one smoke study with its book is built per session for the tests that read the book."""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set before any test module imports the package, and inherited by nbval's and the
# runner's kernels, so that tests never read or write the developer's data/ folder.
os.environ.setdefault("PERSONA_JUDGE_DATA", tempfile.mkdtemp(prefix="persona-judge-tests-"))


def _checkout_state(root: Path) -> list[str]:
    """Changed, new and ignored files in the checkout (bytecode caches aside)."""
    status = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked=all"],
                            cwd=root, capture_output=True, text=True).stdout
    return [line for line in status.splitlines() if "__pycache__" not in line]


@pytest.fixture(scope="session")
def smoke_site(tmp_path_factory) -> Path:
    """A smoke study with its book, built once per session into a temporary site.

    ``PERSONA_JUDGE_BOOK_SITE`` names a folder that ``persona-judge run --site`` already
    built, to reuse it (``make browser-test`` does not, so it always tests a fresh build).
    The build runs the README's study command in smoke mode, plus ``--site``, and must not
    write into the checkout.
    """
    from persona_judge.paths import project_root

    given = os.environ.get("PERSONA_JUDGE_BOOK_SITE")
    if given:
        site = Path(given)
        assert (site / "_build" / "html" / "index.html").is_file(), f"no built book in {site}"
        return site
    root = project_root()
    site = tmp_path_factory.mktemp("smoke-site")
    before = _checkout_state(root)
    result = subprocess.run(
        [sys.executable, "-m", "persona_judge.study", "run", "-p", "mode=smoke",
         "--site", str(site)], cwd=root, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _checkout_state(root) == before, "the smoke study wrote into the checkout"
    return site


@pytest.fixture(scope="session", autouse=True)
def released_program_stand_in() -> Iterator[str]:
    """A local server with a synthetic persona program of the released structure, so that
    fits with persona_instruction="public" (the faithful default) fetch it from 127.0.0.1.
    Tests that exercise the fetch itself point PERSONA_JUDGE_THETA_URL elsewhere."""
    from persona_judge.llm.standin import StandInServer
    from persona_judge.method import theta
    from persona_judge.method.smoke import smoke_theta_program

    body = json.dumps(smoke_theta_program()).encode()
    files = {f"/theta/{name}.json": body for name in theta.PROGRAMS}
    with StandInServer(files=files) as server:
        before = os.environ.get(theta.URL_ENV)
        os.environ[theta.URL_ENV] = f"{server.url}/theta/"
        yield os.environ[theta.URL_ENV]
        if before is None:
            os.environ.pop(theta.URL_ENV, None)
        else:
            os.environ[theta.URL_ENV] = before


@pytest.fixture(autouse=True)
def no_leftover_ipython_shell() -> Iterator[None]:
    """Clear an IPython shell a test left behind: while one exists, ``display`` hands
    objects to it instead of printing text, which changes what later tests read."""
    yield
    shell_module = sys.modules.get("IPython.core.interactiveshell")
    if shell_module is not None and shell_module.InteractiveShell.initialized():
        shell_module.InteractiveShell.clear_instance()
