"""Analytic checks of the skin-dose kernel against hand-computed references (tables read straight from the CSVs)."""

from __future__ import annotations

import csv
import math
from importlib import resources

import numpy as np
import pytest

from dmslab.skindose import Beam, Corrections, Support, body_phantom, flat_phantom, skin_dose, transmission_table

BACKENDS = ["numba", "numpy"]


def _csv(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(resources.files("dmslab.data").joinpath(name).read_text().splitlines()))


def _bsf_ref(kvp: float, cu: float, side: float) -> tuple[float, float]:
    """BSF and mu_en ratio from the raw CSV at a kVp/Cu node, linear in field side (independent of the module)."""
    rows = sorted((float(r["field_side_cm"]), float(r["backscatter_factor"]), float(r["muen_water_air"]))
                  for r in _csv("skin_backscatter.csv") if float(r["kvp_kv"]) == kvp and float(r["cu_mm"]) == cu)
    sides = [r[0] for r in rows]
    return float(np.interp(side, sides, [r[1] for r in rows])), float(np.interp(side, sides, [r[2] for r in rows]))


def _t0_ref(kvp: float, cu: float) -> float:
    (t,) = [float(r["transmission"]) for r in _csv("skin_table_transmission.csv")
            if float(r["kvp_kv"]) == kvp and float(r["cu_mm"]) == cu]
    return t


FLAT = flat_phantom(width_cm=41, length_cm=60, cell_cm=1.0)  # a cell centre at x = 0, y = -10.5


def _pa_beam(uid: str = "e1", tz: float = -5.0, k: float = 2.0, **kw: object) -> Beam:
    # the phantom cell (0, -10.5, 0) sits on the beam axis at z = tz in the isocentre frame
    args: dict[str, object] = dict(event_uid=uid, k_ref_gy=k, d_ref_cm=60.0, dsi_cm=75.0, field_w_cm=16.0,
                                   field_h_cm=16.0, field_plane_cm=120.0, table_offset_cm=(0.0, 10.5, tz),
                                   kvp_kv=80.0, cu_mm=0.1, kap_gym2=k * 0.08**2)
    args.update(kw)
    return Beam(**args)  # type: ignore[arg-type]


