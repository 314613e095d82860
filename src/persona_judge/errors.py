"""The study's expected problems: one base class, so a bug is never mistaken for bad input.

Every problem a user can cause or fix (a bad preferences file, missing data, no or a
broken LLM endpoint, a bad setting, an output folder that cannot be written) raises a
subclass of :class:`PersonaJudgeError` whose message is one paragraph naming the file,
row, setting or endpoint and what to do. The command line prints such messages and
exits with status 2; any other exception is a bug and keeps its traceback (exit 1).

Most subclasses live next to the code that raises them (``PreferenceDataError`` in
``data.validation``, the endpoint errors in ``llm.endpoint``, ``CacheError`` in
``llm.cache``). The two here are shared by several modules.
"""

from __future__ import annotations


class PersonaJudgeError(Exception):
    """An expected problem with input, data, configuration or the endpoint (not a bug)."""


class SettingsError(PersonaJudgeError, ValueError):
    """A setting (command-line option, ``study.yaml`` key, client option) has a bad value.

    The message names the setting as the user wrote it and the values it accepts.
    """


class OutputError(PersonaJudgeError):
    """A result file or folder could not be written (disk full, no permission, a file in
    the way). The message names the path; nothing half-written is left behind."""
