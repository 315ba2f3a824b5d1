"""Builders for SR content items and the SR document skeleton of a dose report."""

from __future__ import annotations

import datetime
import functools
import io
import math
import os
import struct
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import UID, ExplicitVRLittleEndian

from ._codes import UCUM_UNITS, Code, dcm
from ._truth import RoomTruth, StudyTruth

__all__ = [
    "RDSR_SOP_CLASS",
    "Item",
    "fmt_ds",
    "code_item",
    "num_item",
    "text_item",
    "uidref_item",
    "datetime_item",
    "container",
    "observer_context",
    "dicom_dt",
    "make_uid",
    "ReportHeader",
    "document",
    "write_report",
]

#: X-Ray Radiation Dose SR Storage.
RDSR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
_INSTITUTION = "Synthetic General Hospital"
_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/dmslab/dmslab/synth")


def make_uid(*parts: object) -> str:
    """Return a deterministic ``2.25.`` UID: a name-based (version 5) UUID of ``parts`` as integer.

    ``parts`` are typically the seed, a kind and a counter, so the same seed gives the same UIDs.
    """
    name = "|".join(str(p) for p in parts)
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


def fmt_ds(value: float) -> str:
    """Format an (already rounded) ``value`` as the shortest DICOM DS string that reads back exactly.

    Raises
    ------
    ValueError
        If the value is not finite or does not fit in 16 characters.
    """
    if not math.isfinite(value):
        raise ValueError(f"DS value must be finite, got {value!r}")
    text = np.format_float_positional(float(value), trim="-")
    if text == "-0":
        text = "0"
    if len(text) > 16:
        raise ValueError(f"value {value!r} does not fit a 16-character DS")
    return text


def dicom_dt(moment: datetime.datetime) -> str:
    """Return ``moment`` as a DICOM DT string (second resolution)."""
    return moment.strftime("%Y%m%d%H%M%S")


# --- Explicit VR Little Endian encoding of SR content items -------------------------------
# Content items are encoded straight to bytes (the item dataset without the item header):
# building and writing ~100 pydicom Datasets per report would dominate the run time.
_LONG_VRS = frozenset({"SQ", "UT", "OB", "OW", "UN", "UC", "UR"})
_ITEM_TAG = struct.pack("<HH", 0xFFFE, 0xE000)
_CONTENT_SEQUENCE = 0x0040A730

#: An encoded content item (its dataset, without the sequence item header).
Item = bytes


def _element(tag: int, vr: str, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG_VRS:
        return head + struct.pack("<HI", 0, len(value)) + value
    if len(value) > 0xFFFF:
        raise ValueError(f"value of ({tag:08X}) too long")
    return head + struct.pack("<H", len(value)) + value


def _text(tag: int, vr: str, value: str) -> bytes:
    return _element(tag, vr, value.encode("latin-1"))


def _sequence(tag: int, items: Iterable[bytes]) -> bytes:
    body = b"".join(_ITEM_TAG + struct.pack("<I", len(item)) + item for item in items)
    return _element(tag, "SQ", body)


@functools.lru_cache(maxsize=4096)
def _code(code: Code) -> bytes:
    return (
        _text(0x00080100, "SH", code.value)
        + _text(0x00080102, "SH", code.scheme)
        + _text(0x00080104, "LO", code.meaning)
    )


@functools.lru_cache(maxsize=4096)
def _head(concept: Code, value_type: str, relationship: str) -> bytes:
    return (
        _text(0x0040A010, "CS", relationship)
        + _text(0x0040A040, "CS", value_type)
        + _sequence(0x0040A043, [_code(concept)])
    )


def _children(children: Iterable[Item] | None) -> bytes:
    items = list(children or ())
    return _sequence(0x0040A730, items) if items else b""


def container(concept: Code, children: Iterable[Item], relationship: str = "CONTAINS") -> Item:
    """Return a CONTAINER content item (continuity SEPARATE) holding ``children``."""
    return (
        _head(concept, "CONTAINER", relationship)
        + _text(0x0040A050, "CS", "SEPARATE")
        + _sequence(0x0040A730, list(children))
    )


def code_item(
    concept: Code, value: Code, relationship: str = "CONTAINS", children: Sequence[Item] | None = None
) -> Item:
    """Return a CODE content item."""
    return _head(concept, "CODE", relationship) + _sequence(0x0040A168, [_code(value)]) + _children(children)


def num_item(
    concept: Code,
    value: float,
    unit: str,
    relationship: str = "CONTAINS",
    children: Sequence[Item] | None = None,
) -> Item:
    """Return a NUM content item of ``value`` (formatted by :func:`fmt_ds`) in UCUM ``unit``."""
    if unit not in UCUM_UNITS:
        raise ValueError(f"unknown UCUM unit {unit!r}")
    measured = _sequence(0x004008EA, [_code(Code(unit, "UCUM", unit))]) + _text(
        0x0040A30A, "DS", fmt_ds(value)
    )
    return _head(concept, "NUM", relationship) + _sequence(0x0040A300, [measured]) + _children(children)


def text_item(concept: Code, value: str, relationship: str = "CONTAINS") -> Item:
    """Return a TEXT content item."""
    return _head(concept, "TEXT", relationship) + _text(0x0040A160, "UT", value)


def uidref_item(concept: Code, value: str, relationship: str = "CONTAINS") -> Item:
    """Return a UIDREF content item."""
    return _head(concept, "UIDREF", relationship) + _text(0x0040A124, "UI", value)


def datetime_item(concept: Code, value: str, relationship: str = "CONTAINS") -> Item:
    """Return a DATETIME content item; ``value`` is a DICOM DT string."""
    return _head(concept, "DATETIME", relationship) + _text(0x0040A120, "DT", value)


def _content_sequence(items: list[Item]) -> RawDataElement:
    body = b"".join(_ITEM_TAG + struct.pack("<I", len(item)) + item for item in items)
    return RawDataElement(BaseTag(_CONTENT_SEQUENCE), "SQ", len(body), body, 0, False, True, True, False)


def write_report(path: str | os.PathLike[str], ds: Dataset) -> None:
    """Write a dataset made by :func:`document` to ``path`` (DICOM file format).

    The pre-encoded Content Sequence is the dataset's last element; it is appended to the
    output of :func:`pydicom.dcmwrite` as-is instead of being re-parsed by pydicom.
    """
    raw = ds.get_item(_CONTENT_SEQUENCE)
    if raw is None or not raw.is_raw or any(tag > _CONTENT_SEQUENCE for tag in ds.keys()):
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        return
    del ds[_CONTENT_SEQUENCE]
    try:
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    finally:
        ds[_CONTENT_SEQUENCE] = raw
    header = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, len(raw.value))
    Path(path).write_bytes(buffer.getvalue() + header + raw.value)


