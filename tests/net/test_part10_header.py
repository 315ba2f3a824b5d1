"""``read_part10_header`` (what ``dmslab send`` reads of each file before it opens an association) raises only
ValueError, with a reason, for any truncation or damage of the File Meta Information: one bad file is reported as
unsent and never stops the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dmslab.net._store_scu import read_part10_header

CT_SR = "1.2.840.10008.5.1.4.1.1.88.67"


def _part10(path: Path) -> tuple[Path, str]:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT_SR
    uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CT_SR, uid, "SR"
    ds.save_as(path, enforce_file_format=True)
    return path, uid


def test_a_whole_header_reads_back_its_uids(tmp_path: Path) -> None:
    path, uid = _part10(tmp_path / "ok.dcm")
    header = read_part10_header(path)
    assert (header.sop_class, header.sop_instance) == (CT_SR, uid)
    assert header.transfer_syntax == ExplicitVRLittleEndian


def test_every_truncation_and_a_damaged_length_is_a_value_error(tmp_path: Path) -> None:
    whole = _part10(tmp_path / "ok.dcm")[0].read_bytes()
    cut = tmp_path / "cut.dcm"
    for n in range(0, 400):
        cut.write_bytes(whole[:n])
        try:
            read_part10_header(cut)
        except ValueError as exc:
            assert str(exc)
    damaged = bytearray(whole)
    damaged[140:144] = (8).to_bytes(4, "little")  # a group length ending inside the first (OB) element header
    cut.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="ends inside the header of \\(0002,0001\\)"):
        read_part10_header(cut)
