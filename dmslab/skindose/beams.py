"""Beams in the isocentre frame and the flat arrays the kernel reads, built once per study.

Isocentre frame (cm): origin at the isocentre, x toward the table's left seen from its foot end (the left of a
head-first supine patient), y toward the table's head end, z up. With both angles zero the source is under the
table at (0, 0, -DSI) and the beam points up (PA for a supine patient). The beam's rotation is
``R = Rx(-secondary) . Ry(primary)``: a positive primary angle moves the detector toward +x (LAO for HFS), a
positive secondary angle tilts the detector toward +y (cranial for HFS). The field's width runs along ``R . x``,
its height along ``R . y``, turned by the collimator angle about the central axis.

A rotational run (start and end angles that differ) becomes ``ceil(sweep / arc_step_deg)`` static beams at the
middle of equal arcs, each with its share of the run's reference air kerma: a loop, never recursion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dmslab.skindose import kernel as k
from dmslab.skindose.tables import BackscatterTable, TransmissionTable

__all__ = ["Beam", "BeamArrays", "Support", "build_arrays", "rotation"]


@dataclass(frozen=True)
class Beam:
    """One irradiation event, vendor-neutral: what the kernel needs, with units in the names."""

    event_uid: str
    k_ref_gy: float  # air kerma free in air at the reference point
    d_ref_cm: float  # source to reference point
    dsi_cm: float  # source to isocentre
    field_w_cm: float  # field width / height at field_plane_cm from the source
    field_h_cm: float
    field_plane_cm: float
    primary_deg: float = 0.0
    secondary_deg: float = 0.0
    primary_end_deg: float | None = None
    secondary_end_deg: float | None = None
    collimator_deg: float = 0.0
    table_offset_cm: tuple[float, float, float] = (0.0, 0.0, 0.0)  # table frame -> isocentre frame
    kvp_kv: float = 80.0
    cu_mm: float = 0.0
    kap_gym2: float | None = None


@dataclass(frozen=True)
class Support:
    """Table + mattress: outline in the table frame and the transmission table it uses (``None``: no table)."""

    width_cm: float = 45.0
    length_cm: float = 281.5
    head_end_y_cm: float = 10.0  # the table's head end, 10 cm beyond the head vertex of a head-first patient
    thickness_cm: float = 9.0  # table 5 cm + mattress 4 cm under the skin at z = 0
    transmission: TransmissionTable | None = None
    path_cap: float = 5.0  # oblique path at most 5x the perpendicular one (incidence within 78 degrees)

    def array(self) -> np.ndarray:
        y1 = self.head_end_y_cm
        return np.array([-self.thickness_cm / 2, self.width_cm / 2, y1, y1 - self.length_cm, self.path_cap])


@dataclass(frozen=True)
class BeamArrays:
    ev: np.ndarray  # (m, EV_COLS)
    bsf: np.ndarray  # (m, n_side)
    side_nodes: np.ndarray
    tab: np.ndarray
    event_index: np.ndarray  # (m,) index of the Beam each row came from
    omega_beam: np.ndarray  # (m,) solid angle of each row's field (sr)
    notes: tuple[str, ...]


def rotation(primary_deg: float, secondary_deg: float) -> np.ndarray:
    """Columns: the beam's u (field width), v (field height) and d (central axis) in the isocentre frame."""
    a, b = math.radians(primary_deg), math.radians(secondary_deg)
    ry = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(-b), -math.sin(-b)], [0.0, math.sin(-b), math.cos(-b)]])
    return rx @ ry


def _arcs(beam: Beam, arc_step_deg: float) -> list[tuple[float, float, float]]:
    """(primary, secondary, share of K) per static beam."""
    a0, b0 = beam.primary_deg, beam.secondary_deg
    da = 0.0 if beam.primary_end_deg is None else beam.primary_end_deg - a0
    db = 0.0 if beam.secondary_end_deg is None else beam.secondary_end_deg - b0
    n = max(1, math.ceil(max(abs(da), abs(db)) / arc_step_deg - 1e-9))
    return [(a0 + (j + 0.5) * da / n, b0 + (j + 0.5) * db / n, 1.0 / n) for j in range(n)]


