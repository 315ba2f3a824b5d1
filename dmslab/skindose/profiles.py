"""Vendor geometry profiles (``dmslab/data/skin_geometry_profiles.csv``) and the mapping of RDSR geometry to beams.

A profile says which RDSR table reading moves the patient along the table (``long_reading``) and across it
(``lat_reading``), the signs, and the offsets (cm) that put the isocentre relative to the table frame of
:mod:`dmslab.skindose.phantom` at zero readings:

``T = (lat_sign x lat/10 + offset_x, long_sign x long/10 + offset_y, height_sign x height/10 + offset_z)``

Angles are multiplied by ``primary_sign``/``secondary_sign``. Every entry names its source and a confidence,
``validated`` (compared with measurement) or ``indicative``. A system that matches no entry gets no profile:
the caller reports "geometry unknown" or, when asked, uses ``default``, labelled so.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dmslab.skindose.beams import Beam
from dmslab.skindose.geometry import EventGeometry

__all__ = ["DEFAULT_CENTRE_CM", "GeometryProfile", "find_profile", "profiles", "to_beam"]

# where the isocentre is put, in the table frame, for a reading that is missing: 35 cm below the head vertex
# (chest), mid-line, 10 cm above the mattress
DEFAULT_CENTRE_CM = (0.0, -35.0, 10.0)
DEFAULT_DSI_MM = 750.0
IRP_FROM_ISOCENTRE_MM = 150.0  # IEC 60601-2-43 interventional reference point, toward the source
DEFAULT_KVP = 80.0


@dataclass(frozen=True)
class GeometryProfile:
    name: str
    manufacturer_regex: str
    model_regex: str
    long_reading: str  # "lateral" or "longitudinal": the RDSR reading that moves the patient head-foot
    long_sign: float
    lat_reading: str
    lat_sign: float
    height_sign: float
    offset_cm: tuple[float, float, float]
    primary_sign: float
    secondary_sign: float
    confidence: str
    source: str

    def matches(self, manufacturer: str, model: str) -> bool:
        if not self.manufacturer_regex:
            return False
        return bool(re.search(self.manufacturer_regex, manufacturer, re.I) and re.search(self.model_regex, model, re.I))


@lru_cache(maxsize=1)
def profiles() -> dict[str, GeometryProfile]:
    text = resources.files("dmslab.data").joinpath("skin_geometry_profiles.csv").read_text(encoding="utf-8")
    out: dict[str, GeometryProfile] = {}
    for r in csv.DictReader(text.splitlines()):
        if r["confidence"] not in ("validated", "indicative"):
            raise ValueError(f"profile {r['profile']}: confidence {r['confidence']!r}")
        out[r["profile"]] = GeometryProfile(
            r["profile"], r["manufacturer_regex"], r["model_regex"], r["long_reading"], float(r["long_sign"]),
            r["lat_reading"], float(r["lat_sign"]), float(r["height_sign"]),
            (float(r["offset_x_cm"]), float(r["offset_y_cm"]), float(r["offset_z_cm"])),
            float(r["primary_sign"]), float(r["secondary_sign"]), r["confidence"], r["source"])
    return out


def find_profile(manufacturer: str | None, model: str | None) -> GeometryProfile | None:
    """The first profile matching the system, ``None`` for an unknown one (never the default silently)."""
    for p in profiles().values():
        if p.matches(manufacturer or "", model or ""):
            return p
    return None


def _reading(g: EventGeometry, which: str) -> float | None:
    return g.table_lateral_mm if which == "lateral" else g.table_longitudinal_mm


def _offset(g: EventGeometry, p: GeometryProfile, notes: set[str],
            centre_cm: tuple[float, float, float]) -> tuple[float, float, float]:
    long_mm, lat_mm, h_mm = _reading(g, p.long_reading), _reading(g, p.lat_reading), g.table_height_mm
    cx, cy, cz = centre_cm
    if long_mm is None:
        notes.add(f"table head-foot position missing: isocentre put at the chest (table frame y = {cy:.0f} cm)")
    if lat_mm is None:
        notes.add("table lateral position missing: isocentre on the table mid-line")
    if h_mm is None:
        notes.add(f"table height missing: isocentre put {cz:.0f} cm above the mattress")
    ox, oy, oz = p.offset_cm
    return (-cx if lat_mm is None else p.lat_sign * lat_mm / 10 + ox,
            -cy if long_mm is None else p.long_sign * long_mm / 10 + oy,
            -cz if h_mm is None else p.height_sign * h_mm / 10 + oz)


def _field(g: EventGeometry, d_ref_cm: float, notes: set[str]) -> tuple[float, float, float] | None:
    """Field width, height (cm) and the distance from the source where they apply."""
    dsd_cm = g.dsd_mm / 10 if g.dsd_mm else None
    if g.field_width_mm and g.field_height_mm and dsd_cm:
        notes.add("field from Collimated Field Width/Height, taken at the detector")
        return g.field_width_mm / 10, g.field_height_mm / 10, dsd_cm
    if g.field_area_m2 and dsd_cm:
        notes.add("field from Collimated Field Area (square), taken at the detector")
        side = math.sqrt(g.field_area_m2) * 100
        return side, side, dsd_cm
    if g.dap_gym2 and g.dose_rp_gy:
        notes.add("field from KAP / Ka,r (square) at the reference point: no collimated field sent")
        side = math.sqrt(g.dap_gym2 / g.dose_rp_gy) * 100
        return side, side, d_ref_cm
    return None


def to_beam(g: EventGeometry, p: GeometryProfile, notes: set[str],
            centre_cm: tuple[float, float, float] = DEFAULT_CENTRE_CM) -> Beam | str:
    """The event as a beam, or the reason it cannot be one; assumptions made are added to ``notes``;
    ``centre_cm`` is where a missing table reading puts the isocentre (table frame)."""
    if not g.dose_rp_gy or g.dose_rp_gy <= 0:
        return "no Dose (RP) (Ka,r) or zero"
    dsi_mm = g.dsi_mm
    if not dsi_mm:
        notes.add(f"Distance Source to Isocenter missing: {DEFAULT_DSI_MM:.0f} mm assumed")
        dsi_mm = DEFAULT_DSI_MM
    d_ref_mm = g.dsrp_mm or dsi_mm - IRP_FROM_ISOCENTRE_MM
    if not g.dsrp_mm:
        notes.add("reference point 15 cm from the isocentre toward the source (IEC 60601-2-43)")
    field = _field(g, d_ref_mm / 10, notes)
    if field is None:
        return "no collimated field and no KAP to derive it"
    if g.primary_angle_deg is None or g.secondary_angle_deg is None:
        notes.add("positioner angle missing: 0 degrees (PA) assumed")
    if any(a for a in (g.table_head_tilt_deg, g.table_cradle_tilt_deg, g.table_horizontal_rotation_deg)):
        notes.add("table tilt/rotation sent but not modelled")
    kvp = g.kvp_kv or DEFAULT_KVP
    if not g.kvp_kv:
        notes.add(f"kVp missing: {DEFAULT_KVP:.0f} kV assumed")

    def ang(v: float | None, sign: float) -> float | None:
        return None if v is None else sign * v

    return Beam(
        event_uid=g.event_uid or f"event[{g.index}]", k_ref_gy=g.dose_rp_gy, d_ref_cm=d_ref_mm / 10,
        dsi_cm=dsi_mm / 10, field_w_cm=field[0], field_h_cm=field[1], field_plane_cm=field[2],
        primary_deg=ang(g.primary_angle_deg, p.primary_sign) or 0.0,
        secondary_deg=ang(g.secondary_angle_deg, p.secondary_sign) or 0.0,
        primary_end_deg=ang(g.primary_end_angle_deg, p.primary_sign),
        secondary_end_deg=ang(g.secondary_end_angle_deg, p.secondary_sign),
        table_offset_cm=_offset(g, p, notes, centre_cm), kvp_kv=kvp, cu_mm=g.cu_mm or 0.0, kap_gym2=g.dap_gym2)
