"""The dose kernel: every skin cell against every beam, numba-compiled, with a pure-NumPy twin the tests compare.

Inputs are flat arrays built once per study (:mod:`dmslab.skindose.beams`). For a cell at ``c`` (table frame) and
a beam with source ``s``, central axis ``d``, field axes ``u``/``v`` (tangents ``tan_u``/``tan_v`` of the field's
half-angles), table offset ``T`` (table frame -> isocentre frame), reference air kerma ``K`` at distance ``d_ref``:

``ray = c + T - s``; the cell is irradiated when it faces the source (``ray . n < 0``), lies in front of the source
(``ray . d > 0``) and inside the rotated rectangular field (``|ray . u| <= tan_u (ray . d)``, same for v). Then

``D += K (d_ref / |ray|)^2 x BSF(side at the cell) x mu_en ratio x T_table``

with BSF interpolated linearly in the field side at the cell's plane (``side_ref x (ray . d) / d_ref``) between
the beam's per-quality nodes, and ``T_table = T0 ** (|ray| / |ray_z|)`` (transmission at perpendicular incidence
raised to the oblique path-length ratio, capped) when the ray crosses the support's mid-plane from below inside its
outline. The solid angle of the irradiated cells is summed per beam for the fraction of KAP that met the phantom.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["EV_COLS", "TAB_COLS", "dose_numba", "dose_numpy"]

# columns of the per-beam array
SX, SY, SZ, DX, DY, DZ, UX, UY, UZ, VX, VY, VZ = range(12)
TAN_U, TAN_V, K_GY, D_REF, SIDE_REF, K_MED, LN_T0, TX, TY, TZ = range(12, 22)
EV_COLS = 22
# columns of the support array: mid-plane z (table frame), half width, y of the head and foot ends, path cap
TAB_Z, TAB_HW, TAB_Y1, TAB_Y0, TAB_CAP = range(5)
TAB_COLS = 5


@numba.njit(cache=True, fastmath=True, inline="always")
def _interp(x: float, xs: np.ndarray, ys: np.ndarray) -> float:  # pragma: no cover - compiled
    n = xs.shape[0]
    if x <= xs[0]:
        return ys[0]
    if x >= xs[n - 1]:
        return ys[n - 1]
    i = 1
    while xs[i] < x:
        i += 1
    w = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + w * (ys[i] - ys[i - 1])


@numba.njit(cache=True, fastmath=True, inline="always")
def _table_factor(e, ev, tab, sx, sy, sz, rx, ry, rz, r, cz):  # type: ignore[no-untyped-def]  # noqa: PLR0913  # pragma: no cover
    zp = tab[TAB_Z] + ev[e, TZ]
    if sz < zp and cz + ev[e, TZ] > zp:
        t = (zp - sz) / rz
        xi = sx + t * rx - ev[e, TX]
        yi = sy + t * ry - ev[e, TY]
        if abs(xi) <= tab[TAB_HW] and tab[TAB_Y0] <= yi <= tab[TAB_Y1]:
            return math.exp(ev[e, LN_T0] * min(r / rz, tab[TAB_CAP]))
    return 1.0


# a compiled loop takes its arrays one by one (numba cannot unpack a dataclass)
@numba.njit(cache=True, fastmath=True, parallel=True)
def _kernel(cells, normals, areas, ev, bsf, side_nodes, tab, dose, omega):  # type: ignore[no-untyped-def]  # noqa: PLR0913  # pragma: no cover
    n = cells.shape[0]
    m = ev.shape[0]
    n_chunks = omega.shape[0]
    per = (n + n_chunks - 1) // n_chunks
    for k in numba.prange(n_chunks):
        for i in range(k * per, min(n, (k + 1) * per)):
            cx, cy, cz = cells[i, 0], cells[i, 1], cells[i, 2]
            nx, ny, nz = normals[i, 0], normals[i, 1], normals[i, 2]
            acc = 0.0
            for e in range(m):
                sx, sy, sz = ev[e, SX], ev[e, SY], ev[e, SZ]
                rx, ry, rz = cx + ev[e, TX] - sx, cy + ev[e, TY] - sy, cz + ev[e, TZ] - sz
                rn = rx * nx + ry * ny + rz * nz
                if rn >= 0.0:
                    continue
                pd = rx * ev[e, DX] + ry * ev[e, DY] + rz * ev[e, DZ]
                if pd <= 0.0:
                    continue
                pu = rx * ev[e, UX] + ry * ev[e, UY] + rz * ev[e, UZ]
                if abs(pu) > ev[e, TAN_U] * pd:
                    continue
                pv = rx * ev[e, VX] + ry * ev[e, VY] + rz * ev[e, VZ]
                if abs(pv) > ev[e, TAN_V] * pd:
                    continue
                r2 = rx * rx + ry * ry + rz * rz
                r = math.sqrt(r2)
                dref = ev[e, D_REF]
                f = ev[e, K_GY] * dref * dref / r2 * ev[e, K_MED]
                f *= _interp(ev[e, SIDE_REF] * pd / dref, side_nodes, bsf[e])
                if ev[e, LN_T0] < 0.0:
                    f *= _table_factor(e, ev, tab, sx, sy, sz, rx, ry, rz, r, cz)
                acc += f
                omega[k, e] += areas[i] * (-rn) / (r2 * r)
            dose[i] = acc


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # beams (m, EV_COLS), bsf (m, k), side nodes, support


def dose_numba(cells: np.ndarray, normals: np.ndarray, areas: np.ndarray,
               beams: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """Dose per cell (Gy) and solid angle of the irradiated skin per beam (sr)."""
    ev, bsf, side_nodes, tab = beams
    n_chunks = max(1, min(cells.shape[0], 64))  # fixed: the result does not depend on the thread count
    dose = np.zeros(cells.shape[0])
    omega = np.zeros((n_chunks, ev.shape[0]))
    _kernel(np.ascontiguousarray(cells, dtype=np.float64), np.ascontiguousarray(normals, dtype=np.float64),
            np.ascontiguousarray(areas, dtype=np.float64), np.ascontiguousarray(ev, dtype=np.float64),
            np.ascontiguousarray(bsf, dtype=np.float64), np.ascontiguousarray(side_nodes, dtype=np.float64),
            np.ascontiguousarray(tab, dtype=np.float64), dose, omega)
    return dose, omega.sum(axis=0)


def dose_numpy(cells: np.ndarray, normals: np.ndarray, areas: np.ndarray,
               beams: Arrays) -> tuple[np.ndarray, np.ndarray]:
    """The reference twin of :func:`dose_numba`: the same physics, one vectorised pass per beam."""
    ev, bsf, side_nodes, tab = beams
    dose = np.zeros(cells.shape[0])
    omega = np.zeros(ev.shape[0])
    for e, b in enumerate(ev):
        s = b[[SX, SY, SZ]]
        ray = cells + b[[TX, TY, TZ]] - s
        rn = np.einsum("ij,ij->i", ray, normals)
        pd = ray @ b[[DX, DY, DZ]]
        pu = ray @ b[[UX, UY, UZ]]
        pv = ray @ b[[VX, VY, VZ]]
        hit = (rn < 0) & (pd > 0) & (np.abs(pu) <= b[TAN_U] * pd) & (np.abs(pv) <= b[TAN_V] * pd)
        r2 = np.einsum("ij,ij->i", ray, ray)[hit]
        r = np.sqrt(r2)
        f = b[K_GY] * b[D_REF] ** 2 / r2 * b[K_MED] * np.interp(b[SIDE_REF] * pd[hit] / b[D_REF], side_nodes, bsf[e])
        if b[LN_T0] < 0:
            zp = tab[TAB_Z] + b[TZ]
            rh = ray[hit]
            cross = (s[2] < zp) & (cells[hit, 2] + b[TZ] > zp)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (zp - s[2]) / rh[:, 2]
            xi = s[0] + t * rh[:, 0] - b[TX]
            yi = s[1] + t * rh[:, 1] - b[TY]
            cross &= (np.abs(xi) <= tab[TAB_HW]) & (yi >= tab[TAB_Y0]) & (yi <= tab[TAB_Y1])
            with np.errstate(divide="ignore", invalid="ignore"):
                path = np.minimum(r / rh[:, 2], tab[TAB_CAP])
            f = np.where(cross, f * np.exp(b[LN_T0] * path), f)
        dose[hit] += f
        omega[e] = float(np.sum(areas[hit] * (-rn[hit]) / (r2 * r)))
    return dose, omega
