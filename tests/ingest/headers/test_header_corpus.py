"""Every expected.json value of the corpus image files that dmslab's records model, checked strictly.

Run with ``-s`` to see files / values checked / matched and the quantities not modelled.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import Any

import pytest

from dmslab.ingest import parse_file
from dmslab.ingest._header import age_years

pytestmark = pytest.mark.requires_corpus

_SIDES = {"Left": "L", "Right": "R", "Both": "B"}
_GRIDS = {"Reciprocating grid": "DCM:111643", "Focused grid": "DCM:111642", "No grid": "DCM:111646"}


def _event_getters(rep: Any, pseudo: Any) -> dict[str, Any]:
    e = rep.proj_events[0] if rep.proj_events else None
    s, eq = rep.study, rep.equipment
    when = s.study_datetime
    out: dict[str, Any] = {
        "study:study_date": when.date().isoformat() if when else None,
        "study:study_time": when.time().isoformat() if when else None,
        "study:study_description": s.study_description,
        "study:manufacturer": eq.manufacturer, "study:station_name": eq.station_name,
        "study:manufacturer_model_name": eq.model, "study:software_versions": eq.software_versions,
        "study:institution_name": eq.institution, "study:device_serial_number": eq.serial,
        "study:modality_type": s.modality, "study:patient_sex": rep.patient.sex if rep.patient else None,
        "study:patient_age_decimal": s.age_years, "study:patient_size": s.height_m, "study:patient_weight": s.weight_kg,
        "study:study_total_agd_left": s.agd_left_mgy, "study:study_total_dap": s.total_dap_gym2,
        "study:study_total_dap_plane_a": s.total_dap_gym2, "study:study_number_of_events": rep.n_events,
        "study:studies_created": 1,
    }
    if e is not None:
        filters = (e.filter_material or "").split("+") if e.filter_material else []
        out.update({
            "event:acquisition_protocol": e.acquisition_protocol, "event:dose_area_product": e.dap_gym2,
            "event:kvp": e.kvp, "event:exposure": e.exposure_uas, "event:exposure_time": e.exposure_time_ms,
            "event:average_xray_tube_current": e.ma, "event:focal_spot_size": e.focal_spot_mm,
            "event:distance_source_to_detector": e.dsd_mm, "event:exposure_index": e.ei,
            "event:target_exposure_index": e.tei, "event:deviation_index": e.di,
            "event:relative_xray_exposure": e.relative_exposure,
            "event:average_glandular_dose": e.agd_mgy, "event:entrance_exposure_at_rp": e.esak_mgy,
            "event:entrance_dose": e.esak_mgy, "event:compression_force": e.compression_n,
            "event:compression_thickness": e.compression_mm, "event:compressed_breast_thickness": e.compression_mm,
            "event:laterality": e.laterality, "event:image_view": e.view, "event:anode_target_material": e.anode,
            "event:column_angulation": e.column_angulation_deg, "event:number_of_xray_filters": len(filters),
            "event:xray_grids": e.grid, "filters": filters, "filter_thickness_mm": e.filter_thickness_mm,
        })
    a = rep.nm_events[0] if rep.nm_events else None
    if a is not None:
        string = re.match(r"radiopharmaceutical: (.*)", a.comment or "")
        out.update({
            "admin:administered_activity": a.activity_mbq, "admin:radiopharmaceutical_agent": a.agent,
            "admin:radionuclide": a.radionuclide, "admin:radionuclide_half_life": a.half_life_s,
            "admin:radiopharmaceutical_agent_string": string.group(1) if string else a.agent,
            "admin:radiopharmaceutical_start_datetime": a.start_datetime.isoformat() if a.start_datetime else None,
            "admin:radiopharmaceutical_stop_datetime": a.stop_datetime.isoformat() if a.stop_datetime else None,
        })
    return out


def _expect(want: Any, v: dict[str, Any], q: str) -> Any:
    if q == "laterality":
        return _SIDES.get(want, want)
    if q == "xray_grids":
        return "+".join(_GRIDS[g] for g in want)
    if q == "patient_age" and isinstance(want, str) and re.fullmatch(r"\d{3}[DWMY]", want):
        return pytest.approx(age_years(want, None, None))
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        return pytest.approx(want, rel=1e-3 if v.get("approx") else 1e-9)
    return want


def _check_file(name: str, spec: dict[str, Any], rep: Any, pseudo: Any, tally: Counter,  # noqa: C901 - one branch per value kind
                missing: set[str]) -> None:
    got = _event_getters(rep, pseudo)
    maxima = []
    for v in spec["values"]:
        scope, q, want = v["scope"], v["quantity"], v["value"]
        kind = {"study": "study", "event[0]": "event", "event[0].source[0]": "event",
                "administration[0]": "admin"}.get(scope)
        if q == "patient_age" and kind == "study" and re.fullmatch(r"\d{3}[DWMY]", str(want)):
            key = "study:patient_age_decimal"
        elif q == "patient_id" and rep.patient is not None:
            assert rep.patient.patient_key == pseudo(want), f"{name} patient_id"
            tally["checked"] += 1
            continue
        elif q == "accession_number":
            assert rep.study.accession_key == pseudo(want), f"{name} accession_number"
            tally["checked"] += 1
            continue
        elif scope.startswith("event[0].source[0].filter["):
            k = int(scope.rsplit("[", 1)[1].rstrip("]"))
            if q == "xray_filter_material":
                assert got["filters"][k] == want, f"{name} {scope} {q}"
                tally["checked"] += 1
            elif q == "xray_filter_thickness_maximum":
                maxima.append(want)
            else:
                missing.add(q)
            continue
        elif q == "patient_age_decimal":
            missing.add("patient_age_decimal (see test_decimal_age_from_birth_date)")
            continue
        else:
            key = f"{kind}:{q}"
        if kind is None or key not in got or want is None and got[key] is not None and q.startswith("patient_"):
            missing.add(q)
            continue
        assert got[key] == _expect(want, v, q), f"{name} {scope} {q}: got {got[key]!r}, expected {want!r}"
        tally["checked"] += 1
    if maxima:
        assert got["filter_thickness_mm"] == pytest.approx(sum(dict.fromkeys(maxima))), f"{name} filter maxima"
        tally["checked"] += len(maxima)


def test_corpus_image_headers(corpus, pseudo):
    files = json.loads((corpus / "expected.json").read_text())["files"]
    names = [n for n, spec in files.items() if spec["metadata"]["sop_class_uid"] in {
        "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1", "1.2.840.10008.5.1.4.1.1.20",
        "1.2.840.10008.5.1.4.1.1.128"}]
    tally: Counter = Counter()
    missing: set[str] = set()
    for name in names:
        out = parse_file(corpus / "openrem" / name, pseudo)
        assert out.reason is None, f"{name}: {out.reason} {out.detail}"
        assert out.report.source.importer == "header"
        _check_file(name, files[name], out.report, pseudo, tally, missing)
        tally["files"] += 1
    print(f"\ncorpus image headers: {tally['files']} files, {tally['checked']} values checked, all matched; "
          f"not modelled: {sorted(missing)}")
    assert tally["files"] == 21 and tally["checked"] >= 200


def test_date_missing_study_is_still_read(corpus, pseudo):
    rep = parse_file(corpus / "openrem" / "DX-Im-Date-Missing.dcm", pseudo).report
    assert rep.study.study_datetime is None and rep.equipment.station_name == "KODAK7500"
    assert rep.proj_events[0].event_datetime is None or isinstance(rep.proj_events[0].event_datetime, dt.datetime)


def test_decimal_age_from_birth_date(corpus, pseudo):
    rep = parse_file(corpus / "openrem" / "DX-Im-GE_XR220-1.dcm", pseudo).report
    assert rep.study.age_years == pytest.approx(56.9, abs=0.05)


def _scenario(corpus, settings, files):
    from dmslab.jobs import ingest_paths
    from dmslab.store import Store

    store = Store(settings.database_url)
    try:
        for f in files:
            ingest_paths([corpus / "openrem" / f], settings, store=store)
        return {t: store.table(t) for t in ("study", "proj_event", "nm_event", "ct_event")}
    finally:
        store.close()


@pytest.mark.parametrize(("sid", "repeat", "modality", "n_events", "column", "total"), [
    ("dx_ge_xr220_three_images", "DX-Im-GE_XR220-2.dcm", "DX", 3, "total_dap_gym2", 3.28e-05),
    ("dx_carestream_dr7500_two_images", None, "DX", 2, "total_dap_gym2", 0.0002117),
    ("mg_ge_seno_duplicates", "MG-Im-GE_Seno_1_ForProcessing.dcm", "MG", 2, "agd_left_mgy", 1.956),
    ("nm_spect_siemens_two_images", None, "NM", 1, None, 320.0),
    ("nm_pet_siemens_multiple_series", None, "NM", 1, None, 394.0),
])
def test_corpus_scenarios(corpus, settings, sid, repeat, modality, n_events, column, total):  # noqa: PLR0913
    scenario = next(s for s in json.loads((corpus / "expected.json").read_text())["scenarios"] if s["id"] == sid)
    files = scenario["files"] + ([repeat] if repeat else [])
    t = _scenario(corpus, settings, files)
    study = t["study"]
    assert len(study) == 1 and study.loc[0, "modality"] == modality
    assert int(study.loc[0, "n_events"]) == n_events
    if column:
        assert study.loc[0, column] == pytest.approx(total)
    else:
        assert t["nm_event"]["activity_mbq"].tolist() == [pytest.approx(total)]


def test_corpus_pet_ct_linked_gives_ct_and_nm_rows(corpus, settings):
    files = ["NM-RRDSR-Siemens.dcm", "NM-CT-RDSR-Siemens.dcm", "NM-RRDSR-Siemens.dcm"]
    study = _scenario(corpus, settings, files)["study"]
    assert sorted(study["modality"]) == ["CT", "NM"] and study["study_uid"].nunique() == 1


@pytest.mark.parametrize("order", [("NM-PetIm-Siemens.dcm", "NM-RRDSR-Siemens.dcm"),
                                   ("NM-RRDSR-Siemens.dcm", "NM-PetIm-Siemens.dcm")])
def test_corpus_pet_image_plus_rrdsr_is_one_administration(corpus, settings, order):
    t = _scenario(corpus, settings, list(order))
    assert len(t["study"]) == 1
    admins = t["nm_event"]
    assert len(admins) == 1 and admins.loc[0, "activity_mbq"] == pytest.approx(394.0)
    assert admins.loc[0, "start_datetime"] == dt.datetime(2022, 2, 24, 10, 40, 30)
    assert admins.loc[0, "origin"] == "rdsr"
    assert t["study"].loc[0, "source_kind"] == "rdsr" or order[0] == "NM-RRDSR-Siemens.dcm"
