"""Projection X-Ray Radiation Dose (TID 10001): accumulated planes (TID 10002-10007) and events (TID 10003)."""

from __future__ import annotations

from dmslab import codes as c
from dmslab.codes import CodeKey
from dmslab.errors import IngestError
from dmslab.ingest._header import parse_dt
from dmslab.ingest.rdsr._extract import Extractor, NumSpec
from dmslab.ingest.rdsr._tree import Item
from dmslab.quirks import note
from dmslab.records import PlaneRecord, ProjEventRecord

__all__ = ["planes", "proj_events"]

_EVENT_NUMS: NumSpec = {
    c.DAP: ("dap_gym2", "dose_area_product"),
    c.RP_DOSE: ("rp_dose_gy", "air_kerma"),
    c.AGD: ("agd_mgy", "dose_mgy"),
    c.ESAK: ("esak_mgy", "dose_mgy"),
    c.KVP: ("kvp", "voltage_kv"),
    c.TUBE_CURRENT: ("ma", "current_ma"),
    c.AVERAGE_TUBE_CURRENT: ("average_ma", "current_ma"),
    c.EXPOSURE: ("exposure_uas", "exposure_uas"),
    c.EXPOSURE_TIME: ("exposure_time_ms", "time_ms"),
    c.EXPOSURE_TIME_RETIRED: ("exposure_time_ms", "time_ms"),
    c.PULSE_WIDTH: ("pulse_width_ms", "time_ms"),
    c.PULSE_RATE: ("pulse_rate", "pulse_rate"),
    c.NUMBER_OF_PULSES: ("n_pulses", "count"),
    c.IRRADIATION_DURATION: ("irradiation_duration_s", "time_s"),
    c.FOCAL_SPOT: ("focal_spot_mm", "length_mm"),
    c.HALF_VALUE_LAYER: ("hvl_mm", "length_mm"),
    c.FIELD_AREA: ("field_area_m2", "area_m2"),
    c.FIELD_HEIGHT: ("field_h_mm", "length_mm"),
    c.FIELD_WIDTH: ("field_w_mm", "length_mm"),
    c.PRIMARY_ANGLE: ("primary_angle_deg", "angle_deg"),
    c.SECONDARY_ANGLE: ("secondary_angle_deg", "angle_deg"),
    c.PRIMARY_END_ANGLE: ("primary_end_angle_deg", "angle_deg"),
    c.SECONDARY_END_ANGLE: ("secondary_end_angle_deg", "angle_deg"),
    c.COLUMN_ANGULATION: ("column_angulation_deg", "angle_deg"),
    c.TABLE_LONGITUDINAL: ("table_long_mm", "length_mm"),
    c.TABLE_LATERAL: ("table_lat_mm", "length_mm"),
    c.TABLE_HEIGHT: ("table_height_mm", "length_mm"),
    c.DIST_SOURCE_TO_ISOCENTER: ("dsi_mm", "length_mm"),
    c.DIST_SOURCE_TO_DETECTOR: ("dsd_mm", "length_mm"),
    c.DIST_SOURCE_TO_RP: ("dsrp_mm", "length_mm"),
    c.COMPRESSION_THICKNESS: ("compression_mm", "length_mm"),
    c.COMPRESSION_FORCE: ("compression_n", "force_n"),
    c.EXPOSURE_INDEX: ("ei", "ratio"),
    c.TARGET_EXPOSURE_INDEX: ("tei", "ratio"),
    c.DEVIATION_INDEX: ("di", "ratio"),
    c.PATIENT_EQUIVALENT_THICKNESS: ("patient_thickness_mm", "length_mm"),
}

_PLANE_NUMS: NumSpec = {
    c.DAP_TOTAL: ("dap_total_gym2", "dose_area_product"),
    c.RP_DOSE_TOTAL: ("rp_total_gy", "air_kerma"),
    c.FLUORO_DAP_TOTAL: ("fluoro_dap_gym2", "dose_area_product"),
    c.FLUORO_RP_TOTAL: ("fluoro_rp_gy", "air_kerma"),
    c.FLUORO_TIME_TOTAL: ("fluoro_time_s", "time_s"),
    c.ACQ_DAP_TOTAL: ("acq_dap_gym2", "dose_area_product"),
    c.ACQ_RP_TOTAL: ("acq_rp_gy", "air_kerma"),
    c.ACQ_TIME_TOTAL: ("acq_time_s", "time_s"),
    c.TOTAL_FRAMES: ("n_frames", "count"),
    c.DIST_SOURCE_TO_RP: ("dsrp_mm", "length_mm"),
    c.CALIBRATION_FACTOR: ("calibration_factor", "ratio"),
}
_AGD_FIELD = {"L": "agd_left_mgy", "R": "agd_right_mgy", "B": "agd_both_mgy"}