def _quality(beam: Beam, support: Support, bs: BackscatterTable | None, medium: bool,
             notes: set[str]) -> tuple[np.ndarray, float, float]:
    """BSF by field side, mu_en ratio at the reference field side, ln(table transmission) of one beam."""
    side_ref = math.sqrt(beam.field_w_cm * beam.field_h_cm) * beam.d_ref_cm / beam.field_plane_cm
    if bs is None:
        bsf, kmed = np.ones(2), 1.0
    else:
        bsf = bs.bsf_by_side(beam.kvp_kv, beam.cu_mm)
        kmed = bs.muen_ratio(beam.kvp_kv, beam.cu_mm, side_ref) if medium else 1.0
        if not bs.in_range(beam.kvp_kv, beam.cu_mm):
            notes.add("beam quality outside the backscatter table: edge values used")
    ln_t0 = 0.0
    if support.transmission is not None:
        ln_t0 = math.log(support.transmission.at(beam.kvp_kv, beam.cu_mm))
        if not support.transmission.in_range(beam.kvp_kv, beam.cu_mm):
            notes.add("beam quality outside the table transmission table: edge values used")
    return bsf, kmed, ln_t0


def _beam_columns(beams: list[Beam]) -> dict[str, np.ndarray]:
    names = ("dsi_cm", "field_w_cm", "field_h_cm", "field_plane_cm", "k_ref_gy", "d_ref_cm", "collimator_deg")
    cols = {n: np.array([getattr(b, n) for b in beams], dtype=np.float64) for n in names}
    cols["offset"] = np.array([b.table_offset_cm for b in beams], dtype=np.float64).reshape(-1, 3)
    return cols


def build_arrays(beams: list[Beam], support: Support, bs: BackscatterTable | None, medium: bool,
                 arc_step_deg: float = 5.0) -> BeamArrays:
    """The kernel's arrays for every beam (rotational runs split into arcs); ``bs=None`` turns backscatter off."""
    notes: set[str] = set()
    arcs = [(i, a, b, share) for i, beam in enumerate(beams) for a, b, share in _arcs(beam, arc_step_deg)]
    idx = np.array([x[0] for x in arcs], dtype=np.int64)
    a = np.radians([x[1] for x in arcs])
    b = np.radians([x[2] for x in arcs])
    share = np.array([x[3] for x in arcs])
    cache: dict[tuple[float, float, float], tuple[np.ndarray, float, float]] = {}
    qual = []
    for beam in beams:
        key = (beam.kvp_kv, beam.cu_mm, beam.field_w_cm * beam.field_h_cm * (beam.d_ref_cm / beam.field_plane_cm) ** 2)
        if key not in cache:
            cache[key] = _quality(beam, support, bs, medium, notes)
        qual.append(cache[key])
    col = {n: v[idx] for n, v in _beam_columns(beams).items()}
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    d = np.column_stack([sa, ca * sb, ca * cb])  # R . z with R = Rx(-b) Ry(a), see rotation()
    u0 = np.column_stack([ca, -sa * sb, -sa * cb])  # R . x
    v0 = np.column_stack([np.zeros_like(a), cb, -sb])  # R . y
    g = np.radians(col["collimator_deg"])[:, None]
    ev = np.zeros((len(arcs), k.EV_COLS))
    ev[:, [k.SX, k.SY, k.SZ]] = -col["dsi_cm"][:, None] * d
    ev[:, [k.DX, k.DY, k.DZ]] = d
    ev[:, [k.UX, k.UY, k.UZ]] = u0 * np.cos(g) + v0 * np.sin(g)
    ev[:, [k.VX, k.VY, k.VZ]] = -u0 * np.sin(g) + v0 * np.cos(g)
    ev[:, k.TAN_U] = col["field_w_cm"] / 2 / col["field_plane_cm"]
    ev[:, k.TAN_V] = col["field_h_cm"] / 2 / col["field_plane_cm"]
    ev[:, k.K_GY] = col["k_ref_gy"] * share
    ev[:, k.D_REF] = col["d_ref_cm"]
    ev[:, k.SIDE_REF] = np.sqrt(col["field_w_cm"] * col["field_h_cm"]) * col["d_ref_cm"] / col["field_plane_cm"]
    ev[:, k.K_MED] = np.array([q[1] for q in qual])[idx] if qual else 0.0
    ev[:, k.LN_T0] = np.array([q[2] for q in qual])[idx] if qual else 0.0
    ev[:, [k.TX, k.TY, k.TZ]] = col["offset"]
    side_nodes = bs.side_cm if bs is not None else np.array([0.0, 1.0])
    bsf = np.array([q[0] for q in qual]).reshape(len(beams), len(side_nodes))[idx]
    alpha, beta = np.arctan(ev[:, k.TAN_U]), np.arctan(ev[:, k.TAN_V])
    return BeamArrays(ev=ev, bsf=bsf, side_nodes=side_nodes, tab=support.array(), event_index=idx,
                      omega_beam=4 * np.arcsin(np.sin(alpha) * np.sin(beta)), notes=tuple(sorted(notes)))
