"""The receiver's checks of a received object (:mod:`dmslab.net._part10`, :mod:`dmslab.net.handlers`).

* :func:`announced_uids` on the first bytes of a received dataset, in both little-endian encodings: ``None``
  or two strings, never an exception.
* The C-STORE handler's check (``handlers._check``: the received file's dataset head, inflated when deflated, and
  its SOP Class/Instance UIDs against the command's) on the input as the dataset of an object received in each
  transfer syntax (implicit and explicit VR little endian, deflated, big endian): a refusal with a status and a
  reason, or acceptance, never an exception. When pydicom itself reads two valid UIDs from the dataset, an object
  announced with those UIDs is accepted: the receiver's fast walker agrees with pydicom.
* :func:`file_meta_bytes` on the UIDs and AE title a peer announces (input ``class|instance|syntax|aet``): the
  File Meta Information it writes reads back with pydicom (``read_file_meta_info``) as the same values.
"""

from __future__ import annotations

import io
import warnings
import zlib
from types import SimpleNamespace

from pydicom.filereader import read_dataset, read_file_meta_info
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from dmslab.net._part10 import announced_uids, file_meta_bytes
from dmslab.net._upload import Upload
from dmslab.net.handlers import _UID, StoreStatus, _check
from targets._scratch import scratch_file

SEEDS = ("dataset",)
DICT = "dicom.dict"
_UID_CHARS = frozenset(b"0123456789.")
_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian)
_SOP_INSTANCE_UID = 0x00080018
_OTHER = ("1.2.3", "1.2.3.4")  # announced when pydicom finds no valid UIDs: the check must then refuse
_FILE = scratch_file("received.dcm")


def _uids(data: bytes) -> None:
    for implicit in (True, False):
        found = announced_uids(data, implicit_vr=implicit)
        assert found is None or (len(found) == 2 and all(isinstance(u, str) for u in found)), found


def _pydicom_uids(raw: bytes, ts: UID) -> tuple[str, str] | None:
    """The SOP Class and Instance UID pydicom reads from ``raw`` (the independent reference), if both are valid."""
    try:
        ds = read_dataset(io.BytesIO(raw), ts.is_implicit_VR, ts.is_little_endian,
                          stop_when=lambda tag, _vr, _length: tag > _SOP_INSTANCE_UID)
        found = str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))
    except Exception:  # pydicom's many errors on garbage: no reference then
        return None
    return found if all(_UID.match(u) and len(u) <= 64 for u in found) else None


def _deflate(raw: bytes) -> bytes:
    comp = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return comp.compress(raw) + comp.flush()


def _received(raw: bytes, ts: UID) -> None:
    payload = _deflate(raw) if ts.is_deflated else raw
    reference = _pydicom_uids(raw, ts)
    sop_class, sop = reference or _OTHER
    _FILE.write_bytes(file_meta_bytes(sop_class, sop, ts, "FUZZ") + payload)
    event = SimpleNamespace(request=SimpleNamespace(AffectedSOPClassUID=sop_class, AffectedSOPInstanceUID=sop),
                            context=SimpleNamespace(transfer_syntax=ts))
    refusal = _check(event, Upload(_FILE, None, nbytes=len(payload), complete=True))
    if refusal is not None:
        status, why = refusal
        assert isinstance(status, StoreStatus) and status != StoreStatus.SUCCESS and why, refusal
    if reference is not None:
        assert refusal is None, (ts.name, reference, refusal, announced_uids(raw, implicit_vr=ts.is_implicit_VR))


def _meta(data: bytes) -> None:
    """Round trip of the meta for UID-shaped values (digits and dots, as the handlers accept) and any AE title."""
    parts = data.split(b"|", 3)
    if len(parts) != 4 or not all(set(p) <= _UID_CHARS and p for p in parts[:3]):
        return
    sop_class, sop_instance, ts = (p.decode("ascii") for p in parts[:3])
    aet = parts[3][:16].decode("ascii", "replace").replace("\\", "/")
    raw = file_meta_bytes(sop_class, sop_instance, ts, aet)
    _FILE.write_bytes(raw)
    meta = read_file_meta_info(_FILE)
    assert meta.MediaStorageSOPClassUID == sop_class
    assert meta.MediaStorageSOPInstanceUID == sop_instance
    assert meta.TransferSyntaxUID == ts
    assert meta.FileMetaInformationGroupLength == len(raw) - 144


def check(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _uids(data)
        for ts in _SYNTAXES:
            _received(data, ts)
        _meta(data)
