"""Philips CT "Dose Info" Secondary Captures: dose values from header attributes, no OCR needed.

Older Philips CT scanners (Brilliance, MX) send no RDSR. Their "Dose Info" page is a Secondary Capture
(SeriesDescription ``Dose Info``, ImageType ``DOSE_INFO``) whose header carries one item per acquisition
in the retired Exposure Dose Sequence (0040,030E): series number and description, CT Acquisition Type
(0018,9302), kVp, tube current in µA (0018,8151), exposure time in ms (0018,1150), scan length in mm
(0018,1302), collimation and pitch, CTDIvol (0018,9345) in mGy and the DLP in the private element
(00E1,xx21) of creator ``ELSCINT1`` in mGy.cm. The same private element at the top level holds the total
DLP; (01E1,xx26) holds the CTDI phantom as ``"16 CM"``/``"32 CM"`` when the scanner sends it.

References
----------
shared/reference/rdsr_codes.md ("Vendor private dose tags"); DICOM PS3.3 C.8.7.8 (retired Exposure Dose Sequence).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydicom.dataset import Dataset

from dmslab.contracts import check_values
from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, header_text, sequence_items
from dmslab.ingest.ocr._common import event_uid, study_record
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import CtEventRecord, DoseReport, SourceRecord
from dmslab.units import convert

__all__ = ["is_philips_dose_info", "parse_philips_dose_info"]

logger = logging.getLogger(__name__)

SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"
_CREATOR = "ELSCINT1"
_TYPES = {"SPIRAL": "spiral", "CONSTANT_ANGLE": "constant_angle", "SEQUENCED": "sequenced",
          "STATIONARY": "stationary", "FREE": "free", "CONE_BEAM": "cone_beam"}
#: keyword -> (record field, quantity of units_map.csv, unit as stored)
_NUMS = {
    "KVP": ("kvp", "voltage_kv", "kV"),
    "XRayTubeCurrentInuA": ("ma", "current_ma", "uA"),
    "ExposureTime": ("exposure_time_s", "time_s", "ms"),
    "ScanLength": ("scan_length_mm", "length_mm", "mm"),
    "TotalCollimationWidth": ("collimation_mm", "length_mm", "mm"),
    "SingleCollimationWidth": ("single_collimation_mm", "length_mm", "mm"),
    "SpiralPitchFactor": ("pitch", "ratio", "1"),
    "CTDIvol": ("ctdivol_mgy", "dose_mgy", "mGy"),
}


def is_philips_dose_info(ds: Dataset) -> bool:
    """True for a Philips CT "Dose Info" SC: SC SOP class, Philips, "Dose Info" series, Exposure Dose Sequence."""
    manufacturer = (header_text(ds, "Manufacturer") or "").upper()
    if str(ds.get("SOPClassUID", "")) != SC_SOP_CLASS or "PHILIPS" not in manufacturer:
        return False
    described = "DOSE INFO" in (header_text(ds, "SeriesDescription") or "").upper()
    typed = "DOSE_INFO" in (header_text(ds, "ImageType") or "").upper()
    return (described or typed) and "ExposureDoseSequence" in ds


def _private(ds: Dataset, group: int, offset: int) -> Any:
    """The value of private element (group, xx``offset``) of creator ELSCINT1 in ``ds``; ``None`` when absent."""
    for block in range(0x10, 0x100):
        creator = ds.get((group, block))
        if creator is None:
            continue
        if str(creator.value).strip() == _CREATOR:
            elem = ds.get((group, (block << 8) | offset))
            return None if elem is None else elem.value
    return None


def _float(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def _phantom(item: Dataset, ds: Dataset) -> int | None:
    for where in (item, ds):
        value = _private(where, 0x01E1, 0x26)
        m = re.search(r"(16|32)\s*CM", str(value or "").upper())
        if m:
            return int(m.group(1))
    return None


def _event(item: Dataset, ds: Dataset, index: int) -> CtEventRecord:
    values: dict[str, Any] = {}
    fixes: list[str] = []
    for keyword, (field, quantity, unit) in _NUMS.items():
        v = _float(item.get(keyword))
        if v is not None:
            conv = convert(v, unit, quantity)
            values[field] = conv.value
            if conv.fixed_from is not None and unit not in ("uA", "ms"):
                fixes.append(f"{field}: {conv.fixed_from}")
    dlp = _float(_private(item, 0x00E1, 0x21))
    if dlp is not None:
        values["dlp_mgycm"] = convert(dlp, "mGy.cm", "dlp").value
    acq = (header_text(item, "AcquisitionType") or "").upper()
    if acq:
        values["acquisition_type"] = _TYPES.get(acq, acq.lower())
    values["acquisition_protocol"] = header_text(item, "SeriesDescription")
    values["phantom_cm"] = _phantom(item, ds)
    values = {k: v for k, v in values.items() if v is not None}
    series = header_text(item, "SeriesNumber") or ""
    uid = event_uid(str(ds.StudyInstanceUID), "philips-dose-info", series, index)
    return CtEventRecord(event_uid=uid, flags=check_values("ct_event", values), unit_fixes=tuple(fixes), **values)


def parse_philips_dose_info(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
    """Read a Philips CT "Dose Info" Secondary Capture into a report with ``source_kind="header"``.

    Events follow the order of the Exposure Dose Sequence; each gets a deterministic ``2.25.`` event UID
    from the study UID, its series number and its position. Total DLP (mGy.cm) is the private top-level
    value; when it differs from the sum of the event DLPs by more than 0.5 mGy.cm the study is flagged.

    Raises
    ------
    IngestError
        ``missing_required_concept`` when the Exposure Dose Sequence is empty.
    """
    items = sequence_items(ds, "ExposureDoseSequence")
    if not items:
        raise IngestError("missing_required_concept", "Philips Dose Info SC has an empty Exposure Dose Sequence "
                                                      "(0040,030E)")
    events = tuple(_event(item, ds, i) for i, item in enumerate(items))
    total = _float(_private(ds, 0x00E1, 0x21))
    flags: list[str] = []
    dlps = [e.dlp_mgycm for e in events if e.dlp_mgycm is not None]
    if total is not None and dlps and abs(sum(dlps) - total) > 0.5:
        flags.append(f"total DLP {total:.2f} != sum of events {sum(dlps):.2f}")
    reported = ds.get("TotalNumberOfExposures")
    study, patient = study_record(ds, pseudonymise, source_kind="header", flags=flags,
                                  values={"total_dlp_mgycm": total,
                                          "n_events_reported": int(reported) if reported else len(events)})
    logger.info("%s: Philips Dose Info SC, %d events", source.sop_instance_uid, len(events))
    src = SourceRecord(**{**{f: getattr(source, f) for f in SourceRecord.__slots__}, "importer": "ocr",
                          "template": "philips-dose-info"})
    return DoseReport(source=src, equipment=equipment_from(ds), patient=patient, study=study, ct_events=events)
