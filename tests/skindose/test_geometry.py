"""Geometry from the RDSR content tree, vendor profiles, and the no-silent-zero rules."""

from __future__ import annotations

import csv
import math
from importlib import resources

import pytest

from dmslab import codes as c
from dmslab.codes import CodeKey
from dmslab.ingest.rdsr import Item
from dmslab.skindose.geometry import event_geometries
from dmslab.skindose.profiles import find_profile, profiles, to_beam
from dmslab.skindose.study import Patient, StudyOptions, patient_position, study_skin_dose


def num(code: CodeKey, value: float, unit: str) -> Item:
    return Item(code, "NUM", (value,), unit)


def code(concept: CodeKey, value: CodeKey, *children: Item) -> Item:
    return Item(concept, "CODE", value, children=list(children))


def filt(material: CodeKey, t_min: float, t_max: float) -> Item:
    return Item(c.XRAY_FILTERS, "CONTAINER", children=[
        code(c.FILTER_MATERIAL, material), num(c.FILTER_THICKNESS_MIN, t_min, "mm"),
        num(c.FILTER_THICKNESS_MAX, t_max, "mm")])


def event(uid: str = "1.2.3", **over: Item | None) -> Item:
    items = {
        "uid": Item(c.IRRADIATION_EVENT_UID, "UIDREF", uid),
        "k": num(c.RP_DOSE, 250.0, "mGy"),  # 0.25 Gy
        "kap": num(c.DAP, 25.0, "Gy.cm2"),  # 0.0025 Gy.m2
        "kvp": num(c.KVP, 85.0, "kV"),
        "lon": num(c.TABLE_LONGITUDINAL, -20.0, "mm"),
        "lat": num(c.TABLE_LATERAL, 600.0, "mm"),
        "h": num(c.TABLE_HEIGHT, 15.0, "cm"),  # 150 mm
        "a": num(c.PRIMARY_ANGLE, 30.0, "deg"),
        "b": num(c.SECONDARY_ANGLE, -10.0, "deg"),
        "dsi": num(c.DIST_SOURCE_TO_ISOCENTER, 780.0, "mm"),
        "dsd": num(c.DIST_SOURCE_TO_DETECTOR, 1200.0, "mm"),
        "cu1": filt(c.SCT("66925006"), 0.2, 0.4),
        "cu2": filt(CodeKey("SRT", "C-127F9"), 0.1, 0.1),
        "al": filt(c.SCT("105830007"), 1.0, 1.0),
        "rel": code(c.PATIENT_TABLE_RELATIONSHIP, c.FEETFIRST),
        "ori": code(c.PATIENT_ORIENTATION, c.SCT("102538003"), code(c.PATIENT_ORIENTATION_MODIFIER, c.PRONE)),
    }
    items.update(over)  # type: ignore[arg-type]
    return Item(c.IRRADIATION_EVENT, "CONTAINER", children=[i for i in items.values() if i is not None])


def report(*events: Item) -> Item:
    return Item(c.DCM("113701"), "CONTAINER", children=list(events))


def test_event_geometry_reads_codes_in_canonical_units() -> None:
    (g,) = event_geometries(report(event()))
    assert g.event_uid == "1.2.3"
    assert g.dose_rp_gy == pytest.approx(0.25) and g.dap_gym2 == pytest.approx(0.0025)
    assert g.table_height_mm == pytest.approx(150.0) and g.table_lateral_mm == 600.0
    assert g.cu_mm == pytest.approx(0.3 + 0.1) and g.al_mm == pytest.approx(1.0)
    assert (g.patient_table_relationship, g.patient_orientation_modifier) == ("feetfirst", "prone")
    assert g.field_area_m2 is None and g.dsrp_mm is None
    assert patient_position((g,)) == ("FFP", [])


def test_missing_position_is_head_first_supine_and_said() -> None:
    (g,) = event_geometries(report(event(rel=None, ori=None)))
    pos, notes = patient_position((g,))
    assert pos == "HFS" and len(notes) == 2 and "not sent" in notes[0]


def test_siemens_profile_maps_lateral_reading_to_the_long_axis() -> None:
    p = find_profile("Siemens", "AXIOM-Artis")
    assert p is not None and p.name == "siemens_artis"
    (g,) = event_geometries(report(event()))
    notes: set[str] = set()
    beam = to_beam(g, p, notes)
    assert not isinstance(beam, str)
    ox, oy, oz = p.offset_cm
    assert beam.table_offset_cm == pytest.approx((-20.0 / 10 + ox, 600.0 / 10 + oy, -150.0 / 10 + oz))
    assert beam.d_ref_cm == pytest.approx(78.0 - 15.0)  # IEC reference point, stated
    assert any("15 cm from the isocentre" in n for n in notes)
    # no collimated field: square from KAP / Ka,r at the reference point
    assert beam.field_plane_cm == beam.d_ref_cm
    assert beam.field_w_cm == pytest.approx(math.sqrt(0.0025 / 0.25) * 100)
    assert beam.cu_mm == pytest.approx(0.4) and beam.kvp_kv == 85.0


