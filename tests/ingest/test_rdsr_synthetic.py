"""Parse every synthetic RDSR and compare with the generator's ground truth (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from dmslab.ingest import parse_file

CT_FIELDS = [("ctdivol_mgy", "ctdivol_mgy"), ("dlp_mgycm", "dlp_mgycm"), ("phantom_cm", "phantom_cm"),
             ("scan_length_mm", "scan_length_mm"), ("pitch", "pitch"), ("kvp", "kvp"), ("ma", "ma"),
             ("exposure_time_s", "exposure_time_s"), ("collimation_mm", "collimation_total_mm")]
PROJ_FIELDS = [("dap_gym2", "dap_gym2"), ("rp_dose_gy", "rp_dose_gy"), ("agd_mgy", "agd_mgy"),
               ("esak_mgy", "entrance_exposure_mgy"), ("kvp", "kvp"), ("exposure_uas", "exposure_uas"),
               ("exposure_time_ms", "exposure_time_ms"), ("pulse_rate", "pulse_rate"), ("n_pulses", "n_pulses"),
               ("compression_mm", "compression_thickness_mm"), ("compression_n", "compression_force_n"),
               ("dsd_mm", "sid_mm"), ("field_area_m2", "field_area_m2"), ("ei", "ei"), ("di", "di"),
               ("laterality", "laterality")]
TYPES = {"Constant Angle Acquisition": "constant_angle", "Spiral Acquisition": "spiral",
         "Sequenced Acquisition": "sequenced"}


def _final_reports(department, pseudo):
    root, truth = department
    for study in truth.studies:
        yield study, parse_file(root / study.files[-1], pseudo)


def _check(rec, ev, fields):
    checked = 0
    for ours, theirs in fields:
        want = getattr(ev, theirs)
        got = getattr(rec, ours)
        if want is None:
            assert got is None, f"{ours}: expected nothing, got {got}"
        elif isinstance(want, str):
            assert got == want, ours
        else:
            assert got == pytest.approx(want, rel=1e-9), f"{ours} of {ev.event_uid}"
        checked += 1
    return checked


def test_every_synthetic_report_matches_ground_truth(department, pseudo):
    n_values = 0
    for study, outcome in _final_reports(department, pseudo):
        assert outcome.reason is None, f"{study.files[-1]}: {outcome.reason}: {outcome.detail}"
        rep = outcome.report
        s = rep.study
        assert s.study_uid == study.study_uid and s.modality == study.modality
        assert rep.equipment.station_name == study.station_name
        assert s.study_datetime == dt.datetime.fromisoformat(study.study_datetime)
        assert s.study_description == study.protocol
        assert s.flags == ()
        events = {e.event_uid: e for e in (*rep.ct_events, *rep.proj_events)}
        assert list(events) == [e.event_uid for e in study.events]
        for ev in study.events:
            rec = events[ev.event_uid]
            if study.modality == "CT":
                assert rec.acquisition_type == TYPES[ev.acquisition_type]
                assert rec.acquisition_protocol == ev.acquisition_protocol
                n_values += _check(rec, ev, CT_FIELDS)
            else:
                n_values += _check(rec, ev, PROJ_FIELDS)
        for ours, theirs in [("total_dlp_mgycm", "total_dlp_mgycm"), ("total_dap_gym2", "total_dap_gym2"),
                             ("total_rp_dose_gy", "total_rp_dose_gy"), ("fluoro_time_s", "fluoro_time_s"),
                             ("agd_left_mgy", "agd_left_mgy"), ("agd_right_mgy", "agd_right_mgy")]:
            want = getattr(study, theirs)
            if want is not None:
                assert getattr(s, ours) == pytest.approx(want, rel=1e-9), f"{ours} of {study.study_uid}"
                n_values += 1
    assert n_values > 1000


def test_legacy_srt_and_current_sct_rooms_both_parse(department, pseudo):
    _root, truth = department
    legacy = {r.station_name for r in truth.rooms if r.legacy_snomed}
    current = {r.station_name for r in truth.rooms if not r.legacy_snomed and r.modality == "CT"}
    assert legacy and current
    spiral_rooms = set()
    for study, outcome in _final_reports(department, pseudo):
        if study.modality == "CT" and any(e.acquisition_type == "spiral" for e in outcome.report.ct_events):
            spiral_rooms.add(study.station_name)
    assert legacy & spiral_rooms and current & spiral_rooms


def test_patient_identifiers_are_pseudonymised(department, pseudo):
    study, outcome = next(iter(_final_reports(department, pseudo)))
    rep = outcome.report
    assert rep.patient.patient_key == pseudo(study.patient_id) != study.patient_id
    assert rep.study.accession_key == pseudo(study.accession_number)
    text = repr(rep)
    assert study.patient_id not in text and study.patient_name.split("^")[0] not in text
