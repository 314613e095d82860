"""Shared setup for the construction tests: the helpers in this folder are importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

