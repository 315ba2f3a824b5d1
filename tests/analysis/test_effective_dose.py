"""Effective dose against the reference table of ../shared/reference/effective_dose.md (EUR 16262 / AAPM 96,
transcribed here independently of dmslab/data/ct_dlp_k_factors.csv) and its checked adult examples; the phantom
check, the labels, ICRP 103 beside ICRP 60, and the sums that must refuse."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from dmslab.analysis.effective_dose import (
    REFERENCE_PERSON,
    age_band,
    ct_effective_doses,
    kap_effective_dose,
    load_k_factors,
    study_effective_dose,
    sum_effective_doses,
)
from dmslab.errors import ConfigError

# effective_dose.md §1, columns 0 y, 1 y, 5 y, 10 y, adult
REFERENCE = {
    ("SCT:774007", "head & neck"): (0.013, 0.0085, 0.0057, 0.0042, 0.0031),
    ("SCT:69536005", "head"): (0.011, 0.0067, 0.0040, 0.0032, 0.0021),
    ("SCT:45048000", "neck"): (0.017, 0.012, 0.011, 0.0079, 0.0059),
    ("SCT:51185008", "chest"): (0.039, 0.026, 0.018, 0.013, 0.014),
    ("SCT:416949008", "abdomen & pelvis"): (0.049, 0.030, 0.020, 0.015, 0.015),
    ("SCT:416775004", "trunk"): (0.044, 0.028, 0.019, 0.014, 0.015),
}
AGES = (0.5, 3.0, 7.0, 12.0, 40.0)  # one age inside each band
ADULT_BODY = {"SCT:51185008", "SCT:416949008", "SCT:416775004"}


@pytest.mark.parametrize(("code", "name"), sorted(REFERENCE))
def test_k_factors_are_the_reference_table(code, name):
    for age, k in zip(AGES, REFERENCE[(code, name)], strict=True):
        phantom = 32 if (age >= 18 and code in ADULT_BODY) else 16
        [e] = ct_effective_doses(100.0, region_code=code, phantom_cm=phantom, age_years=age)
        assert e.value == pytest.approx(100.0 * k, rel=1e-12), (name, age)
        assert e.inputs["k_msv_per_mgycm"] == k and e.basis.startswith("ICRP 60")


def test_the_checked_adult_examples():
    [head] = ct_effective_doses(1000.0, region_code="SCT:69536005", phantom_cm=16, age_years=45)
    [chest] = ct_effective_doses(500.0, region_code="SCT:51185008", phantom_cm=32, age_years=45)
    assert round(head.value, 1) == 2.1 and round(chest.value, 1) == 7.0
    assert REFERENCE_PERSON in chest.assumptions and "2 significant figures" in chest.uncertainty
    assert chest.method == "dlp_k_eur16262_aapm96" and chest.flags == ()


@pytest.mark.parametrize(("age", "band"), [(0, "0"), (0.99, "0"), (1, "1"), (4.9, "1"), (5, "5"), (9.99, "5"),
                                           (10, "10"), (17.9, "10"), (18, "adult"), (90, "adult")])
def test_age_bands(age, band):
    assert age_band(age) == (band, ())


def test_phantom_is_checked_before_applying():
    [wrong] = ct_effective_doses(500.0, region_code="SCT:51185008", phantom_cm=16, age_years=50)
    assert wrong.value is None and "phantom_mismatch" in wrong.flags and "32 cm" in wrong.reason
    [child] = ct_effective_doses(200.0, region_code="SCT:51185008", phantom_cm=32, age_years=4)
    assert child.value is None and "phantom_mismatch" in child.flags
    [unreported] = ct_effective_doses(500.0, region_code="SCT:51185008", phantom_cm=None, age_years=None)
    assert unreported.value == pytest.approx(7.0)
    assert {"phantom_not_reported", "age_unknown_adult_assumed"} <= set(unreported.flags)
    assert any("assumed 32 cm" in a for a in unreported.assumptions)


def test_unmapped_region_and_approximations_are_said():
    [none] = ct_effective_doses(500.0, region_code="SCT:72696002", phantom_cm=32, age_years=50)  # knee
    assert none.value is None and none.flags == ("region_unknown",)
    [abdomen] = ct_effective_doses(500.0, region_code="SCT:113345001", phantom_cm=32, age_years=50)
    assert abdomen.value == pytest.approx(7.5) and "region_approximated" in abdomen.flags
    with pytest.raises(ValueError, match="dlp_mgycm"):
        ct_effective_doses(-1.0, region_code="SCT:51185008", phantom_cm=32, age_years=50)


def test_icrp103_table_beside_icrp60(tmp_path):
    shipped = load_k_factors()
    site = shipped.copy()
    site["table"], site["icrp"] = "SITE_TEST103", "ICRP 103"
    site["k_msv_per_mgycm"] = site["k_msv_per_mgycm"] * 0.8  # test values, not a published table
    both = tmp_path / "k.csv"
    pd.concat([shipped, site]).to_csv(both, index=False)
    es = ct_effective_doses(500.0, region_code="SCT:51185008", phantom_cm=32, age_years=50, path=both)
    by_method = {e.method: e for e in es}
    assert set(by_method) == {"dlp_k_eur16262_aapm96", "dlp_k_site_test103"}
    assert by_method["dlp_k_site_test103"].value == pytest.approx(0.8 * by_method["dlp_k_eur16262_aapm96"].value)
    assert by_method["dlp_k_site_test103"].basis.startswith("ICRP 103")


@pytest.mark.parametrize(("edit", "message"), [
    ({"icrp": "ICRP 26"}, "icrp must be one of"), ({"region": "knee"}, "region must be one of"),
    ({"k_msv_per_mgycm": -1}, "must be > 0"), ({"phantom_cm": 20}, "16 or 32"), ({"source": ""}, "its source")])
def test_bad_tables_are_refused(tmp_path, edit, message):
    df = load_k_factors().copy()
    for k, v in edit.items():
        df.loc[0, k] = v
    p = tmp_path / "bad.csv"
    df.to_csv(p, index=False)
    with pytest.raises(ConfigError, match=message):
        load_k_factors(p)
    with pytest.raises(ConfigError, match="not found"):
        load_k_factors(tmp_path / "none.csv")


def test_kap_coefficients_are_a_configurable_table(tmp_path):
    shipped = kap_effective_dose(0.002, modality="DX", region_code="SCT:51185008")
    assert shipped.value is None and shipped.flags == ("no_coefficient",) and "no rows" in shipped.reason
    p = tmp_path / "kap.csv"
    p.write_text("table,icrp,modality,region,view,k_msv_per_gycm2,kvp_min,kvp_max,source,edition\n"
                 "SITE_TEST,ICRP 103,DX,SCT:51185008,,0.1,,,test values (not a published table),test\n")
    e = kap_effective_dose(0.002, modality="DX", region_code="SCT:51185008", path=p)  # 20 Gy.cm2
    assert e.value == pytest.approx(2.0) and e.method == "kap_c_site_test" and REFERENCE_PERSON in e.assumptions


def _est(value, method="dlp_k_eur16262_aapm96"):
    [e] = ct_effective_doses(value / 0.014, region_code="SCT:51185008", phantom_cm=32, age_years=50)
    return dataclasses.replace(e, method=method)


def test_sums_refuse_mixed_methods_and_patients_unless_asked():
    a, b = _est(2.0), _est(3.0)
    one = sum_effective_doses([("p1", a), ("p1", b)])
    assert one.value == pytest.approx(5.0) and one.flags == () and "1 patient(s)" in one.assumptions[-1]
    with pytest.raises(ValueError, match="2 patients: pass across_patients=True"):
        sum_effective_doses([("p1", a), ("p2", b)])
    collective = sum_effective_doses([("p1", a), ("p2", b)], across_patients=True)
    assert collective.flags == ("summed_across_patients",) and collective.inputs["n_patients"] == 2
    with pytest.raises(ValueError, match="different methods"):
        sum_effective_doses([("p1", a), ("p1", _est(1.0, method="dlp_k_other"))])
    with pytest.raises(TypeError, match="sum_effective_doses"):
        sum([a, b])


def test_study_total_leaves_out_a_refused_localizer_only():
    ok = _est(2.0)
    [loc] = ct_effective_doses(5.0, region_code=None, phantom_cm=32, age_years=50)
    total = study_effective_dose([({"event_uid": "1", "acquisition_type": "constant_angle"}, loc),
                                  ({"event_uid": "2", "acquisition_type": "spiral"}, ok)])
    assert total.value == pytest.approx(2.0) and any("localizer 1 not converted" in a for a in total.assumptions)
    refused = study_effective_dose([({"event_uid": "1", "acquisition_type": "spiral"}, loc),
                                    ({"event_uid": "2", "acquisition_type": "spiral"}, ok)])
    assert refused.value is None and refused.flags == ("incomplete_events",)