def _laterality(ex: Extractor, item: Item | None, field: str) -> str | None:
    """R, L or B of a Laterality (SCT 272741003) item, in any of its codings; ``None`` when absent or unknown.

    Qualifier values (CID 244) and the breast codes some vendors send instead (right breast SCT 73056007 /
    SRT T-04020, left breast SCT 80248007 / SRT T-04030; quirk breast-code-laterality, recorded in
    ``unit_fixes``) are accepted. An unknown code is flagged on the record.
    """
    if item is None or not isinstance(item.value, CodeKey):
        return None
    side = c.laterality_for(item.value)
    if side is None:
        ex.flags.append(f"{field}: laterality {item.value.scheme}:{item.value.value} not recognised")
    elif item.value in c.BREAST_LATERALITY:
        ex.fixes.append(note("breast-code-laterality", field))
    return side


def _reference_point(idx: dict[CodeKey, list[Item]]) -> str | None:
    items = idx.get(c.REFERENCE_POINT_DEFINITION)
    if not items:
        return None
    v = items[0].value
    return f"{v.scheme}:{v.value}" if isinstance(v, CodeKey) else (v or None)


def _filters(ex: Extractor, event: Item) -> None:
    materials: list[str] = []
    thickness = 0.0
    found = False
    for box in event.children_of(c.XRAY_FILTERS):
        idx = box.index()
        mat = idx.get(c.FILTER_MATERIAL)
        if mat and mat[0].meaning:
            materials.append(mat[0].meaning)
        found_t = idx.get(c.FILTER_THICKNESS_MAX) or idx.get(c.FILTER_THICKNESS_MIN)
        t = ex.num(found_t[0] if found_t else None, "filter_thickness_mm", "length_mm")
        if t is not None:
            thickness += t
            found = True
    if materials:
        ex.values["filter_material"] = "+".join(materials)
    if found:
        ex.values["filter_thickness_mm"] = thickness


def _event(event: Item, i: int) -> ProjEventRecord:
    ex = Extractor("proj_event", f"event[{i}]")
    idx = event.index(stop=frozenset({c.XRAY_FILTERS}))
    uid_items = idx.get(c.IRRADIATION_EVENT_UID)
    uid = uid_items[0].value if uid_items else None
    if not uid:
        raise IngestError("missing_required_concept", f"Irradiation event[{i}] has no Irradiation Event UID (113769)")
    ex.take(idx, _EVENT_NUMS)
    _filters(ex, event)
    ex.code(idx, c.ACQUISITION_PLANE, "plane")
    ex.code(idx, c.IRRADIATION_EVENT_TYPE, "event_type")
    ex.code(idx, c.TARGET_REGION, "target_region_code", meaning_field="target_region", labelled=False)
    lat = idx.get(c.LATERALITY)
    if lat and isinstance(lat[0].value, CodeKey):
        key = lat[0].value
        ex.values["laterality"] = _laterality(ex, lat[0], "laterality") or f"{key.scheme}:{key.value}"
    ex.text(idx, c.IMAGE_VIEW, "view")
    ex.text(idx, c.ACQUISITION_PROTOCOL, "acquisition_protocol")
    ex.text(idx, c.ANODE_TARGET, "anode")
    ex.code(idx, c.FLUORO_MODE, "fluoro_mode", labelled=False)
    ex.code(idx, c.XRAY_GRID, "grid", labelled=False)
    ref = _reference_point(idx)
    if ref:
        ex.values["reference_point"] = ref
    started = idx.get(c.DATETIME_STARTED)
    if started and started[0].value:
        ex.values["event_datetime"] = parse_dt(started[0].value)
    comment = event.child(c.COMMENT)
    if comment is not None and comment.value:
        ex.values["comment"] = comment.value
    record: ProjEventRecord = ex.build(ProjEventRecord, event_uid=uid)
    return record


def proj_events(root: Item) -> tuple[ProjEventRecord, ...]:
    """Every Irradiation Event X-Ray Data (113706) container, in document order."""
    return tuple(_event(ev, i) for i, ev in enumerate(root.children_of(c.IRRADIATION_EVENT)))


def _plane(acc: Item, i: int) -> PlaneRecord:
    ex = Extractor("proj_plane", f"plane[{i}]")
    idx = acc.index()
    ex.take(idx, _PLANE_NUMS)
    for item in idx.get(c.ACCUMULATED_AGD, []):
        side = _laterality(ex, item.child(c.LATERALITY), "agd_both_mgy")  # unknown side: counted as both
        field = _AGD_FIELD.get(side or "B", "agd_both_mgy")
        v = ex.num(item, field, "dose_mgy")
        if v is not None:
            ex.values[field] = ex.values.get(field, 0.0) + v
    ref = _reference_point(idx)
    if ref:
        ex.values["reference_point"] = ref
    plane_item = idx.get(c.ACQUISITION_PLANE)
    plane = c.label_for(plane_item[0].value) if plane_item and isinstance(plane_item[0].value, CodeKey) else "single"
    record: PlaneRecord = ex.build(PlaneRecord, plane=plane)
    return record


def planes(root: Item) -> tuple[PlaneRecord, ...]:
    """Accumulated X-Ray Dose Data (113702), one record per plane."""
    return tuple(_plane(acc, i) for i, acc in enumerate(root.children_of(c.ACCUMULATED_XRAY_DOSE)))
