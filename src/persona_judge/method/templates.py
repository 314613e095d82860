"""Prompt templates as data: named, versioned text files with named sections.

Every prompt the method sends lives in ``src/persona_judge/prompts/<name>@<version>.txt``
(or in a file a user passes, e.g. their own persona-synthesis instruction Θ). A
file is split into sections by lines ``=== section ===`` (``system``, ``user``
and any building blocks such as ``demo``); placeholders are ``$name``
(:class:`string.Template`), so braces in prompts and in user content need no
escaping. The template id ``name@version`` is passed to every ``ChatRequest``
and so enters the LLM cache key: editing a prompt means bumping its version
(a new file), which invalidates exactly the cached answers it affects. A
template loaded from an arbitrary path whose stem has no ``@version`` gets the
version ``sha-<first 10 hex digits of its content>`` for the same reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from string import Template

from persona_judge.errors import SettingsError


class TemplateError(SettingsError):
    """A prompt template (e.g. your own persona instruction file) is malformed."""


class TemplateNotFoundError(TemplateError, FileNotFoundError):
    """No template file at the given path, or no packaged template with that id."""


_SECTION = re.compile(r"^=== ([a-z_]+) ===[ \t]*$", re.MULTILINE)

# The templates the method uses (roles -> template id). JSON A/B answers ("ours"):
JUDGE_DEFAULT = "judge_default@v1"
JUDGE_PERSONALIZED = "judge_personalized@v1"
JUDGE_SPECULATIVE = "judge_speculative@v1"  # step-1 traces: asked to speculate about the user
# Reasoning, then "Preference: First|Second" in free text (the public code's answer shape):
JUDGE_DEFAULT_FS = "judge_default_first_second@v1"
JUDGE_SPECULATIVE_FS = "judge_speculative_first_second@v1"
JUDGE_PERSONALIZED_FS = "judge_personalized_first_second@v1"
PERSONA_SYNTHESIS = "persona_synthesis@v1"
GENERATION_SYSTEM = "generation_system@v1"


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt template: its id (``name@version``) and its named text sections."""

    id: str
    sections: tuple[tuple[str, str], ...]
    source: str

    @property
    def name(self) -> str:
        return self.id.split("@", 1)[0]

    @property
    def version(self) -> str:
        return self.id.split("@", 1)[1]

    def section(self, key: str) -> str:
        for name, text in self.sections:
            if name == key:
                return text
        have = ", ".join(n for n, _ in self.sections)
        raise KeyError(
            f"Prompt template {self.id} ({self.source}) has no section '=== {key} ==='; "
            f"it has: {have}. Add the section to the template file."
        )

    def sections_named(self, key: str) -> list[str]:
        """Every section called ``key``, in file order (e.g. a Θ's worked demonstrations)."""
        return [text for name, text in self.sections if name == key]

    def has_section(self, key: str) -> bool:
        return any(name == key for name, _ in self.sections)

    def render(self, key: str, **values: str) -> str:
        """Fill section ``key``; a missing placeholder value is an error naming it."""
        try:
            return Template(self.section(key)).substitute(values)
        except KeyError as exc:
            have = ", ".join(f"${v}" for v in sorted(values)) or "none"
            raise KeyError(
                f"Prompt template {self.id} ({self.source}), section '=== {key} ===', uses "
                f"${exc.args[0]}, which is not filled in there (available: {have}); remove "
                "it, or write $$ for a literal dollar sign."
            ) from None
        except ValueError as exc:
            raise TemplateError(
                f"Prompt template {self.id}, section '{key}' has a malformed placeholder "
                f"({exc}); write a literal dollar sign as $$."
            ) from None


def parse_template(text: str, template_id: str, source: str) -> PromptTemplate:
    """Split template text into its ``=== section ===`` parts (whitespace kept inside)."""
    marks = list(_SECTION.finditer(text))
    if not marks:
        raise TemplateError(
            f"Prompt template {template_id} ({source}) has no sections; start it with a line "
            "'=== system ===' and add '=== user ===' before the user message."
        )
    sections = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.end():end]
        # One newline after the marker and one before the next marker are layout.
        body = body[1:] if body.startswith("\n") else body
        body = body[:-1] if body.endswith("\n") else body
        sections.append((mark.group(1), body))
    return PromptTemplate(template_id, tuple(sections), source)


@lru_cache(maxsize=64)
def load_template(name_or_path: str) -> PromptTemplate:
    """Load a packaged template by id (``"persona_synthesis@v1"``) or a template file by path."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".txt" or path.exists():
        if not path.is_file():
            raise TemplateNotFoundError(
                f"Prompt template file {path} does not exist; pass an existing .txt file "
                "or a packaged template id such as 'persona_synthesis@v1'."
            )
        text = path.read_text(encoding="utf-8")
        stem = path.stem
        if "@" not in stem:
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
            stem = f"{stem}@sha-{digest}"
        return parse_template(text, stem, str(path))
    if "@" not in name_or_path:
        raise TemplateError(
            f"Prompt template id {name_or_path!r} has no version; use 'name@version', "
            f"e.g. one of: {', '.join(available_templates())}."
        )
    resource = resources.files("persona_judge").joinpath("prompts", f"{name_or_path}.txt")
    if not resource.is_file():
        raise TemplateNotFoundError(
            f"No packaged prompt template {name_or_path!r}; available: "
            f"{', '.join(available_templates())}."
        )
    return parse_template(resource.read_text(encoding="utf-8"), name_or_path,
                          f"persona_judge/prompts/{name_or_path}.txt")


def available_templates() -> list[str]:
    """The ids of all packaged templates."""
    folder = resources.files("persona_judge").joinpath("prompts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))
