"""The header importers and everything else behind :func:`dmslab.ingest.parse_file`: it never raises; the outcome
is a report or a reason of :attr:`IngestError.REASONS`, never both; an ``unexpected`` detail is a bug it caught."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

from dmslab.errors import IngestError
from dmslab.ingest import Outcome, parse_file
from dmslab.pseudonym import Pseudonymiser

SEEDS = ("dicom",)
DICT = "dicom.dict"
_PSEUDO = Pseudonymiser(bytes(range(32)))
_DIR = Path(tempfile.mkdtemp(prefix="dmslab-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))


def check(data: bytes) -> None:
    path = _DIR / "input.dcm"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom and vendor-quirk warnings are expected on damaged files
        out = parse_file(path, _PSEUDO)
    assert isinstance(out, Outcome)
    assert (out.report is None) != (out.reason is None), out
    if out.reason is not None:
        assert out.reason in IngestError.REASONS, out.reason
        assert not (out.detail or "").startswith("unexpected"), out.detail
