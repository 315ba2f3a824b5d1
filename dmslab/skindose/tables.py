"""Correction tables (dmslab/data/skin_*.csv) and their interpolation: linear in each axis, clamped at the edges.

* backscatter factor and mu_en water/air ratio vs kVp, added Cu and field side (``skin_backscatter.csv``);
* table + mattress transmission at perpendicular incidence vs kVp and added Cu (``skin_table_transmission.csv``).

Nothing is looked up by exact match or nearest neighbour: a 93 kV, 0.25 mm Cu beam gets the values in between.
Inputs beyond a table's range take the edge value; the caller records that as an assumption.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

__all__ = ["BackscatterTable", "TransmissionTable", "backscatter_table", "interp_axis", "transmission_table"]


def interp_axis(nodes: np.ndarray, x: float) -> tuple[int, int, float]:
    """Indices of the nodes around x and the weight of the upper one (clamped to the end nodes)."""
    if x <= nodes[0]:
        return 0, 0, 0.0
    if x >= nodes[-1]:
        last = len(nodes) - 1
        return last, last, 0.0
    hi = int(np.searchsorted(nodes, x, side="right"))
    lo = hi - 1
    return lo, hi, float((x - nodes[lo]) / (nodes[hi] - nodes[lo]))


def _read(name: str) -> list[dict[str, str]]:
    text = resources.files("dmslab.data").joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _grid(rows: list[dict[str, str]], axes: tuple[str, ...], value: str) -> tuple[list[np.ndarray], np.ndarray]:
    nodes = [np.array(sorted({float(r[a]) for r in rows})) for a in axes]
    grid = np.full(tuple(len(n) for n in nodes), np.nan)
    for r in rows:
        idx = tuple(int(np.searchsorted(n, float(r[a]))) for n, a in zip(nodes, axes, strict=True))
        grid[idx] = float(r[value])
    if np.isnan(grid).any():
        raise ValueError(f"table {value}: the grid over {axes} has holes")
    return nodes, grid


def _bilinear(kv: np.ndarray, cu: np.ndarray, grid: np.ndarray, kvp: float, cu_mm: float) -> np.ndarray:
    i0, i1, wi = interp_axis(kv, kvp)
    j0, j1, wj = interp_axis(cu, cu_mm)
    out: np.ndarray = ((1 - wi) * (1 - wj) * grid[i0, j0] + wi * (1 - wj) * grid[i1, j0]
                       + (1 - wi) * wj * grid[i0, j1] + wi * wj * grid[i1, j1])
    return out


@dataclass(frozen=True)
class BackscatterTable:
    kvp_kv: np.ndarray
    cu_mm: np.ndarray
    side_cm: np.ndarray
    bsf: np.ndarray  # (kv, cu, side)
    muen: np.ndarray  # (kv, cu, side)
    source: str

    def bsf_by_side(self, kvp: float, cu_mm: float) -> np.ndarray:
        """Backscatter factor at each field-side node for this beam quality (interpolated in kVp and Cu)."""
        return _bilinear(self.kvp_kv, self.cu_mm, self.bsf, kvp, cu_mm)

    def muen_ratio(self, kvp: float, cu_mm: float, side_cm: float) -> float:
        """(mu_en/rho) water / air for this beam quality and field side."""
        by_side = _bilinear(self.kvp_kv, self.cu_mm, self.muen, kvp, cu_mm)
        return float(np.interp(side_cm, self.side_cm, by_side))

    def in_range(self, kvp: float, cu_mm: float) -> bool:
        return bool(self.kvp_kv[0] <= kvp <= self.kvp_kv[-1] and self.cu_mm[0] <= cu_mm <= self.cu_mm[-1])


@dataclass(frozen=True)
class TransmissionTable:
    support: str
    kvp_kv: np.ndarray
    cu_mm: np.ndarray
    transmission: np.ndarray  # (kv, cu)
    source: str

    def at(self, kvp: float, cu_mm: float) -> float:
        """Table + mattress transmission at perpendicular incidence."""
        return float(_bilinear(self.kvp_kv, self.cu_mm, self.transmission, kvp, cu_mm))

    def in_range(self, kvp: float, cu_mm: float) -> bool:
        return bool(self.kvp_kv[0] <= kvp <= self.kvp_kv[-1] and self.cu_mm[0] <= cu_mm <= self.cu_mm[-1])


@lru_cache(maxsize=1)
def backscatter_table() -> BackscatterTable:
    rows = _read("skin_backscatter.csv")
    axes = ("kvp_kv", "cu_mm", "field_side_cm")
    nodes, bsf = _grid(rows, axes, "backscatter_factor")
    _, muen = _grid(rows, axes, "muen_water_air")
    return BackscatterTable(nodes[0], nodes[1], nodes[2], bsf, muen, rows[0]["source"])


@lru_cache(maxsize=4)
def transmission_table(support: str = "siemens_artis_table_pad") -> TransmissionTable:
    rows = [r for r in _read("skin_table_transmission.csv") if r["support"] == support]
    if not rows:
        raise ValueError(f"no table transmission rows for support {support!r}")
    nodes, grid = _grid(rows, ("kvp_kv", "cu_mm"), "transmission")
    return TransmissionTable(support, nodes[0], nodes[1], grid, rows[0]["source"])
