"""Projection images (CR, DX, intra-oral/PX, MG, breast tomosynthesis/projection, XA, RF): one
:class:`ProjEventRecord` per exposure (or XA/RF run) from the header.

References
----------
DICOM PS3.3 C.8.7.8 X-Ray Acquisition Dose Module, C.8.31.5 Breast X-Ray Acquisition Dose, C.8.7.2 X-Ray
Acquisition Module; IEC 62494-1 (exposure index); ``shared/reference/rdsr_codes.md`` ("DICOM image-header
(non-SR) dose attributes") and ``units.md`` section 3.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from dmslab.codes import DCM
from dmslab.ingest._header import header_text, parse_da_tm, parse_dt
from dmslab.ingest.headers import _quirks as q
from dmslab.ingest.headers._common import code_of, derived_uid, first, number, put, raw_text, study_uid_of
from dmslab.ingest.headers.xa import xa_event_uid, xa_values
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.records import ProjEventRecord

__all__ = ["proj_event"]

logger = logging.getLogger(__name__)

#: Grid (0018,1166) defined terms (and Kodak's "FO") -> CID 10017 X-Ray Grid, as SCHEME:VALUE.
_GRID = {
    "NONE": DCM("111646"), "FIXED": DCM("111641"), "FOCUSED": DCM("111642"), "FO": DCM("111642"),
    "RECIPROCATING": DCM("111643"), "PARALLEL": DCM("111644"), "CROSSED": DCM("111645"),
}
_LATERALITY = {"L": "L", "R": "R", "B": "B"}

#: (keyword, field, unit the attribute is defined in, quantity class)
_PLAIN = (
    ("KVP", "kvp", "kV", "voltage_kv"),
    ("XRayTubeCurrent", "ma", "mA", "current_ma"),
    ("ExposureTime", "exposure_time_ms", "ms", "time_ms"),
    ("FocalSpots", "focal_spot_mm", "mm", "length_mm"),
    ("EntranceDoseInmGy", "esak_mgy", "mGy", "dose_mgy"),
    ("BodyPartThickness", "compression_mm", "mm", "length_mm"),
    ("HalfValueLayer", "hvl_mm", "mm", "length_mm"),
    ("PositionerPrimaryAngle", "primary_angle_deg", "deg", "angle_deg"),
    ("PositionerSecondaryAngle", "secondary_angle_deg", "deg", "angle_deg"),
    ("ColumnAngulation", "column_angulation_deg", "deg", "angle_deg"),
    ("ExposureIndex", "ei", "1", "ratio"),
    ("TargetExposureIndex", "tei", "1", "ratio"),
    ("DeviationIndex", "di", "1", "ratio"),
)


def _exposure(ex: Extractor, ds: Dataset) -> None:
    """Tube exposure: ExposureInuAs (µAs) when present, else Exposure (mAs, IS; decimals tolerated)."""
    uas = number(ds, "ExposureInuAs")
    if uas is not None:
        put(ex, "exposure_uas", uas, "uA.s", "exposure_uas")
        return
    put(ex, "exposure_uas", number(ds, "Exposure"), "mAs", "exposure_uas")
    if "exposure_uas" not in ex.values:
        put(ex, "exposure_uas", number(ds, "ExposureInmAs"), "mAs", "exposure_uas")


def _filters(ex: Extractor, ds: Dataset) -> None:
    found = q.filters(ds)
    materials = [f.material for f in found if f.material]
    if materials:
        ex.values["filter_material"] = "+".join(materials)
    thick = [f.max_mm if f.max_mm is not None else f.min_mm for f in found]
    if any(t is not None for t in thick):
        put(ex, "filter_thickness_mm", sum(t for t in thick if t is not None), "mm", "length_mm")
    if any(f.swapped for f in found):
        ex.fixes.append("filter_thickness_mm: minimum and maximum swapped (quirk kodak_swapped_min_max)")


def _grid(ds: Dataset) -> str | None:
    text = raw_text(ds, "Grid")
    if not text:
        return None
    parts = [p.strip().upper() for p in text.split("\\") if p.strip()]
    keys = [_GRID.get(p) for p in parts]
    return "+".join(f"{k.scheme}:{k.value}" if k is not None else p for k, p in zip(keys, parts, strict=True))


def _geometry(ex: Extractor, ds: Dataset) -> None:
    sid = number(ds, "DistanceSourceToDetector")
    if sid is not None:
        unit, why = q.sid_unit(sid, header_text(ds, "Manufacturer"))
        put(ex, "dsd_mm", sid, unit, "length_mm", fixed=why)
    force = number(ds, "CompressionForce")
    if force is not None:
        unit, why = q.compression_force_unit(force, header_text(ds, "ManufacturerModelName"))
        put(ex, "compression_n", force, unit, "force_n", fixed=why)


def _labels(ex: Extractor, ds: Dataset) -> None:
    ex.values["acquisition_protocol"] = header_text(ds, "ProtocolName")
    region = code_of(first(ds, "AnatomicRegionSequence"))
    if region is not None:
        ex.values["target_region_code"] = f"{region[0].scheme}:{region[0].value}"
        ex.values["target_region"] = region[1]
    else:
        ex.values["target_region"] = header_text(ds, "BodyPartExamined")
    view = code_of(first(ds, "ViewCodeSequence"))
    ex.values["view"] = view[1] if view is not None else header_text(ds, "ViewPosition")
    lat = header_text(ds, "ImageLaterality") or header_text(ds, "Laterality")
    ex.values["laterality"] = _LATERALITY.get((lat or "").upper())
    ex.values["anode"] = q.material_meaning(header_text(ds, "AnodeTargetMaterial"))
    ex.values["grid"] = _grid(ds)
    rel = number(ds, "RelativeXRayExposure")
    if rel is not None:
        label = q.relative_exposure_label(header_text(ds, "Manufacturer")) or "vendor-specific ()"
        ex.values["relative_exposure"] = rel
        ex.values["relative_exposure_kind"] = label


def acquired_at(ds: Dataset) -> tuple[str | None, str | None]:
    """Raw acquisition date and time (AcquisitionDateTime, else AcquisitionDate/Time, else Content*)."""
    adt = header_text(ds, "AcquisitionDateTime")
    if adt:
        return adt[:8], adt[8:]
    time = header_text(ds, "AcquisitionTime") or header_text(ds, "ContentTime")
    return header_text(ds, "AcquisitionDate") or header_text(ds, "ContentDate"), time


def event_uid(ds: Dataset) -> str:
    """Irradiation Event UID (0008,3010) when present, else a UID derived from the exposure's identity.

    The derived UID hashes study UID, acquisition date and time, image laterality and view code, which a
    For-Processing image and its For-Presentation copy share: both then give the same event and the store
    keeps it once. Without an acquisition time the SOP Instance UID is used (each image its own event).
    """
    uid = header_text(ds, "IrradiationEventUID")
    if uid:
        return uid.split("\\")[0]
    date, time = acquired_at(ds)
    if not time:
        logger.debug("%s: no acquisition time; event keyed by SOP Instance UID", header_text(ds, "SOPInstanceUID"))
        return header_text(ds, "SOPInstanceUID") or derived_uid(study_uid_of(ds), "no-time")
    view = code_of(first(ds, "ViewCodeSequence"))
    view_key = f"{view[0].scheme}:{view[0].value}" if view is not None else header_text(ds, "ViewPosition")
    return derived_uid(study_uid_of(ds), date, time.split(".")[0], header_text(ds, "ImageLaterality"), view_key)


def proj_event(ds: Dataset, *, mammo: bool, xa: bool = False) -> ProjEventRecord:
    """The exposure of one CR/DX/PX/MG image (or the run of an XA/RF object, ``xa=True``), in canonical
    units, checked against ``proj_event``.

    DAP (0018,115E) is dGy·cm² (→ Gy·m²), OrganDose (0040,0316) is the AGD in dGy (→ mGy), exposure in
    µAs, times in ms, distances in mm; vendor fixes are recorded in ``unit_fixes``. XA/RF values: see
    :mod:`dmslab.ingest.headers.xa`.
    """
    ex = Extractor("proj_event", header_text(ds, "SOPInstanceUID") or "image")
    put(ex, "dap_gym2", number(ds, "ImageAndFluoroscopyAreaDoseProduct"), "dGy.cm2", "dose_area_product")
    if mammo:
        put(ex, "agd_mgy", number(ds, "OrganDose"), "dGy", "dose_mgy")
    for keyword, field, unit, quantity in _PLAIN:
        put(ex, field, number(ds, keyword), unit, quantity)
    if mammo and "column_angulation_deg" not in ex.values and "primary_angle_deg" in ex.values:
        ex.values["column_angulation_deg"] = ex.values["primary_angle_deg"]  # the C-arm rotation of a mammography unit
    _exposure(ex, ds)
    _filters(ex, ds)
    _geometry(ex, ds)
    _labels(ex, ds)
    if xa:
        xa_values(ex, ds)
    date, time = acquired_at(ds)
    adt = header_text(ds, "AcquisitionDateTime")
    ex.values["event_datetime"] = parse_dt(adt) if adt else parse_da_tm(date, time)
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: ProjEventRecord = ex.build(ProjEventRecord, event_uid=xa_event_uid(ds) if xa else event_uid(ds),
                                       plane=None if xa else "single", origin="header")
    return record
