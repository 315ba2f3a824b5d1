"""Skin phantoms: cell centres, outward normals and areas on a regular unrolled map.

Frames (all lengths in cm):

* **patient frame** — x toward the patient's left, y toward the head, z anterior. The body phantom's back touches
  z = 0 and its head vertex sits at y = 0 (the body extends toward -y).
* **table frame** — x to the table's left seen from its foot end, y toward the table's head end, z up; z = 0 is the
  top of the mattress. :func:`place` puts a phantom on the table for a patient position (HFS, FFS, HFP, FFP).

The body phantom is an elliptic-cylinder trunk with a cylindrical head and neck on its axis and the legs as one
elliptic cylinder below it, sized from the
patient's height and mass (ICRP 89 reference adult male, 176 cm and 73 kg, when either is missing: stated in the
phantom's ``assumptions``). Both solids are convex, so a cell that faces the source is not shadowed by its own solid;
shadowing of the head by the trunk (and of the arms, which are not modelled) is ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from dmslab.errors import SkinDoseError

__all__ = ["REFERENCE_HEIGHT_CM", "REFERENCE_MASS_KG", "Phantom", "body_phantom", "flat_phantom", "place"]

REFERENCE_HEIGHT_CM = 176.0  # ICRP Publication 89 (2002), reference adult male
REFERENCE_MASS_KG = 73.0
# trunk and head of the reference body (cm), scaled per patient: lengths with height, cross-section with
# sqrt(mass/height) (volume ~ cross-section x length)
_TRUNK_LENGTH_CM = 70.0
_TRUNK_HALF_WIDTH_CM = 17.0
_TRUNK_HALF_DEPTH_CM = 10.0
_HEAD_LENGTH_CM = 24.0
_HEAD_RADIUS_CM = 9.2  # circumference 58 cm
_LEGS_HALF_WIDTH = 0.85  # both thighs together, relative to the trunk (dmslab assumption, like a cylinder phantom)
_LEGS_HALF_DEPTH = 0.8


@dataclass(frozen=True)
class Phantom:
    """Skin cells of a phantom; ``rows``/``cols`` place each cell on the unrolled ``map_shape`` grid."""

    kind: str
    cell_cm: float
    centres_cm: np.ndarray  # (n, 3) float64
    normals: np.ndarray  # (n, 3) unit outward normals
    areas_cm2: np.ndarray  # (n,)
    rows: np.ndarray  # (n,) int
    cols: np.ndarray  # (n,) int
    map_shape: tuple[int, int]
    region: np.ndarray  # (n,) str: "head", "trunk", "legs" or "flat"
    height_cm: float  # patient height (flat: sheet length): where the feet are, for feet-first placement
    description: str = ""
    assumptions: tuple[str, ...] = field(default=())

    @property
    def n_cells(self) -> int:
        return int(self.centres_cm.shape[0])

    def to_map(self, values: np.ndarray) -> np.ndarray:
        """Values per cell on the unrolled grid (NaN where the grid has no skin)."""
        out = np.full(self.map_shape, np.nan)
        out[self.rows, self.cols] = values
        return out


def _check_cell(cell_cm: float) -> None:
    if not (0.1 <= cell_cm <= 5.0):
        raise SkinDoseError("cell_size", f"cell size {cell_cm} cm is outside 0.1-5 cm")


def _ellipse_ring(a: float, b: float, step: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Points at equal arc length around the ellipse x = a sin t, z = b (1 - cos t) (t = 0 at the posterior
    midline, increasing toward the patient's left), their outward normals in the x-z plane and the arc per point."""
    t = np.linspace(0.0, 2 * math.pi, 4097)
    dx, dz = a * np.cos(t), b * np.sin(t)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(dx[1:] + dx[:-1], dz[1:] + dz[:-1]) / 2 * np.diff(t))])
    n = max(8, round(s[-1] / step))
    arc = s[-1] / n
    tc = np.interp((np.arange(n) + 0.5) * arc, s, t)
    pts = np.column_stack([a * np.sin(tc), b * (1 - np.cos(tc))])
    nrm = np.column_stack([np.sin(tc) / a, -np.cos(tc) / b])
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    return pts, nrm, arc


