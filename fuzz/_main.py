#!/usr/bin/env python3
"""One fuzz target under libFuzzer (atheris): ``python fuzz/_main.py TARGET [libFuzzer options and folders]``.

Started by ``fuzz/run.py``; dmslab is imported inside ``atheris.instrument_imports`` so its code is coverage
instrumented (pydicom and numpy are not: the bytes are dmslab's to judge). The target's name is also passed on in
``DMSLAB_FUZZ_TARGET``: libFuzzer's ``-minimize_crash=1`` and ``-fork`` re-execute this script with its own options
only, without the name.

``DMSLAB_FUZZ_KEEP=TEXT`` counts only failures whose ``Type: message`` contains TEXT (others pass): for
``-minimize_crash=1``, so an input is minimised into the failure it was found for, not into an easier one.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

from targets import TARGETS

_ENV = "DMSLAB_FUZZ_TARGET"
if len(sys.argv) > 1 and sys.argv[1] in TARGETS:
    os.environ[_ENV] = sys.argv.pop(1)
if os.environ.get(_ENV) not in TARGETS:
    sys.exit(f"usage: {sys.argv[0]} TARGET [libFuzzer options and folders]; TARGET one of {', '.join(TARGETS)}")

with atheris.instrument_imports(include=["dmslab"]):
    target = importlib.import_module(f"targets.{os.environ[_ENV]}")


_KEEP = os.environ.get("DMSLAB_FUZZ_KEEP")


def _check_keeping(data: bytes) -> None:
    try:
        target.check(data)
    except Exception as exc:
        if _KEEP is None or _KEEP in f"{type(exc).__name__}: {exc}":
            raise


def main() -> None:
    atheris.Setup(sys.argv, _check_keeping if _KEEP else target.check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
