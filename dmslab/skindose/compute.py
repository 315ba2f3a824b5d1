"""One call from beams to everything a caller stores: map, PSD and where, areas over thresholds, KAP fraction,
method record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dmslab._version import __version__
from dmslab.skindose.beams import Beam, Support, build_arrays
from dmslab.skindose.kernel import dose_numba, dose_numpy
from dmslab.skindose.phantom import Phantom, place
from dmslab.skindose.tables import backscatter_table

__all__ = ["METHOD_NAME", "Corrections", "PeakLocation", "SkinDoseResult", "skin_dose"]

METHOD_NAME = "dmslab-skindose"
METHOD_VERSION = "1.0"
THRESHOLDS_GY = (2.0, 3.0, 5.0)


@dataclass(frozen=True)
class Corrections:
    backscatter: bool = True
    medium: bool = True  # (mu_en/rho) water / air
    table: bool = True
    arc_step_deg: float = 5.0
    backend: str = "numba"  # or "numpy", the reference twin


@dataclass(frozen=True)
class PeakLocation:
    region: str  # "trunk", "head", "flat"
    row: int
    col: int
    patient_xyz_cm: tuple[float, float, float]  # patient frame (x left, y head, z anterior) of the cell
    text: str


@dataclass(frozen=True)
class SkinDoseResult:
    dose_gy: np.ndarray  # per cell
    dose_map_gy: np.ndarray  # unrolled grid (NaN off the body)
    psd_gy: float
    psd_location: PeakLocation | None
    area_above_cm2: dict[float, float]
    kap_fraction: float | None  # fraction of the KAP whose beam met the phantom (None: no KAP given)
    hit_fraction_by_event: np.ndarray  # per Beam: fraction of its field that met the skin
    missed_events: tuple[str, ...]  # uids of beams that dosed no cell
    method: dict[str, Any] = field(default_factory=dict)


def _location(phantom: Phantom, i: int, position: str) -> PeakLocation:
    x, y, z = (float(v) for v in phantom.centres_cm[i])
    region = str(phantom.region[i])
    if phantom.kind == "flat":
        side = "table left" if x > 0 else "table right"
        text = f"flat phantom, {abs(x):.0f} cm to the {side} of the midline, {-y:.0f} cm from its head end"
    else:
        depth = float(phantom.centres_cm[:, 2].max())
        face = "posterior" if z < depth / 3 else ("anterior" if z > 2 * depth / 3 else "lateral")
        side = "patient's left" if x > 0.5 else ("patient's right" if x < -0.5 else "midline")
        text = f"{region}, {face}, {side}, {-y:.0f} cm below the head vertex ({position})"
    return PeakLocation(region, int(phantom.rows[i]), int(phantom.cols[i]), (x, y, z), text)


def _kap_fraction(beams: list[Beam], hit: np.ndarray) -> float | None:
    kaps = np.array([b.kap_gym2 if b.kap_gym2 is not None else np.nan for b in beams])
    if not len(kaps) or np.isnan(kaps).any() or kaps.sum() <= 0:
        return None
    return float(np.sum(kaps * hit) / kaps.sum())


def skin_dose(beams: list[Beam], phantom: Phantom, position: str = "HFS", support: Support | None = None,
              corrections: Corrections | None = None, assumptions: tuple[str, ...] = ()) -> SkinDoseResult:
    """Dose to every skin cell from every beam; ``assumptions`` (from the geometry) go into the method record."""
    corr = corrections or Corrections()
    backend = corr.backend
    sup = support or Support()
    if not corr.table:
        sup = Support(sup.width_cm, sup.length_cm, sup.head_end_y_cm, sup.thickness_cm, None, sup.path_cap)
    bs = backscatter_table() if corr.backscatter else None
    arrays = build_arrays(beams, sup, bs, corr.medium, corr.arc_step_deg)
    cells, normals = place(phantom, position)
    fn = dose_numba if backend == "numba" else dose_numpy
    dose, omega = fn(cells, normals, phantom.areas_cm2, (arrays.ev, arrays.bsf, arrays.side_nodes, arrays.tab))
    # fraction of each beam's field that met the skin: its K-weighted share over the beam's arcs
    frac_rows = np.minimum(1.0, np.divide(omega, arrays.omega_beam, out=np.zeros_like(omega),
                                          where=arrays.omega_beam > 0))
    n_arcs = np.bincount(arrays.event_index, minlength=len(beams))
    hit = np.bincount(arrays.event_index, weights=frac_rows, minlength=len(beams)) / np.maximum(n_arcs, 1)
    missed = tuple(b.event_uid for b, h in zip(beams, hit, strict=True) if h <= 0)
    psd_i = int(np.argmax(dose)) if dose.size else -1
    psd = float(dose[psd_i]) if psd_i >= 0 else 0.0
    cell_area = phantom.areas_cm2
    method = {
        "method": METHOD_NAME, "method_version": METHOD_VERSION, "dmslab_version": __version__, "backend": backend,
        "phantom": phantom.description, "patient_position": position,
        "corrections": {"inverse_square": True, "backscatter": corr.backscatter, "medium_muen_water_air": corr.medium,
                        "table_mattress": sup.transmission is not None, "arc_step_deg": corr.arc_step_deg},
        "tables": {"backscatter": bs.source if bs else None,
                   "table_transmission": sup.transmission.source if sup.transmission else None},
        "n_events": len(beams), "n_beams_after_arcs": int(arrays.ev.shape[0]),
        "assumptions": [*assumptions, *phantom.assumptions, *arrays.notes,
                        "table and patient not rotated or tilted; heel effect and scatter from outside the field "
                        "ignored; trunk does not shadow the head"],
    }
    return SkinDoseResult(
        dose_gy=dose, dose_map_gy=phantom.to_map(dose), psd_gy=psd,
        psd_location=_location(phantom, psd_i, position) if psd > 0 else None,
        area_above_cm2={t: float(cell_area[dose >= t].sum()) for t in THRESHOLDS_GY},
        kap_fraction=_kap_fraction(beams, hit), hit_fraction_by_event=hit, missed_events=missed, method=method)
