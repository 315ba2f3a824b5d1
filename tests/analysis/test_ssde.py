"""SSDE against independent references: the AAPM 204 tables (medphunc's digitised copy and the anchor values of
../shared/reference/ssde.md), an analytic water-cylinder image for AAPM 220, and the refusals (fit domain, phantom,
localizers) that must give no value and say why."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dmslab.analysis.ssde import (
    SizeEstimate,
    conversion_factor,
    effective_diameter,
    event_ssde,
    ssde,
    water_equivalent_diameter,
)

TABLES = pd.read_csv(Path(__file__).with_name("data") / "aapm204_tables.csv", comment="#")


def _pairs(lookup: str, value: str) -> list[tuple[float, float]]:
    t = TABLES[[lookup, value]].dropna()
    return list(zip(t[lookup], t[value], strict=True))


@pytest.mark.parametrize(("phantom", "column"), [(32, "body"), (16, "head")])
def test_factors_reproduce_the_aapm204_tables(phantom, column):
    rows = _pairs(f"{column}_eff_lookup", f"{column}_eff_factor")
    assert len(rows) == (38 if phantom == 32 else 50)
    for d, factor in rows:  # the table is rounded to 2 decimals
        assert conversion_factor(d, phantom) == pytest.approx(factor, abs=0.0051), (phantom, d)


@pytest.mark.parametrize(("phantom", "d", "factor"), [
    (32, 8, 2.76), (32, 20, 1.78), (32, 30, 1.23), (32, 40, 0.85), (32, 45, 0.71),
    (16, 6, 1.49), (16, 8, 1.38), (16, 20, 0.86), (16, 30, 0.59), (16, 55, 0.22)])
def test_anchor_values_of_the_reference(phantom, d, factor):
    assert round(conversion_factor(d, phantom), 2) == factor


@pytest.mark.parametrize(("phantom", "d"), [(32, 7.9), (32, 45.1), (16, 5.9), (16, 55.5)])
def test_outside_the_fit_domain_is_flagged_not_extrapolated(phantom, d):
    assert conversion_factor(d, phantom) is None
    est = ssde(10.0, phantom, SizeEstimate(d, "deff", "ap_lat", None))
    assert est.value is None and "outside_fit_domain" in est.flags and "not extrapolated" in est.reason


@pytest.mark.parametrize(("kw", "lookup", "value"), [
    ("ap_cm", "body_ap_lookup", "body_ap_eff"), ("lat_cm", "body_lat_lookup", "body_lat_eff"),
    ("ap_plus_lat_cm", "body_latap_lookup", "body_latap_eff"),
    ("ap_cm", "head_ap_lookup", "head_ap_eff"), ("lat_cm", "head_lat_lookup", "head_lat_eff")])
def test_one_dimension_regressions_reproduce_the_tables(kw, lookup, value):
    for x, d in _pairs(lookup, value):
        assert effective_diameter(**{kw: x}).d_cm == pytest.approx(d, abs=0.051), (kw, x)


def test_effective_diameter_from_ap_and_lat_and_from_age():
    both = effective_diameter(ap_cm=22.0, lat_cm=32.0)
    assert both.d_cm == pytest.approx(math.sqrt(22 * 32)) and both.source == "ap_lat" and both.flags == ()
    assert effective_diameter(age_years=10).d_cm == 21.6
    assert effective_diameter(age_years=2.25).d_cm == pytest.approx((16.8 + 17.3) / 2)  # linear between ages
    age = effective_diameter(age_years=0.5)
    assert age.flags == ("size_from_age",) and age.dicom_code == "DCM:113937"
    assert "not this patient" in age.assumptions[0]
    assert effective_diameter(age_years=40) is None and effective_diameter() is None
    with pytest.raises(ValueError, match="ap_cm must be a positive number"):
        effective_diameter(ap_cm=-3)


def _disc(radius_mm: float, hu: float, *, spacing: float = 0.5, n: int = 768, lung_radius_mm: float = 0.0):
    y, x = (np.mgrid[0:n, 0:n] - n / 2 + 0.5) * spacing
    r2 = x**2 + y**2
    img = np.where(r2 <= radius_mm**2, hu, -1000.0)
    if lung_radius_mm:
        img = np.where(r2 <= lung_radius_mm**2, -800.0, img)
    img[-6:, :] = 300.0  # a table: a separate object at the bottom edge, never part of the patient
    return img, spacing


@pytest.mark.parametrize(("radius_mm", "hu"), [(100.0, 0.0), (150.0, 0.0), (80.0, 100.0), (120.0, -100.0)])
def test_water_equivalent_diameter_of_a_cylinder_is_analytic(radius_mm, hu):
    img, sp = _disc(radius_mm, hu)
    dw = water_equivalent_diameter(img, (sp, sp))
    expected_cm = 2 * radius_mm / 10 * math.sqrt(hu / 1000 + 1)  # A_w = (HU/1000 + 1) π R²
    assert dw.dw_cm == pytest.approx(expected_cm, rel=2e-3)
    assert dw.area_cm2 == pytest.approx(math.pi * (radius_mm / 10) ** 2, rel=3e-3)
    assert dw.truncated_fraction == 0.0


def test_lungs_inside_the_outline_count_at_their_attenuation():
    img, sp = _disc(150.0, 0.0, lung_radius_mm=60.0)
    r, rl = 15.0, 6.0
    aw = math.pi * (r**2 - rl**2) + 0.2 * math.pi * rl**2  # -800 HU counts 0.2 of water
    dw = water_equivalent_diameter(img, (sp, sp))
    assert dw.dw_cm == pytest.approx(2 * math.sqrt(aw / math.pi), rel=3e-3)


def test_truncated_outline_is_reported():
    img, sp = _disc(200.0, 0.0, n=600, spacing=0.5)  # a 40 cm patient in a 30 cm field of view
    assert water_equivalent_diameter(img, (sp, sp)).truncated_fraction > 0.3


@pytest.mark.parametrize(("image", "spacing", "message"), [
    (np.zeros(5), (1, 1), "2-D image"), (np.full((4, 4), -1000.0), (1, 1), "no pixel above"),
    (np.zeros((4, 4)), (0, 1), "positive"), (np.zeros((4, 4)), "x", "two numbers"),
    (np.full((4, 4), np.nan), (1, 1), "NaN")])
def test_bad_images_are_refused_with_a_reason(image, spacing, message):
    with pytest.raises(ValueError, match=message):
        water_equivalent_diameter(image, spacing)


def _event(**kw):
    base = {"ctdivol_mgy": 10.0, "phantom_cm": 32, "acquisition_type": "spiral", "ssde_mgy": None, "dw_cm": None,
            "target_region_code": "SCT:51185008", "age_years": None}
    base.update(kw)
    return base


def test_event_prefers_the_scanner_then_dw_then_size_then_age():
    reported = event_ssde(_event(ssde_mgy=13.3, dw_cm=25.0))
    assert (reported.method, reported.value) == ("scanner_reported", 13.3)
    dw = event_ssde(_event(dw_cm=25.0))
    assert dw.method == "aapm220_dw" and dw.value == pytest.approx(10 * 3.704369 * math.exp(-0.03671937 * 25))
    given = event_ssde(_event(), size=effective_diameter(ap_cm=20, lat_cm=28))
    assert given.method == "aapm204_deff" and given.inputs["size_source"] == "ap_lat"
    child = event_ssde(_event(age_years=5.0, phantom_cm=16))
    assert child.value == pytest.approx(10 * 1.874799 * math.exp(-0.03871313 * 18.5)) and "size_from_age" in child.flags
    adult = event_ssde(_event(age_years=50.0))
    assert adult.value is None and adult.flags == ("no_size",)


def test_head_uses_aapm293_with_dw_and_the_16cm_phantom():
    head = event_ssde(_event(target_region_code="SCT:69536005", phantom_cm=16, dw_cm=16.0))
    assert head.method == "aapm293_head" and head.value == pytest.approx(10 * 1.9852 * math.exp(-0.0486 * 16))
    assert "single_source" in head.flags
    wrong = event_ssde(_event(target_region_code="SCT:69536005", phantom_cm=32, dw_cm=16.0))
    assert wrong.value is None and "phantom_mismatch" in wrong.flags
    no_dw = event_ssde(_event(target_region_code="SCT:69536005", phantom_cm=16, age_years=8.0))
    assert no_dw.value is None and no_dw.method == "aapm293_head" and "needs_dw" in no_dw.flags


def test_no_ssde_for_localizers_unknown_phantom_and_missing_ctdivol():
    assert event_ssde(_event(acquisition_type="constant_angle")) is None
    assert event_ssde(_event(ctdivol_mgy=None)) is None
    unknown = event_ssde(_event(phantom_cm=None, dw_cm=25.0))
    assert unknown.value is None and "phantom_unknown" in unknown.flags


def test_estimates_do_not_add():
    est = event_ssde(_event(dw_cm=25.0))
    with pytest.raises(TypeError, match="method would be lost"):
        est + est
    record = est.to_derived(7, "1.2.3")
    assert record.quantity == "ssde_mgy" and record.unit == "mGy" and record.method == "aapm220_dw"
    assert record.inputs["dw_cm"] == 25.0 and record.inputs["fit"]["name"] == "aapm204_32"