def _code_ds(code: Code) -> Dataset:
    ds = Dataset()
    ds.CodeValue = code.value
    ds.CodingSchemeDesignator = code.scheme
    ds.CodeMeaning = code.meaning
    return ds


def observer_context(room: RoomTruth) -> list[Item]:
    """Return the TID 1002 device observer context items of ``room``."""
    rel = "HAS OBS CONTEXT"
    return [
        code_item(dcm("121005"), dcm("121007"), rel),
        uidref_item(dcm("121012"), room.device_observer_uid, rel),
        text_item(dcm("121013"), room.station_name, rel),
        text_item(dcm("121014"), room.manufacturer, rel),
        text_item(dcm("121015"), room.model, rel),
        text_item(dcm("121016"), room.serial, rel),
    ]


def _patient_study(ds: Dataset, study: StudyTruth) -> None:
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date.replace("-", "")
    ds.PatientSex = study.patient_sex
    ds.PatientAge = f"{study.patient_age_years:03d}Y"
    ds.PatientWeight = fmt_ds(study.patient_weight_kg)
    ds.PatientSize = fmt_ds(study.patient_height_m)
    start = datetime.datetime.fromisoformat(study.study_datetime)
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = start.strftime("%Y%m%d")
    ds.StudyTime = start.strftime("%H%M%S")
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.study_id
    ds.StudyDescription = study.protocol
    ds.ReferringPhysicianName = "REFERRER^Synthetic"


def _equipment(ds: Dataset, room: RoomTruth) -> None:
    ds.Manufacturer = room.manufacturer
    ds.ManufacturerModelName = room.model
    ds.StationName = room.station_name
    ds.DeviceSerialNumber = room.serial
    ds.SoftwareVersions = room.software_versions
    ds.InstitutionName = _INSTITUTION
    ds.InstitutionalDepartmentName = "Radiology"


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """Identity of one report: SOP Instance UID, Series Number, root template, content time."""

    sop_uid: str
    series_number: int
    template_id: str
    content_time: datetime.datetime


def document(study: StudyTruth, room: RoomTruth, header: ReportHeader, content: list[Item]) -> Dataset:
    """Return a complete X-Ray Radiation Dose SR dataset with file meta.

    Parameters
    ----------
    study, room
        Patient/study and device data.
    header : ReportHeader
        SOP Instance UID (the series UID is derived from it), Series Number, root template
        (``"10011"`` CT or ``"10001"`` projection) and content/instance creation time.
    content : list of Item
        Children of the root CONTAINER (the Content Sequence is stored pre-encoded).
    """
    sop_uid, content_time = header.sop_uid, header.content_time
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(RDSR_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = content_time.strftime("%Y%m%d")
    ds.InstanceCreationTime = content_time.strftime("%H%M%S")
    ds.SOPClassUID = RDSR_SOP_CLASS
    ds.SOPInstanceUID = sop_uid
    _patient_study(ds, study)
    _equipment(ds, room)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = make_uid(sop_uid, "series")
    ds.SeriesNumber = header.series_number
    ds.SeriesDescription = "Radiation Dose Information"
    ds.ReferencedPerformedProcedureStepSequence = DicomSequence()
    ds.InstanceNumber = 1
    ds.ContentDate = content_time.strftime("%Y%m%d")
    ds.ContentTime = content_time.strftime("%H%M%S")
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = DicomSequence()
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = DicomSequence([_code_ds(dcm("113701"))])
    ds.ContinuityOfContent = "SEPARATE"
    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = header.template_id
    ds.ContentTemplateSequence = DicomSequence([template])
    ds[_CONTENT_SEQUENCE] = _content_sequence(content)
    return ds
