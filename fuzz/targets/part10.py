"""The receiver's byte helpers (:mod:`dmslab.net._part10`).

* :func:`announced_uids` on the first bytes of a received dataset, in both little-endian encodings: ``None``
  or two strings, never an exception.
* :func:`file_meta_bytes` on the UIDs and AE title a peer announces (ASCII text; the first input byte picks how
  the rest is cut): the bytes it writes must read back with pydicom as the same File Meta Information.
"""

from __future__ import annotations

import io

from pydicom.filereader import read_file_meta_info

from dmslab.net._part10 import announced_uids, file_meta_bytes

SEEDS = ("dataset",)
DICT = "dicom.dict"
_UID_CHARS = frozenset(b"0123456789.")


def _uids(data: bytes) -> None:
    for implicit in (True, False):
        found = announced_uids(data, implicit_vr=implicit)
        assert found is None or (len(found) == 2 and all(isinstance(u, str) for u in found)), found


def _meta(data: bytes) -> None:
    """Round trip of the meta for UID-shaped values (digits and dots, as the handlers accept) and any AE title."""
    parts = data.split(b"|", 3)
    if len(parts) != 4 or not all(set(p) <= _UID_CHARS and p for p in parts[:3]):
        return
    sop_class, sop_instance, ts = (p.decode("ascii") for p in parts[:3])
    aet = parts[3][:16].decode("ascii", "replace").replace("\\", "/")
    raw = file_meta_bytes(sop_class, sop_instance, ts, aet)
    meta = read_file_meta_info(io.BytesIO(raw))
    assert meta.MediaStorageSOPClassUID == sop_class
    assert meta.MediaStorageSOPInstanceUID == sop_instance
    assert meta.TransferSyntaxUID == ts
    assert meta.FileMetaInformationGroupLength == len(raw) - 144


def check(data: bytes) -> None:
    _uids(data)
    _meta(data)
