"""The receive path's byte-level File Meta encoder and SOP UID scanner, against pydicom's and pynetdicom's own."""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pynetdicom.dsutils import create_file_meta, encode, encode_file_meta

from dmslab.net._part10 import announced_uids, file_meta_bytes

RDSR = "1.2.840.10008.5.1.4.1.1.88.67"
EXPLICIT, IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def _encoded(ds: Dataset, *, implicit: bool) -> bytes:
    raw = encode(ds, implicit, True)
    assert raw is not None
    return raw


def _dataset(sop: str = "1.2.826.0.1.3680043.8.498.123") -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = "20261124"
    ds.SOPClassUID = RDSR
    ds.SOPInstanceUID = sop
    ds.Modality = "SR"
    ds.PatientID = "P1"
    return ds


def test_file_meta_matches_pynetdicom_and_reads_back_with_pydicom(tmp_path) -> None:
    sop = "1.2.826.0.1.3680043.8.498.12345"  # odd length: padded with NUL
    ours = file_meta_bytes(RDSR, sop, EXPLICIT)
    theirs = b"\0" * 128 + b"DICM" + encode_file_meta(create_file_meta(sop_class_uid=RDSR, sop_instance_uid=sop,
                                                                       transfer_syntax=EXPLICIT))
    assert ours == theirs
    path = tmp_path / "x.dcm"
    path.write_bytes(file_meta_bytes(RDSR, sop, IMPLICIT, "CT_ROOM_1") + _encoded(_dataset(sop), implicit=True))
    ds = pydicom.dcmread(path)
    assert ds.file_meta.MediaStorageSOPInstanceUID == sop and ds.file_meta.TransferSyntaxUID == IMPLICIT
    assert ds.file_meta.SourceApplicationEntityTitle == "CT_ROOM_1" and ds.PatientID == "P1"
    assert ds.file_meta.FileMetaInformationGroupLength == len(file_meta_bytes(RDSR, sop, IMPLICIT, "CT_ROOM_1")) - 144


def test_announced_uids_in_both_little_endian_encodings() -> None:
    for implicit in (True, False):
        raw = _encoded(_dataset(), implicit=implicit)
        assert announced_uids(raw, implicit_vr=implicit) == (RDSR, "1.2.826.0.1.3680043.8.498.123")


def test_announced_uids_gives_up_rather_than_guessing() -> None:
    ds = _dataset()
    item = Dataset()
    item.CodeValue = "en"
    ds.LanguageCodeSequence = Sequence([item])  # (0008,0006) SQ before the SOP UIDs
    raw = _encoded(ds, implicit=False)
    assert announced_uids(raw, implicit_vr=False) == (RDSR, "1.2.826.0.1.3680043.8.498.123")  # defined length
    undefined = raw.replace(b"SQ\x00\x00" + raw[raw.index(b"SQ\x00\x00") + 4:raw.index(b"SQ\x00\x00") + 8],
                            b"SQ\x00\x00\xff\xff\xff\xff", 1)
    assert announced_uids(undefined, implicit_vr=False) is None
    assert announced_uids(b"", implicit_vr=True) is None
    no_instance = _dataset()
    del no_instance.SOPInstanceUID
    assert announced_uids(_encoded(no_instance, implicit=False), implicit_vr=False) is None


def test_announced_uids_never_raises_on_garbage() -> None:
    rng = np.random.default_rng(7)
    raw = _encoded(_dataset(), implicit=False)
    for _ in range(2000):
        cut = bytearray(raw[: int(rng.integers(0, len(raw) + 1))])
        for i in rng.integers(0, max(1, len(cut)), size=3):
            if cut:
                cut[int(i) % len(cut)] = int(rng.integers(0, 256))
        result = announced_uids(bytes(cut), implicit_vr=bool(rng.integers(0, 2)))
        assert result is None or all(isinstance(x, str) for x in result)
