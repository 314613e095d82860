"""The study's data: PersonalRewardBench (Hub or fixtures) and a person's own preferences."""

from persona_judge.data.benchmark import (
    BENCHMARKS,
    PAPER_USER_COUNTS,
    DataUnavailableError,
    load_benchmark,
)
from persona_judge.data.records import Preference, Turn, UserSplit, group_by_user
from persona_judge.data.user_file import load_preferences_file
from persona_judge.data.validation import (
    LoadReport,
    PreferenceDataError,
    check_user_splits,
    validate_rows,
)

__all__ = [
    "BENCHMARKS", "PAPER_USER_COUNTS", "DataUnavailableError", "LoadReport", "Preference",
    "PreferenceDataError", "Turn", "UserSplit", "check_user_splits", "group_by_user",
    "load_benchmark", "load_preferences_file", "validate_rows",
]
