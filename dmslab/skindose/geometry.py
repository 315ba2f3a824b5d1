"""Per-event geometry read from a parsed projection RDSR (the content tree of :func:`dmslab.ingest.rdsr.read_tree`).

A pure function of the tree: no vendor mapping here (that is :mod:`dmslab.skindose.profiles`), only what each
Irradiation Event X-Ray Data container (TID 10003) says, in canonical units named in the fields. Everything is
matched on (scheme, code); a value that is absent stays ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING

from dmslab import codes as c
from dmslab.codes import CodeKey
from dmslab.errors import UnknownUnitError
from dmslab.units import convert

if TYPE_CHECKING:  # the content tree's item class; not imported at run time (keeps `import dmslab.skindose` light)
    from dmslab.ingest.rdsr import Item

__all__ = ["EventGeometry", "event_geometries"]


@dataclass(frozen=True)
class EventGeometry:
    """What one irradiation event says about its geometry and beam (``None``: not sent)."""

    index: int
    event_uid: str | None
    event_type: str | None  # "fluoroscopy", "stationary", "stepping", "rotational", or SCHEME:VALUE
    plane: str | None
    dose_rp_gy: float | None
    dap_gym2: float | None
    kvp_kv: float | None
    n_pulses: float | None
    cu_mm: float | None  # sum of copper filters (mean of min and max per filter)
    al_mm: float | None
    table_longitudinal_mm: float | None
    table_lateral_mm: float | None
    table_height_mm: float | None
    table_head_tilt_deg: float | None
    table_horizontal_rotation_deg: float | None
    table_cradle_tilt_deg: float | None
    primary_angle_deg: float | None
    secondary_angle_deg: float | None
    primary_end_angle_deg: float | None
    secondary_end_angle_deg: float | None
    dsi_mm: float | None
    dsd_mm: float | None
    dsrp_mm: float | None
    field_area_m2: float | None
    field_height_mm: float | None
    field_width_mm: float | None
    patient_table_relationship: str | None  # "headfirst", "feetfirst" or SCHEME:VALUE
    patient_orientation_modifier: str | None  # "supine", "prone" or SCHEME:VALUE
    unit_notes: tuple[str, ...] = ()


_NUMS: dict[CodeKey, tuple[str, str]] = {
    c.RP_DOSE: ("dose_rp_gy", "air_kerma"),
    c.DAP: ("dap_gym2", "dose_area_product"),
    c.KVP: ("kvp_kv", "voltage_kv"),
    c.NUMBER_OF_PULSES: ("n_pulses", "count"),
    c.TABLE_LONGITUDINAL: ("table_longitudinal_mm", "length_mm"),
    c.TABLE_LATERAL: ("table_lateral_mm", "length_mm"),
    c.TABLE_HEIGHT: ("table_height_mm", "length_mm"),
    c.TABLE_HEAD_TILT: ("table_head_tilt_deg", "angle_deg"),
    c.TABLE_HORIZONTAL_ROTATION: ("table_horizontal_rotation_deg", "angle_deg"),
    c.TABLE_CRADLE_TILT: ("table_cradle_tilt_deg", "angle_deg"),
    c.PRIMARY_ANGLE: ("primary_angle_deg", "angle_deg"),
    c.SECONDARY_ANGLE: ("secondary_angle_deg", "angle_deg"),
    c.PRIMARY_END_ANGLE: ("primary_end_angle_deg", "angle_deg"),
    c.SECONDARY_END_ANGLE: ("secondary_end_angle_deg", "angle_deg"),
    c.DIST_SOURCE_TO_ISOCENTER: ("dsi_mm", "length_mm"),
    c.DIST_SOURCE_TO_DETECTOR: ("dsd_mm", "length_mm"),
    c.DIST_SOURCE_TO_RP: ("dsrp_mm", "length_mm"),
    c.FIELD_AREA: ("field_area_m2", "area_m2"),
    c.FIELD_HEIGHT: ("field_height_mm", "length_mm"),
    c.FIELD_WIDTH: ("field_width_mm", "length_mm"),
}
_EVENT_TYPES = {c.DCM("113611"): "stationary", c.DCM("113612"): "stepping", c.DCM("113613"): "rotational",
                c.SCT("44491008"): "fluoroscopy"}
_LABELS = {c.HEADFIRST: "headfirst", c.FEETFIRST: "feetfirst", c.SUPINE: "supine", c.PRONE: "prone"}


def _number(item: Item, quantity: str, notes: list[str], field: str) -> float | None:
    numbers = item.value or ()
    if item.vt != "NUM" or not numbers:
        return None
    try:
        conv = convert(fmean(numbers), item.unit, quantity)
    except UnknownUnitError:
        notes.append(f"{field}: unknown unit {item.unit!r}, not used")
        return None
    if conv.fixed_from is not None:
        notes.append(f"{field}: unit {conv.fixed_from}")
    return float(conv.value)


def _label(item: Item | None, table: dict[CodeKey, str]) -> str | None:
    if item is None or not isinstance(item.value, CodeKey):
        return None
    return table.get(item.value, f"{item.value.scheme}:{item.value.value}")


def _filters(event: Item, notes: list[str]) -> tuple[float | None, float | None]:
    cu: float | None = None
    al: float | None = None
    for box in event.children_of(c.XRAY_FILTERS):
        idx = box.index()
        mat = idx.get(c.FILTER_MATERIAL)
        key = mat[0].value if mat else None
        ts = [v for it in idx.get(c.FILTER_THICKNESS_MIN, []) + idx.get(c.FILTER_THICKNESS_MAX, [])
              if (v := _number(it, "length_mm", notes, "filter")) is not None]
        if not ts or not isinstance(key, CodeKey):
            continue
        if key in c.COPPER_FILTERS:
            cu = (cu or 0.0) + fmean(ts)
        elif key in c.ALUMINIUM_FILTERS:
            al = (al or 0.0) + fmean(ts)
        else:
            notes.append(f"filter material {key.scheme}:{key.value} not used (only Cu and Al are)")
    return cu, al


def _direct_index(event: Item) -> dict[CodeKey, list[Item]]:
    """The event's direct children by concept: TID 10003 sends its source and mechanical data inline (10003B/C
    are included templates, not containers); filters and the orientation modifier are read from their parents."""
    out: dict[CodeKey, list[Item]] = {}
    for it in event.children:
        if it.concept is not None:
            out.setdefault(it.concept, []).append(it)
    return out


def _one(event: Item, i: int) -> EventGeometry:
    notes: list[str] = []
    idx = _direct_index(event)
    values: dict[str, float | None] = {}
    for code, (field, quantity) in _NUMS.items():
        items = idx.get(code)
        values[field] = _number(items[0], quantity, notes, field) if items else None
    cu, al = _filters(event, notes)
    uid = idx.get(c.IRRADIATION_EVENT_UID)
    et = idx.get(c.IRRADIATION_EVENT_TYPE)
    plane = idx.get(c.ACQUISITION_PLANE)
    rel = idx.get(c.PATIENT_TABLE_RELATIONSHIP)
    orient = idx.get(c.PATIENT_ORIENTATION)
    modifier = idx.get(c.PATIENT_ORIENTATION_MODIFIER)
    if not modifier and orient:  # the modifier is a child of Patient Orientation
        modifier = orient[0].children_of(c.PATIENT_ORIENTATION_MODIFIER)
    return EventGeometry(
        index=i,
        event_uid=str(uid[0].value) if uid and uid[0].value else None,
        event_type=_label(et[0] if et else None, _EVENT_TYPES),
        plane=c.label_for(plane[0].value) if plane and isinstance(plane[0].value, CodeKey) else None,
        cu_mm=cu, al_mm=al,
        patient_table_relationship=_label(rel[0] if rel else None, _LABELS),
        patient_orientation_modifier=_label(modifier[0] if modifier else None, _LABELS),
        unit_notes=tuple(notes),
        **values,
    )


def event_geometries(root: Item) -> tuple[EventGeometry, ...]:
    """Geometry of every Irradiation Event X-Ray Data (113706) container, in document order."""
    return tuple(_one(ev, i) for i, ev in enumerate(root.children_of(c.IRRADIATION_EVENT)))
