"""The reference arm: the authors' own code (PyPI ``synthesizeme``), run through our client.

:class:`~persona_judge.reference.method.OfficialCodeMethod` fits and judges users with the
released package on the study's ``PreferenceMethod`` interface; its DSPy calls go through
:class:`~persona_judge.reference.lm.StudyLM` (the one cached client). Both need the optional
extra (``pip install -e ".[reference]"``); :func:`require_reference_extra` says so in one
line. :func:`~persona_judge.reference.smoke.dspy_format_answer` lets the smoke stand-in
answer DSPy's chat format (no DSPy needed).
"""

from persona_judge.reference.extra import (
    INSTALL_HINT,
    ReferenceExtraMissingError,
    reference_extra_missing,
    require_reference_extra,
)
from persona_judge.reference.smoke import dspy_format_answer

__all__ = ["INSTALL_HINT", "ReferenceExtraMissingError", "dspy_format_answer",
           "reference_extra_missing", "require_reference_extra"]
