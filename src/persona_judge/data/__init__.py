"""The study's data: PersonalRewardBench (Hub or fixtures) and a person's own preferences."""

from persona_judge.data.benchmark import (
    BENCHMARKS,
    PAPER_USER_COUNTS,
    DataUnavailableError,
    RevisionMismatchError,
    dataset_revision,
    load_benchmark,
)
from persona_judge.data.records import Preference, Turn, UserSplit, group_by_user
from persona_judge.data.user_file import load_preferences_file
from persona_judge.data.validation import (
    LoadReport,
    PreferenceDataError,
    TooManyBadRowsError,
    check_bad_row_share,
    check_unique_pairs,
    check_user_splits,
    validate_rows,
)

__all__ = [
    "BENCHMARKS", "PAPER_USER_COUNTS", "DataUnavailableError", "LoadReport", "Preference",
    "PreferenceDataError", "RevisionMismatchError", "TooManyBadRowsError", "Turn", "UserSplit",
    "check_bad_row_share", "check_unique_pairs", "check_user_splits", "dataset_revision",
    "group_by_user", "load_benchmark", "load_preferences_file", "validate_rows",
]
