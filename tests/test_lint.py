"""The code stays ruff-clean (configuration in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

from persona_judge.paths import project_root


def test_ruff_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "src", "tests", "benchmarks"],
                            cwd=project_root(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
