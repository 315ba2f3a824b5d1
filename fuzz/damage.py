"""The four damaged dose reports of issue 21, rebuilt from a synthetic CT RDSR (so no vendor or patient data is
committed): ``python fuzz/damage.py OUT_FOLDER`` writes the base file and one file per damage.

Each damage changes a few bytes, as a failing disk or a broken forwarder does, and keeps every length:

* ``null_charset``: a NUL inside Specific Character Set (``ISO_IR\\0100``): the lean reader's header decode
  raised ``ValueError: embedded null character``;
* ``meta_vr``: the VR of Transfer Syntax UID (0002,0010) is no VR (``ZZ``): ``NotImplementedError: Unknown Value
  Representation``;
* ``concept_text``: the document's Concept Name Code Sequence has VR ``UT`` instead of ``SQ``:
  ``AttributeError: 'str' object has no attribute 'get'`` in ``concept_of_raw``;
* ``backslash_code``: a Coding Scheme Designator of the content tree reads ``DCM\\`` (two values for pydicom),
  and ``backslash_code_deflated`` is the same object in Deflated Explicit VR Little Endian, which the lean reader
  hands to pydicom: ``AttributeError: 'MultiValue' object has no attribute 'strip'`` in ``codes.code_key``.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian


def base_rdsr() -> bytes:
    """The smallest CT RDSR of a small synthetic department (seeded: the same bytes every time)."""
    from dmslab.synth import DepartmentConfig, generate_department

    with tempfile.TemporaryDirectory() as tmp:
        generate_department(tmp, DepartmentConfig(months=1, studies_per_room_per_day=0.2, dx_rooms=0, mg_rooms=0,
                                                  rf_rooms=0, seed=21))
        files = sorted(Path(tmp).rglob("*.dcm"), key=lambda p: (p.stat().st_size, p.name))
        return files[0].read_bytes()


def _replace_at(data: bytes, marker: bytes, old: bytes, new: bytes, start: int = 0) -> bytes:
    """Replace the first ``old`` after the first ``marker`` (at or after ``start``) by ``new`` (same length)."""
    assert len(old) == len(new)
    at = data.index(marker, start)
    pos = data.index(old, at)
    return data[:pos] + new + data[pos + len(old):]


def damaged(base: bytes) -> dict[str, bytes]:
    content = base.index(b"\x40\x00\x30\xa7")  # Content Sequence
    out = {
        "null_charset": _replace_at(base, b"\x08\x00\x05\x00CS", b"ISO_IR 100", b"ISO_IR\x00100"),
        "meta_vr": _replace_at(base, b"\x02\x00\x10\x00", b"\x02\x00\x10\x00UI", b"\x02\x00\x10\x00ZZ"),
        "concept_text": _replace_at(base, b"\x40\x00\x43\xa0", b"\x40\x00\x43\xa0SQ", b"\x40\x00\x43\xa0UT"),
        "backslash_code": _replace_at(base, b"\x08\x00\x02\x01SH", b"DCM ", b"DCM\\", content),
    }
    ds = pydicom.dcmread(io.BytesIO(out["backslash_code"]))
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=True)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    out["backslash_code_deflated"] = buf.getvalue()
    return out


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    base = base_rdsr()
    (out / "base.dcm").write_bytes(base)
    for name, data in damaged(base).items():
        (out / f"{name}.dcm").write_bytes(data)


if __name__ == "__main__":
    main(sys.argv[1])
