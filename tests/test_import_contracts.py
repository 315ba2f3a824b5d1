"""The import contracts in pyproject.toml ([tool.importlinter]) hold: data flows one way through the layers, the
store never imports pydicom, and SQL (SQLAlchemy, the drivers, the table definitions) lives in the store only.
Run here so that ``make test`` (and CI) enforces them, not only ``make lint``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    cmd = [str(exe) if exe.exists() else "lint-imports", "--no-cache"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout and done.stdout.count(" KEPT") >= 3