def test_philips_profile_inverts_the_secondary_angle() -> None:
    p = find_profile("Philips Medical Systems", "AlluraXper")
    assert p is not None and p.name == "philips_allura"
    (g,) = event_geometries(report(event(w=num(c.FIELD_WIDTH, 200.0, "mm"), hh=num(c.FIELD_HEIGHT, 160.0, "mm"))))
    beam = to_beam(g, p, set())
    assert not isinstance(beam, str)
    assert beam.secondary_deg == pytest.approx(10.0) and beam.primary_deg == pytest.approx(30.0)
    assert (beam.field_w_cm, beam.field_h_cm, beam.field_plane_cm) == pytest.approx((20.0, 16.0, 120.0))


def test_event_without_kar_is_skipped_with_its_reason() -> None:
    p = profiles()["siemens_artis"]
    (g,) = event_geometries(report(event(k=None)))
    assert to_beam(g, p, set()) == "no Dose (RP) (Ka,r) or zero"


def test_unknown_system_says_geometry_unknown_never_zero() -> None:
    rep = report(event())
    res = study_skin_dose(rep, "ACME X-Ray", "Model 9")
    assert res.status == "geometry_unknown" and res.result is None
    assert "geometry unknown" in res.message
    labelled = study_skin_dose(rep, "ACME X-Ray", "Model 9", options=StudyOptions(allow_default=True))
    assert labelled.status == "ok" and labelled.profile is not None and "geometry unknown" in labelled.profile
    assert labelled.method["geometry_profile"] == labelled.profile


def test_study_result_carries_psd_areas_fraction_and_method() -> None:
    hf = code(c.PATIENT_TABLE_RELATIONSHIP, c.HEADFIRST)
    rep = report(event("1.1", rel=hf), event("1.2", rel=hf, a=num(c.PRIMARY_ANGLE, 0.0, "deg")))
    res = study_skin_dose(rep, "Siemens", "AXIOM-Artis", Patient(170.0, 80.0))
    assert res.status == "ok" and res.result is not None and res.position == "HFP"
    r = res.result
    assert 0.25 < r.psd_gy < 2 * 0.25 * 1.6  # one or both 0.25 Gy beams, with inverse square and backscatter
    assert r.psd_location is not None and "anterior" in r.psd_location.text  # prone: the front is on the table
    assert set(r.area_above_cm2) == {2.0, 3.0, 5.0}
    assert r.kap_fraction is not None and 0.5 < r.kap_fraction <= 1.0
    m = res.method
    assert m["profile_confidence"] == "indicative" and "pyskindose" in str(m["profile_source"])
    assert any("reference point" in a for a in m["assumptions"])  # type: ignore[union-attr]


def test_every_profile_names_source_and_confidence() -> None:
    text = resources.files("dmslab.data").joinpath("skin_geometry_profiles.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert {"siemens_artis", "philips_allura", "canon_alphenix", "ge_innova", "default"} <= {r["profile"] for r in rows}
    for r in rows:
        assert r["confidence"] in ("validated", "indicative") and len(r["source"]) > 20
        assert r["long_reading"] in ("lateral", "longitudinal") and r["lat_reading"] != r["long_reading"]
    assert find_profile("", None) is None  # the default profile is never matched by itself


def test_feet_first_puts_the_same_table_position_on_the_legs() -> None:
    # the isocentre 60 cm from the RDSR table zero: the trunk of a head-first patient, the shins feet first
    hf = code(c.PATIENT_TABLE_RELATIONSHIP, c.HEADFIRST)
    first = study_skin_dose(report(event("1.1", rel=hf)), "Siemens", "AXIOM-Artis", Patient(170.0, 80.0))
    res = study_skin_dose(report(event("1.1")), "Siemens", "AXIOM-Artis", Patient(170.0, 80.0))
    assert (first.position, res.position) == ("HFP", "FFP")
    assert first.result is not None and first.result.psd_location is not None
    assert res.result is not None and res.result.psd_location is not None
    assert first.result.psd_location.region == "trunk" and res.result.psd_location.region == "legs"
