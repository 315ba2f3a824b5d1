"""CT images (CT and Enhanced CT Image Storage): one :class:`CtEventRecord` per irradiation event.

Every image of a CT irradiation event repeats the event's CTDIvol (0018,9345); the event key makes the
store keep one row per event however many images arrive. Images of a secondary reconstruction (MPR,
MIP, volume rendering: ImageType DERIVED or SECONDARY) are not exposures and are rejected with
``not_a_dose_report`` so that they are kept in quarantine, never silently lost.

References
----------
DICOM PS3.3 C.8.2.1 CT Image Module and C.8.15.3.8 CT Exposure Functional Group (CTDIvol, phantom);
``shared/reference/rdsr_codes.md`` ("DICOM image-header (non-SR) dose attributes").
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from dmslab.codes import PHANTOM_BODY_32, PHANTOM_HEAD_16
from dmslab.errors import IngestError
from dmslab.ingest._header import header_text
from dmslab.ingest.headers._common import code_of, derived_uid, first, number, put, raw_text, study_uid_of
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.records import CtEventRecord

__all__ = ["ct_event", "is_secondary"]

logger = logging.getLogger(__name__)

_PHANTOM = {PHANTOM_HEAD_16: 16, PHANTOM_BODY_32: 32}
#: (keyword, field, unit the attribute is defined in, quantity class)
_PLAIN = (
    ("CTDIvol", "ctdivol_mgy", "mGy", "dose_mgy"),
    ("KVP", "kvp", "kV", "voltage_kv"),
    ("XRayTubeCurrent", "ma", "mA", "current_ma"),
    ("ExposureTime", "exposure_time_s", "ms", "time_s"),
    ("RevolutionTime", "rotation_time_s", "s", "time_s"),
    ("SpiralPitchFactor", "pitch", "1", "ratio"),
    ("TotalCollimationWidth", "collimation_mm", "mm", "length_mm"),
    ("SingleCollimationWidth", "single_collimation_mm", "mm", "length_mm"),
)


def is_secondary(ds: Dataset) -> bool:
    """True when the image is not an exposure: ImageType value 2 is SECONDARY, or value 1 is DERIVED and
    there is no IrradiationEventUID to tie it to its event.

    A DERIVED\\PRIMARY image that names its irradiation event (some scanners mark iterative or dual-energy
    reconstructions so) is kept: it joins its event and the store de-duplicates it. Without the UID its key
    would come from its own series and count the exposure twice.
    """
    parts = [p.strip().upper() for p in (raw_text(ds, "ImageType") or "").split("\\")]
    if len(parts) > 1 and parts[1] == "SECONDARY":
        return True
    return parts[0] == "DERIVED" and not header_text(ds, "IrradiationEventUID")


def _frame_value(ds: Dataset, keyword: str) -> Dataset | None:
    """Enhanced CT: the functional-group item holding ``keyword`` (shared, else first per-frame)."""
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        g = first(ds, groups)
        if g is None:
            continue
        for seq_name in ("CTExposureSequence", "CTAcquisitionDetailsSequence", "CTXRayDetailsSequence",
                         "CTTableDynamicsSequence"):
            item = first(g, seq_name)
            if item is not None and keyword in item:
                return item
    return None


def _num(ds: Dataset, keyword: str) -> float | None:
    v = number(ds, keyword)
    if v is None:
        item = _frame_value(ds, keyword)
        v = number(item, keyword) if item is not None else None
    return v


def event_key(ds: Dataset) -> str:
    """IrradiationEventUID (0008,3010), else a UID derived from study UID, series UID and acquisition number."""
    uid = header_text(ds, "IrradiationEventUID")
    if uid:
        return uid.split("\\")[0]
    return derived_uid(study_uid_of(ds), header_text(ds, "SeriesInstanceUID"), header_text(ds, "AcquisitionNumber"))


def ct_event(ds: Dataset) -> CtEventRecord:
    """The irradiation event of one CT image (CTDIvol mGy, exposure time s, collimation mm).

    Raises
    ------
    IngestError
        ``not_a_dose_report`` for images of a secondary reconstruction.
    """
    if is_secondary(ds):
        raise IngestError("not_a_dose_report",
                          f"CT image with ImageType {raw_text(ds, 'ImageType')!r} is a secondary reconstruction, "
                          "not an exposure; its irradiation event is read from the original images")
    ex = Extractor("ct_event", header_text(ds, "SOPInstanceUID") or "image")
    for keyword, field, unit, quantity in _PLAIN:
        put(ex, field, _num(ds, keyword), unit, quantity)
    if "exposure_time_s" not in ex.values:
        put(ex, "exposure_time_s", number(ds, "ExposureTimeInms"), "ms", "time_s")
    item = first(ds, "CTDIPhantomTypeCodeSequence") or first(_frame_value(ds, "CTDIPhantomTypeCodeSequence") or
                                                              Dataset(), "CTDIPhantomTypeCodeSequence")
    phantom = code_of(item)
    if phantom is not None and phantom[0] in _PHANTOM:
        ex.values["phantom_cm"] = _PHANTOM[phantom[0]]
    ex.values["acquisition_protocol"] = header_text(ds, "ProtocolName")
    region = code_of(first(ds, "AnatomicRegionSequence"))
    if region is not None:
        ex.values["target_region_code"] = f"{region[0].scheme}:{region[0].value}"
    ex.values["target_region"] = region[1] if region is not None else header_text(ds, "BodyPartExamined")
    ex.values["modulation_type"] = header_text(ds, "ExposureModulationType")
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: CtEventRecord = ex.build(CtEventRecord, event_uid=event_key(ds), origin="header")
    return record
