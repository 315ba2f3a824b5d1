"""A byte-level completeness check of DICOM files, for truncation pydicom reads past silently.

pydicom stops quietly at end-of-file inside an undefined-length sequence, so a truncated RDSR would
parse as a shorter, valid-looking report. :func:`truncation` walks the element structure with the shared
walker (:class:`dmslab.dicom.Walker`: tags, VRs, lengths, item and sequence delimiters, no values decoded)
and says where the file ends early. Little-endian transfer syntaxes (implicit and explicit VR) are checked;
others are not (``None``). The lean SR reader needs no such check: its own walk is the same one.
"""

from __future__ import annotations

from dmslab.dicom import Walker
from dmslab.errors import DicomStructureError

__all__ = ["structure_error", "truncation"]

_IMPLICIT = {"1.2.840.10008.1.2": True, "1.2.840.10008.1.2.1": False}


def structure_error(data: bytes, transfer_syntax: str | None) -> DicomStructureError | None:
    """What is structurally wrong with ``data`` (a Part 10 file, or a bare dataset), or ``None`` when the walk
    succeeds or the transfer syntax is not one this check reads."""
    implicit = _IMPLICIT.get(transfer_syntax or "")
    if implicit is None:
        return None
    start = 132 if data[128:132] == b"DICM" else 0
    try:
        for _element in Walker(data, implicit=implicit, keep=False).top_level(start):
            pass
    except DicomStructureError as exc:
        return exc
    except RecursionError:
        return DicomStructureError("too_deep", start, "sequences nested too deep to walk")
    return None


def truncation(data: bytes, transfer_syntax: str | None) -> str | None:
    """Why ``data`` is structurally incomplete, or ``None`` when it is complete (or not checkable)."""
    problem = structure_error(data, transfer_syntax)
    return None if problem is None else str(problem)