def _cylinder(a: float, b: float, y_top: float, length: float, cell: float) -> tuple[np.ndarray, ...]:
    ring, nrm, arc = _ellipse_ring(a, b, cell)
    n_rows = max(1, round(length / cell))
    dy = length / n_rows
    ys = y_top - (np.arange(n_rows) + 0.5) * dy
    n_ring = ring.shape[0]
    centres = np.empty((n_rows * n_ring, 3))
    centres[:, 0] = np.tile(ring[:, 0], n_rows)
    centres[:, 1] = np.repeat(ys, n_ring)
    centres[:, 2] = np.tile(ring[:, 1], n_rows)
    normals = np.zeros_like(centres)
    normals[:, 0] = np.tile(nrm[:, 0], n_rows)
    normals[:, 2] = np.tile(nrm[:, 1], n_rows)
    areas = np.full(n_rows * n_ring, arc * dy)
    rows = np.repeat(np.arange(n_rows), n_ring)
    cols = np.tile(np.arange(n_ring), n_rows)
    return centres, normals, areas, rows, cols


@lru_cache(maxsize=32)  # built once per size: the arrays are never written to (place() copies them)
def body_phantom(height_cm: float | None = None, mass_kg: float | None = None, cell_cm: float = 1.0,
                 legs: bool = True) -> Phantom:
    """Head (circular cylinder), trunk (elliptic cylinder) and, unless ``legs=False``, the legs (one elliptic
    cylinder down to the soles) scaled from height and mass, back on z = 0."""
    _check_cell(cell_cm)
    notes: list[str] = []
    h = height_cm if height_cm and height_cm > 0 else None
    m = mass_kg if mass_kg and mass_kg > 0 else None
    if h is None:
        notes.append(f"patient height missing: reference {REFERENCE_HEIGHT_CM} cm (ICRP 89 adult male)")
        h = REFERENCE_HEIGHT_CM
    if m is None:
        notes.append(f"patient mass missing: reference {REFERENCE_MASS_KG} kg (ICRP 89 adult male)")
        m = REFERENCE_MASS_KG
    if not (40.0 <= h <= 230.0 and 2.0 <= m <= 300.0):
        raise SkinDoseError("phantom_size", f"height {h} cm / mass {m} kg outside 40-230 cm, 2-300 kg")
    hs = h / REFERENCE_HEIGHT_CM
    xs = math.sqrt((m / REFERENCE_MASS_KG) / hs)
    a, b = _TRUNK_HALF_WIDTH_CM * xs, _TRUNK_HALF_DEPTH_CM * xs
    head_len, trunk_len, r = _HEAD_LENGTH_CM * hs, _TRUNK_LENGTH_CM * hs, _HEAD_RADIUS_CM * math.sqrt(hs)
    sections = [("head", _cylinder(r, r, 0.0, head_len, cell_cm)),
                ("trunk", _cylinder(a, b, -head_len, trunk_len, cell_cm))]
    sections[0][1][0][:, 2] += b - r  # head on the trunk's axis
    legs_len = h - head_len - trunk_len
    if legs:  # both legs as one elliptic cylinder, back on the mattress, to the soles
        sections.append(("legs", _cylinder(_LEGS_HALF_WIDTH * a, _LEGS_HALF_DEPTH * b, -head_len - trunk_len,
                                           legs_len, cell_cm)))
    n_cols = max(int(sec[4].max()) + 1 for _, sec in sections)
    rows, cols, row0 = [], [], 0
    for _, sec in sections:
        rows.append(sec[3] + row0)
        cols.append(sec[4] + (n_cols - (int(sec[4].max()) + 1)) // 2)  # centred on the map
        row0 += int(sec[3].max()) + 1
    legs_text = f", legs one elliptic cylinder {2 * _LEGS_HALF_WIDTH * a:.1f} x {legs_len:.1f} cm" if legs else ""
    return Phantom(
        kind="body",
        cell_cm=cell_cm,
        centres_cm=np.vstack([sec[0] for _, sec in sections]),
        normals=np.vstack([sec[1] for _, sec in sections]),
        areas_cm2=np.concatenate([sec[2] for _, sec in sections]),
        rows=np.concatenate(rows),
        cols=np.concatenate(cols),
        map_shape=(row0, n_cols),
        region=np.concatenate([np.full(len(sec[2]), name) for name, sec in sections]),
        height_cm=h,
        description=(f"body: trunk elliptic cylinder {2 * a:.1f} x {2 * b:.1f} x {trunk_len:.1f} cm, head cylinder "
                     f"r {r:.1f} x {head_len:.1f} cm{legs_text}, for {h:.0f} cm / {m:.0f} kg, {cell_cm} cm cells; "
                     "map rows head to feet, columns round the body from the posterior midline toward the patient's "
                     "left"),
        assumptions=tuple(notes),
    )


@lru_cache(maxsize=8)
def flat_phantom(width_cm: float = 40.0, length_cm: float = 120.0, cell_cm: float = 1.0) -> Phantom:
    """A flat sheet on the mattress (z = 0, facing down: a film under the patient), y from 0 to -length."""
    _check_cell(cell_cm)
    if not (1.0 <= width_cm <= 200.0 and 1.0 <= length_cm <= 300.0):
        raise SkinDoseError("phantom_size", f"flat phantom {width_cm} x {length_cm} cm outside 1-200 x 1-300 cm")
    nx, ny = max(1, round(width_cm / cell_cm)), max(1, round(length_cm / cell_cm))
    dx, dy = width_cm / nx, length_cm / ny
    xs = -width_cm / 2 + (np.arange(nx) + 0.5) * dx
    ys = -(np.arange(ny) + 0.5) * dy
    centres = np.zeros((nx * ny, 3))
    centres[:, 0] = np.tile(xs, ny)
    centres[:, 1] = np.repeat(ys, nx)
    normals = np.zeros_like(centres)
    normals[:, 2] = -1.0
    return Phantom(
        kind="flat",
        cell_cm=cell_cm,
        centres_cm=centres,
        normals=normals,
        areas_cm2=np.full(nx * ny, dx * dy),
        rows=np.repeat(np.arange(ny), nx),
        cols=np.tile(np.arange(nx), ny),
        map_shape=(ny, nx),
        region=np.array(["flat"] * (nx * ny)),
        height_cm=length_cm,
        description=f"flat: {width_cm} x {length_cm} cm sheet on the mattress facing the table, {cell_cm} cm cells",
    )


_POSITIONS = ("HFS", "FFS", "HFP", "FFP")


def place(phantom: Phantom, position: str, head_y_cm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres and normals in the table frame for a patient position.

    Head first, the head vertex is at ``head_y_cm`` and the body extends toward -y; feet first, the body is turned
    end for end about the vertical and the soles are at ``head_y_cm`` (so the head is ``height_cm`` further down)."""
    if position not in _POSITIONS:
        raise SkinDoseError("patient_position", f"patient position {position!r}; expected one of {_POSITIONS}")
    c = phantom.centres_cm.copy()
    n = phantom.normals.copy()
    if position.endswith("P") and phantom.kind != "flat":  # prone: turned about the long axis, front down
        depth = float(c[:, 2].max())
        c[:, 0], c[:, 2] = -c[:, 0], depth - c[:, 2]
        n[:, 0], n[:, 2] = -n[:, 0], -n[:, 2]
    if position.startswith("FF"):  # feet first: turned end for end about the vertical
        c[:, 0], c[:, 1] = -c[:, 0], -c[:, 1]
        n[:, 0], n[:, 1] = -n[:, 0], -n[:, 1]
        c[:, 1] -= phantom.height_cm
    c[:, 1] += head_y_cm
    return c, n
