"""MPPS N-CREATE / N-SET requests: parsed into :class:`~dmslab.records.MppsMessage`, and kept as inbox files.

Older CT and fluoroscopy systems send their dose only in MPPS (Radiation Dose module: total fluoroscopy time,
number of exposures, entrance dose, exposed area, dose-area product, CT exposure items). The receiver checks a
request with :func:`parse_mpps`, writes it durably to the inbox as a Part-10 file (:func:`mpps_file_bytes`: the
request's attributes, the MPPS SOP Instance UID in the file meta, the operation and time of receipt in a private
block) and answers; the ingest worker reads the file back (:func:`read_mpps_file`) and the store applies it.
Values are converted to canonical units here; an implausible value is stored as sent and flagged by the store.

References: DICOM PS3.4 Annex F (Modality Performed Procedure Step SOP Class), PS3.3 C.4.13-C.4.18.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from io import BytesIO
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from dmslab.errors import MppsError
from dmslab.ingest._header import sequence_items
from dmslab.records import MPPS_STATUSES, MppsMessage

__all__ = ["MPPS_SOP_CLASS", "is_mpps_file", "mpps_file_bytes", "mpps_values", "parse_mpps", "read_mpps_file"]

MPPS_SOP_CLASS = "1.2.840.10008.3.1.2.3.3"
#: Inbox file names of MPPS requests start with this (the worker applies them in the order received).
FILE_PREFIX = "mpps-"
_PRIVATE_GROUP, _CREATOR = 0x0009, "DMSLAB MPPS"  # operation (0x10) and time of receipt (0x11) of a kept request
_DLP_IN_TEXT = re.compile(r"DLP\D{0,20}?(\d+(?:\.\d+)?)", re.IGNORECASE)
_SIMPLE = {"pps_id": "PerformedProcedureStepID", "status": "PerformedProcedureStepStatus",
           "station_ae": "PerformedStationAETitle", "station_name": "PerformedStationName",
           "modality": "Modality", "description": "PerformedProcedureStepDescription"}


def _text(ds: Dataset, keyword: str) -> str | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    return str(value).strip() or None


def _number(ds: Dataset, keyword: str, factor: float = 1.0) -> float | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return float(value) * factor
    except (TypeError, ValueError) as exc:
        raise MppsError("invalid_attribute_value", f"{keyword}: not a number: {value!r}") from exc


def _datetime(ds: Dataset, date_kw: str, time_kw: str) -> dt.datetime | None:
    date = _text(ds, date_kw)
    if date is None:
        return None
    time = (_text(ds, time_kw) or "000000").split(".")[0].ljust(6, "0")[:6]
    try:
        return dt.datetime.strptime(date + time, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise MppsError("invalid_attribute_value", f"{date_kw}/{time_kw}: {date!r} {time!r}") from exc


def _dose_values(ds: Dataset) -> dict[str, Any]:
    """Radiation Dose module values present in ``ds``, in canonical units."""
    out: dict[str, Any] = {}
    if "TotalTimeOfFluoroscopy" in ds:
        out["fluoro_time_s"] = _number(ds, "TotalTimeOfFluoroscopy")  # s
    if "TotalNumberOfExposures" in ds:
        n = _number(ds, "TotalNumberOfExposures")
        out["n_exposures"] = None if n is None else int(n)
    if "EntranceDoseInmGy" in ds:
        out["entrance_dose_mgy"] = _number(ds, "EntranceDoseInmGy")
    elif "EntranceDose" in ds:
        out["entrance_dose_mgy"] = _number(ds, "EntranceDose", 100.0)  # dGy -> mGy
    if "ExposedArea" in ds:
        out["exposed_area_m2"] = _number(ds, "ExposedArea", 1e-4)  # cm2 -> m2
    if "ImageAndFluoroscopyAreaDoseProduct" in ds:
        out["dap_gym2"] = _number(ds, "ImageAndFluoroscopyAreaDoseProduct", 1e-5)  # dGy.cm2 -> Gy.m2
    ct_items = sequence_items(ds, "CTExposureSequence")
    if ct_items or "CTDIvol" in ds:
        ctdis = [v for v in (_number(i, "CTDIvol") for i in [*ct_items, ds]) if v is not None]
        out["ctdivol_mgy"] = max(ctdis) if ctdis else None
        out["n_ct_exposures"] = len(ct_items)
    if "ExposureDoseSequence" in ds:
        out["n_exposure_dose_items"] = len(sequence_items(ds, "ExposureDoseSequence"))
    if "CommentsOnRadiationDose" in ds:
        comment = _text(ds, "CommentsOnRadiationDose")
        out["dose_comment"] = comment
        m = _DLP_IN_TEXT.search(comment or "")
        out["dlp_mgycm"] = float(m.group(1)) if m else None
    return out


def mpps_values(ds: Dataset) -> dict[str, Any]:
    """The record fields present in an N-CREATE attribute list or N-SET modification list.

    Only attributes present in ``ds`` appear in the result, so an N-SET changes just what it carries.

    Raises
    ------
    MppsError
        ``invalid_attribute_value`` (status 0x0106) when a value cannot be read.
    """
    out: dict[str, Any] = {name: _text(ds, kw) for name, kw in _SIMPLE.items() if kw in ds}
    if out.get("status") is not None:
        out["status"] = out["status"].upper()
    if "PerformedProcedureStepStartDate" in ds:
        out["start_datetime"] = _datetime(ds, "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime")
    if "PerformedProcedureStepEndDate" in ds:
        out["end_datetime"] = _datetime(ds, "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime")
    steps = sequence_items(ds, "ScheduledStepAttributesSequence")
    if steps:
        out["study_uid"] = _text(steps[0], "StudyInstanceUID")
    codes = sequence_items(ds, "ProcedureCodeSequence")
    if codes:
        out["procedure_code"] = f"{_text(codes[0], 'CodingSchemeDesignator')}:{_text(codes[0], 'CodeValue')}"
    if "PerformedSeriesSequence" in ds:
        out["n_series"] = len(sequence_items(ds, "PerformedSeriesSequence"))
    out.update(_dose_values(ds))
    return out


def parse_mpps(ds: Dataset, *, operation: str, sop_instance_uid: str, received_at: dt.datetime) -> MppsMessage:
    """Check and parse an N-CREATE (``operation="create"``) or N-SET (``"set"``) request.

    Raises
    ------
    MppsError
        ``missing_attribute`` for an N-CREATE without a status; ``invalid_attribute_value`` for a value that
        cannot be read or a status other than IN PROGRESS, COMPLETED, DISCONTINUED.
    """
    values = mpps_values(ds)
    if operation == "create" and not values.get("status"):
        raise MppsError("missing_attribute", "N-CREATE without Performed Procedure Step Status (0040,0252)")
    if "status" in values and values["status"] not in MPPS_STATUSES:
        raise MppsError("invalid_attribute_value", f"Performed Procedure Step Status {values['status']!r}; "
                                                   f"allowed: {', '.join(MPPS_STATUSES)}")
    return MppsMessage(operation, sop_instance_uid, received_at, tuple(values.items()))


def mpps_file_bytes(ds: Dataset, *, operation: str, sop_instance_uid: str, received_at: dt.datetime) -> bytes:
    """The request as a Part-10 file for the inbox (``ds`` itself is not changed)."""
    kept = Dataset()
    kept.update(ds)
    block = kept.private_block(_PRIVATE_GROUP, _CREATOR, create=True)
    block.add_new(0x10, "CS", operation.upper())
    block.add_new(0x11, "DT", received_at.strftime("%Y%m%d%H%M%S.%f"))
    kept.file_meta = FileMetaDataset()
    kept.file_meta.MediaStorageSOPClassUID = UID(MPPS_SOP_CLASS)
    kept.file_meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    kept.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    kept.save_as(out, enforce_file_format=True)
    return out.getvalue()


def is_mpps_file(path: str | os.PathLike[str]) -> bool:
    """Whether an inbox file is a kept MPPS request (by its name, as the receiver wrote it)."""
    return os.path.basename(path).startswith(FILE_PREFIX)


def read_mpps_file(path: str | os.PathLike[str]) -> MppsMessage:
    """Read a request kept by :func:`mpps_file_bytes` and parse it as when it was received.

    Raises
    ------
    MppsError
        As :func:`parse_mpps`, or ``invalid_attribute_value`` when the file is not a kept MPPS request.
    """
    ds = dcmread(path)
    block = ds.private_block(_PRIVATE_GROUP, _CREATOR) if _has_block(ds) else None
    if ds.file_meta.get("MediaStorageSOPClassUID") != MPPS_SOP_CLASS or block is None:
        raise MppsError("invalid_attribute_value", f"{path}: not an MPPS request kept by dmslab")
    operation = str(block[0x10].value).lower()
    received_at = dt.datetime.strptime(str(block[0x11].value), "%Y%m%d%H%M%S.%f")
    del ds[block.get_tag(0x10)], ds[block.get_tag(0x11)], ds[(_PRIVATE_GROUP << 16) | 0x0010]
    return parse_mpps(ds, operation=operation, sop_instance_uid=str(ds.file_meta.MediaStorageSOPInstanceUID),
                      received_at=received_at)


def _has_block(ds: Dataset) -> bool:
    try:
        ds.private_block(_PRIVATE_GROUP, _CREATOR)
    except KeyError:
        return False
    return True
