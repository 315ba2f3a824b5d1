#!/usr/bin/env python3
"""One fuzz target under libFuzzer (atheris): ``python fuzz/_main.py TARGET [libFuzzer options and folders]``.

Started by ``fuzz/run.py``; dmslab is imported inside ``atheris.instrument_imports`` so its code is coverage
instrumented (pydicom and numpy are not: the bytes are dmslab's to judge).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["dmslab"]):
    target = importlib.import_module(f"targets.{sys.argv[1]}")


def main() -> None:
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target.check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
