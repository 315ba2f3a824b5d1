"""Patient position puts the peak on the right side of the body; the numba kernel equals its NumPy twin."""

from __future__ import annotations

import numpy as np
import pytest

from dmslab.errors import SkinDoseError
from dmslab.skindose import Beam, Corrections, Support, body_phantom, flat_phantom, place, skin_dose, transmission_table

BODY = body_phantom()
SUP = Support(transmission=transmission_table())


def _beam(primary: float, y_off: float) -> Beam:
    # isocentre 10 cm above the mattress, at the chest of a head-first patient (y_off = 35) or, feet first,
    # at the same chest 176 - 35 cm up the table
    return Beam("b", k_ref_gy=3.0, d_ref_cm=60.0, dsi_cm=75.0, field_w_cm=15.0, field_h_cm=15.0,
                field_plane_cm=110.0, primary_deg=primary, table_offset_cm=(0.0, y_off, -10.0))


def _peak(position: str, primary: float) -> tuple[str, float, float]:
    y_off = 35.0 if position.startswith("HF") else 176.0 - 35.0  # feet first: the head is 176 cm down the table
    res = skin_dose([_beam(primary, y_off)], BODY, position=position, support=SUP)
    assert res.psd_location is not None, position
    x, y, z = res.psd_location.patient_xyz_cm
    return res.psd_location.text, x, z


@pytest.mark.parametrize(("position", "face"), [("HFS", "posterior"), ("FFS", "posterior"),
                                                ("HFP", "anterior"), ("FFP", "anterior")])
def test_pa_beam_doses_the_side_on_the_table(position: str, face: str) -> None:
    text, _, _ = _peak(position, 0.0)
    assert face in text


@pytest.mark.parametrize(("position", "side"), [("HFS", "right"), ("FFS", "left"), ("HFP", "left"), ("FFP", "right")])
def test_lao_60_enters_the_side_away_from_the_detector(position: str, side: str) -> None:
    # positive primary angle: detector toward the table's left (+x), source toward -x
    text, x, _ = _peak(position, 60.0)
    assert f"patient's {side}" in text
    assert (x < 0) == (side == "right")


def test_unknown_position_is_refused() -> None:
    with pytest.raises(SkinDoseError, match="patient position"):
        place(BODY, "DECUBITUS")


def test_numba_and_numpy_twin_agree_on_a_mixed_procedure() -> None:
    rng = np.random.default_rng(7)
    beams = []
    for i in range(60):
        start = float(rng.uniform(-90, 90))
        beams.append(Beam(
            f"e{i}", k_ref_gy=float(rng.uniform(0.001, 0.2)), d_ref_cm=float(rng.uniform(55, 65)), dsi_cm=75.0,
            field_w_cm=float(rng.uniform(5, 30)), field_h_cm=float(rng.uniform(5, 30)), field_plane_cm=110.0,
            primary_deg=start, secondary_deg=float(rng.uniform(-40, 40)),
            primary_end_deg=start + 40.0 if i % 10 == 0 else None, collimator_deg=float(rng.uniform(-20, 20)),
            table_offset_cm=(float(rng.uniform(-5, 5)), float(rng.uniform(10, 60)), float(rng.uniform(-15, -5))),
            kvp_kv=float(rng.uniform(60, 125)), cu_mm=float(rng.uniform(0, 0.9)), kap_gym2=0.01))
    for phantom in (BODY, flat_phantom()):
        a = skin_dose(beams, phantom, support=SUP, corrections=Corrections(backend="numba"))
        b = skin_dose(beams, phantom, support=SUP, corrections=Corrections(backend="numpy"))
        assert a.psd_gy > 0
        np.testing.assert_allclose(a.dose_gy, b.dose_gy, rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(a.hit_fraction_by_event, b.hit_fraction_by_event, rtol=1e-9, atol=1e-14)
        assert a.kap_fraction == pytest.approx(b.kap_fraction, rel=1e-9)
