"""The dashboards' store queries (dmslab.store._dash_*) on both backends (SQLite, and PostgreSQL when
DMSLAB_TEST_POSTGRES_URL is set) against the synthetic department's ground truth, counted here."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter

import pytest

from dmslab import store as S
from dmslab.store import StudyFilter


def _when(s) -> dt.datetime:
    return dt.datetime.fromisoformat(s.study_datetime)


def test_workload_counts(filled, department):
    st, truth = filled[0], department[1]
    w = S.room_workload_counts(st)
    assert {(r.room, r.weekday, r.hour): r.n_exams for r in w.itertuples()} == dict(
        Counter((s.station_name, _when(s).isoweekday(), _when(s).hour) for s in truth.studies))
    m = S.room_month_counts(st, selection=StudyFilter(rooms=("CT1", "DX1")))
    assert {(r.room, r.modality, r.month): r.n_exams for r in m.itertuples()} == dict(
        Counter((s.station_name, s.modality, s.study_datetime[:7]) for s in truth.studies
                if s.station_name in ("CT1", "DX1")))


def test_protocol_queries(filled, department):
    st, truth = filled[0], department[1]
    counts = S.protocol_counts(st, selection=StudyFilter(modality="CT"))
    assert {(r.room, r.protocol): r.n_exams for r in counts.itertuples()} == dict(
        Counter((s.station_name, s.protocol) for s in truth.studies if s.modality == "CT"))
    exams = S.protocol_exams(st, StudyFilter(modality="CT", rooms=("CT2",)), protocol="CT Sinus")
    want = [s for s in truth.studies if s.station_name == "CT2" and s.protocol == "CT Sinus"]
    assert sorted(exams["dlp_mgycm"]) == pytest.approx(sorted(s.total_dlp_mgycm for s in want))
    with pytest.raises(ValueError, match="protocol_field"):
        S.protocol_counts(st, protocol_field="patient_id")


def test_size_dose(filled, department):
    st, truth = filled[0], department[1]
    ct = S.size_dose(st, StudyFilter(rooms=("CT1",)), dose="ctdivol_mgy", size="weight_kg")
    want = sorted((s.patient_weight_kg, statistics.mean(e.ctdivol_mgy for e in s.events if e.ctdivol_mgy
                                                        and e.acquisition_type != "Constant Angle Acquisition"))
                  for s in truth.studies if s.station_name == "CT1")
    got = sorted(zip(ct["size"], ct["dose"], strict=True))
    assert [g[0] for g in got] == pytest.approx([w[0] for w in want])
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want])
    dx = S.size_dose(st, StudyFilter(modality="DX"), dose="total_dap_gym2", size="weight_kg")
    assert len(dx) == sum(s.modality == "DX" for s in truth.studies) and set(dx["modality"]) == {"DX"}
    with pytest.raises(ValueError, match="must be one of"):
        S.size_dose(st, StudyFilter(), dose="agd_mgy", size="height_m")


def test_event_queries(filled, department):
    st, truth = filled[0], department[1]
    case = next(s for s in truth.studies if s.study_uid == truth.injected.high_dose_fluoro.study_uid)
    exam = S.exam_ids(st, [case.study_uid])[case.study_uid]
    assert S.exam_uids(st, [exam]) == {exam: case.study_uid}
    modality, events = S.exam_events(st, exam)
    assert modality == "RF" and tuple(events.columns) == S.PROJ_EVENT_COLUMNS
    ordered = sorted(case.events, key=lambda e: e.datetime_started)
    assert events["rp_dose_gy"].tolist() == pytest.approx([e.rp_dose_gy for e in ordered])
    totals = S.proj_event_totals(st, [exam]).set_index("event_type")
    kinds = Counter("fluoroscopy" if e.acquisition_type == "Fluoroscopy" else "stationary" for e in case.events)
    assert totals["n_events"].to_dict() == dict(kinds)
    assert totals["dap_gym2"].sum() == pytest.approx(sum(e.dap_gym2 for e in case.events))
    assert S.exam_events(st, 10**9)[0] is None