def _axis_cell(phantom=FLAT) -> int:  # type: ignore[no-untyped-def]
    c = phantom.centres_cm
    return int(np.argmin(np.hypot(c[:, 0], c[:, 1] + 10.5)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_perpendicular_beam_equals_kar_inverse_square_backscatter_table(backend: str) -> None:
    beam = _pa_beam(tz=-5.0)
    res = skin_dose([beam], FLAT, support=Support(transmission=transmission_table()),
                    corrections=Corrections(backend=backend))
    dist = 75.0 - 5.0  # source at z = -75, cell at z = -5
    side_at_cell = 16.0 * dist / 120.0
    bsf, _ = _bsf_ref(80, 0.1, side_at_cell)
    _, muen = _bsf_ref(80, 0.1, 16.0 * 60.0 / 120.0)  # medium ratio at the reference-plane field side
    expected = 2.0 * (60.0 / dist) ** 2 * bsf * muen * _t0_ref(80, 0.1)
    got = res.dose_gy[_axis_cell()]
    assert got == pytest.approx(expected, rel=1e-3)
    assert res.psd_gy == pytest.approx(expected, rel=1e-3)  # the axis cell is the closest: the peak
    assert res.missed_events == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_corrections_off_leave_pure_inverse_square(backend: str) -> None:
    res = skin_dose([_pa_beam(tz=10.0)], FLAT,
                    corrections=Corrections(backscatter=False, medium=False, table=False, backend=backend))
    assert res.dose_gy[_axis_cell()] == pytest.approx(2.0 * (60.0 / 85.0) ** 2, rel=1e-9)
    assert res.method["corrections"]["table_mattress"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_identical_beams_double_the_map(backend: str) -> None:
    sup = Support(transmission=transmission_table())
    one = skin_dose([_pa_beam("a")], FLAT, support=sup, corrections=Corrections(backend=backend))
    two = skin_dose([_pa_beam("a"), _pa_beam("b")], FLAT, support=sup, corrections=Corrections(backend=backend))
    assert one.psd_gy > 0
    np.testing.assert_allclose(two.dose_gy, 2 * one.dose_gy, rtol=1e-12)
    assert two.area_above_cm2[2.0] >= one.area_above_cm2[2.0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_beam_that_misses_gives_zero_and_says_so(backend: str) -> None:
    hits = _pa_beam("hits", k=1.0)
    away = _pa_beam("away", table_offset_cm=(200.0, 10.5, -5.0))  # phantom moved 2 m sideways
    res = skin_dose([away], FLAT, corrections=Corrections(backend=backend))
    assert res.psd_gy == 0.0 and res.psd_location is None
    assert res.missed_events == ("away",)
    assert res.kap_fraction == 0.0
    both = skin_dose([hits, away], FLAT, corrections=Corrections(backend=backend))
    assert both.missed_events == ("away",)
    assert 0 < both.kap_fraction < 1  # type: ignore[operator]


@pytest.mark.parametrize("backend", BACKENDS)
def test_field_inside_the_sheet_is_counted_whole(backend: str) -> None:
    res = skin_dose([_pa_beam()], FLAT, corrections=Corrections(backend=backend))
    # the field at the sheet is 16 x 70/120 = 9.33 cm: cells whose centre lies inside it, 9 x 9 of 1 cm
    assert np.count_nonzero(res.dose_gy) == 81
    assert res.hit_fraction_by_event[0] == pytest.approx(81 / (16 * 70 / 120) ** 2, rel=0.02)


def test_rotating_the_setup_about_the_isocentre_rotates_the_map() -> None:
    body = body_phantom(cell_cm=1.0)
    head = body.region == "head"
    c0, c1 = int(body.cols[head].min()), int(body.cols[head].max()) + 1
    ring = c1 - c0
    step = 360.0 / ring
    # head axis through the isocentre: the head cylinder's axis is at x = 0, z = b - r + r = trunk half depth
    axis_z = float(body.centres_cm[head, 2].max() + body.centres_cm[head, 2].min()) / 2
    off = (0.0, 12.0, -axis_z)

    def run(angle: float) -> np.ndarray:
        beam = Beam("r", k_ref_gy=1.0, d_ref_cm=60.0, dsi_cm=75.0, field_w_cm=10.0, field_h_cm=4.0,
                    field_plane_cm=120.0, primary_deg=angle, table_offset_cm=off)
        res = skin_dose([beam], body, corrections=Corrections(table=False))
        return res.dose_map_gy[: int(body.rows[head].max()) + 1, c0:c1]

    base = run(0.0)
    assert np.nansum(base) > 0
    for k in (3, 10, -7):
        turned = run(k * step)
        np.testing.assert_allclose(np.nan_to_num(turned), np.nan_to_num(np.roll(base, -k, axis=1)),
                                   rtol=1e-9, atol=1e-12)


def test_rotational_run_equals_its_arcs() -> None:
    body = body_phantom()
    run = Beam("rot", k_ref_gy=1.2, d_ref_cm=60.0, dsi_cm=75.0, field_w_cm=20.0, field_h_cm=20.0,
               field_plane_cm=110.0, primary_deg=-60.0, primary_end_deg=60.0, table_offset_cm=(0.0, 40.0, -10.0))
    arcs = [Beam(f"a{j}", k_ref_gy=1.2 / 24, d_ref_cm=60.0, dsi_cm=75.0, field_w_cm=20.0, field_h_cm=20.0,
                 field_plane_cm=110.0, primary_deg=-60.0 + 5.0 * (j + 0.5), table_offset_cm=(0.0, 40.0, -10.0))
            for j in range(24)]
    sup = Support(transmission=transmission_table())
    a = skin_dose([run], body, support=sup)
    b = skin_dose(arcs, body, support=sup)
    assert a.method["n_beams_after_arcs"] == 24
    np.testing.assert_allclose(a.dose_gy, b.dose_gy, rtol=1e-9, atol=1e-15)
    assert math.isclose(a.psd_gy, b.psd_gy, rel_tol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_oblique_ray_through_the_table_gets_the_path_length_correction(backend: str) -> None:
    angle = 30.0
    beam = _pa_beam(tz=0.0, primary_deg=angle)  # the axis cell at the isocentre, 75 cm from the source
    res = skin_dose([beam], FLAT, support=Support(transmission=transmission_table()),
                    corrections=Corrections(backend=backend))
    bsf, _ = _bsf_ref(80, 0.1, 16.0 * 75.0 / 120.0)
    _, muen = _bsf_ref(80, 0.1, 16.0 * 60.0 / 120.0)
    t_oblique = _t0_ref(80, 0.1) ** (1 / math.cos(math.radians(angle)))
    expected = 2.0 * (60.0 / 75.0) ** 2 * bsf * muen * t_oblique
    assert res.dose_gy[_axis_cell()] == pytest.approx(expected, rel=1e-3)


def test_vectorised_beam_axes_equal_the_rotation_matrix() -> None:
    from dmslab.skindose import kernel as k
    from dmslab.skindose.beams import build_arrays, rotation

    beams = [_pa_beam(f"b{i}", primary_deg=a, secondary_deg=b)
             for i, (a, b) in enumerate([(0, 0), (35, -20), (-90, 10), (120, 45)])]
    ev = build_arrays(beams, Support(), None, False).ev
    for row, beam in zip(ev, beams, strict=True):
        r = rotation(beam.primary_deg, beam.secondary_deg)
        np.testing.assert_allclose(row[[k.UX, k.UY, k.UZ]], r[:, 0], atol=1e-12)
        np.testing.assert_allclose(row[[k.VX, k.VY, k.VZ]], r[:, 1], atol=1e-12)
        np.testing.assert_allclose(row[[k.DX, k.DY, k.DZ]], r[:, 2], atol=1e-12)
        np.testing.assert_allclose(row[[k.SX, k.SY, k.SZ]], -75.0 * r[:, 2], atol=1e-12)
    # LAO 90: the detector toward +x, the source at -x
    assert rotation(90.0, 0.0)[:, 2] == pytest.approx([1.0, 0.0, 0.0], abs=1e-12)
