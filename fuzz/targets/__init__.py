"""Fuzz targets: one module per place dmslab decodes bytes it did not write.

Each module defines ``check(data: bytes) -> None``, which calls the reader and raises (an ``AssertionError``, or
the reader's own unexpected exception) when the reader breaks its contract, and ``SEEDS``, the seed kinds it is
started from (see :mod:`fuzz.seeds`). The modules import no atheris: ``fuzz/run.py`` drives them under libFuzzer
and ``tests/fuzz/test_regressions.py`` runs every committed regression input through the same ``check``.
"""

TARGETS = ("fastread", "structure", "part10", "parse_file", "ocr_page", "manual_csv")
