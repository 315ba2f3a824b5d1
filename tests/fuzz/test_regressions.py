"""Every committed fuzz regression input through its target's contract check (plain pytest, no atheris).

``tests/fuzz/regressions/<target>/`` holds, per fuzz target of ``fuzz/targets/``, every input that ever broke the
target's contract (minimised where the bug allowed it), committed with its fix. A test here fails as soon as one
of them breaks the contract again.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
sys.path.insert(0, str(ROOT / "fuzz"))

from targets import TARGETS  # noqa: E402

CASES = sorted((d.name, f) for d in REGRESSIONS.iterdir() if d.is_dir() for f in sorted(d.iterdir()) if f.is_file())


def test_every_regression_folder_is_a_target():
    assert {name for name, _ in CASES} <= set(TARGETS)
    assert len(CASES) >= 5  # the four failures of issue 21 (one in two encodings), at least


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_regression_input_keeps_the_contract(target: str, path: Path):
    importlib.import_module(f"targets.{target}").check(path.read_bytes())


def test_every_target_has_seeds_and_a_dictionary():
    for name in TARGETS:
        mod = importlib.import_module(f"targets.{name}")
        assert mod.SEEDS and (ROOT / "fuzz" / mod.DICT).is_file(), name
