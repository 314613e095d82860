"""Shared test setup: every test's data (Hub copies, fixtures, caches) lives in a temp folder."""

import os
import tempfile

# Set before any test module imports the package, and inherited by nbval's and the
# runner's kernels, so that tests never read or write the developer's data/ folder.
os.environ.setdefault("PERSONA_JUDGE_DATA", tempfile.mkdtemp(prefix="persona-judge-tests-"))
