"""The structure/truncation check (:func:`dmslab.ingest._structure.truncation`): ``None`` or a reason, never an
exception, in both little-endian encodings (and ``None`` for a transfer syntax it does not check)."""

from __future__ import annotations

from dmslab.ingest._structure import truncation

SEEDS = ("dicom",)
DICT = "dicom.dict"
_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def check(data: bytes) -> None:
    for ts in _SYNTAXES:
        result = truncation(data, ts)
        assert result is None or (isinstance(result, str) and result), result
    assert truncation(data, "1.2.840.10008.1.2.2") is None
