"""The layers hold: each package imports only those below it, and only assets/ and pipelines/ import
Dagster (the contracts are in pyproject.toml, checked by import-linter)."""

import subprocess
import sys
from pathlib import Path

from foundation.settings import PROJECT_ROOT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
