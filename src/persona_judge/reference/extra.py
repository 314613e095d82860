"""Is the optional ``[reference]`` extra installed, and import DSPy without network or disk cache.

The reference arm runs the authors' released package (``synthesizeme`` on PyPI, pinned with
the DSPy version it needs in ``pyproject.toml``'s ``reference`` extra). It is optional: a
real run that asks for it checks :func:`require_reference_extra` before anything starts,
and gets one line naming the install command if it is missing.

:func:`import_dspy` is the only place DSPy is imported. Before the import it makes sure
that LiteLLM (which DSPy imports) reads its bundled model-price map instead of fetching
one from the internet, that DSPy's own disk cache lives under the study's data folder
rather than the home directory (it stays empty: every call goes through the study's
client, whose SQLite cache is the one cache), and that LiteLLM sends no telemetry.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from persona_judge import paths
from persona_judge.errors import PersonaJudgeError

#: The released package and the DSPy it runs on (kept equal to pyproject's extra).
SYNTHESIZEME_VERSION = "0.0.11a1"
DSPY_VERSION = "2.6.12"
INSTALL_HINT = 'pip install -e ".[reference]"'
_MODULES = ("synthesizeme", "dspy")


class ReferenceExtraMissingError(PersonaJudgeError):
    """The reference arm was asked for but the ``[reference]`` extra is not installed."""


def reference_extra_missing() -> list[str]:
    """The modules of the extra that cannot be imported (empty when it is installed)."""
    return [name for name in _MODULES if importlib.util.find_spec(name) is None]


def require_reference_extra(setting: str = "reference_arm") -> None:
    """Raise :class:`ReferenceExtraMissingError` (one line, naming the fix) if the extra is
    missing; ``setting`` is the setting that asked for the reference arm."""
    missing = reference_extra_missing()
    if missing:
        raise ReferenceExtraMissingError(
            f"{setting}: the reference arm (the authors' synthesizeme=={SYNTHESIZEME_VERSION} "
            f"on dspy=={DSPY_VERSION}) needs the optional extra, and {', '.join(missing)} "
            f"is not installed: run `{INSTALL_HINT}`, or set {setting}: false")


def import_dspy() -> ModuleType:
    """``dspy``, imported with no network access at import time and no cache in $HOME."""
    require_reference_extra()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    if "DSPY_CACHEDIR" not in os.environ:
        os.environ["DSPY_CACHEDIR"] = str(paths.data_dir() / "cache" / "dspy-unused")
    return importlib.import_module("dspy")
