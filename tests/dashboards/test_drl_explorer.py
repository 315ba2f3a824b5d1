"""dmslab.dashboards.drl_explorer against the synthetic department's ground truth (medians computed here)."""

from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np
import pytest

from dmslab.analysis.drl import drl_references
from dmslab.dashboards import drl_explorer as d
from dmslab.dashboards import overview


def _truth_dlp(truth, room=None):
    """Adult CT DLP per exam, grouped by the synthetic protocol (and room)."""
    out = defaultdict(list)
    for s in truth.studies:
        if s.modality == "CT" and s.patient_age_years >= 18 and (room is None or s.station_name == room):
            out[(s.station_name, s.protocol)].append(s.total_dlp_mgycm)
    return out


def test_audit_medians_are_the_truth_medians(site, store):
    f = d.explorer_filters(overview.reference_time(store), metric="dlp_mgycm", period="everything", room="CT1")
    table = d.audit_table(store, f, metric="dlp_mgycm")
    assert list(table.columns) == ["Room", "Exam", "Values (n)", "Median (mGy·cm)", "DRL (mGy·cm)", "Median / DRL",
                                   "Status"]
    got = sorted(zip(table["Values (n)"], table["Median (mGy·cm)"].round(3), strict=True))
    want = sorted((len(v), round(statistics.median(v), 3)) for v in _truth_dlp(site[1], "CT1").values())
    assert got == want
    assert set(table["Room"]) == {"CT1"}
    assert (table.loc[table["Values (n)"] < 10, "Status"] == "too few").all()


def test_exam_filter_and_empty_selection(store):
    ref = overview.reference_time(store)
    f = d.explorer_filters(ref, metric="dlp_mgycm", period="everything", standard_name="CT Head wo IV Contrast")
    assert set(d.audit_table(store, f, metric="dlp_mgycm")["Exam"]) == {"CT Head wo IV Contrast"}
    empty = d.explorer_filters(ref, metric="agd_mgy", period="everything", room="CT1")
    for view in (d.audit_table(store, empty, metric="agd_mgy"), d.box_chart(store, empty, metric="agd_mgy"),
                 d.monthly_chart(store, empty, metric="agd_mgy")):
        assert isinstance(view, overview.NoExams) and view.text.startswith("No exams match modality MG, room CT1")


def test_local_drl_is_the_75th_percentile_of_truth_room_medians(site, store):
    f = d.explorer_filters(overview.reference_time(store), metric="dlp_mgycm", period="everything",
                           standard_name="CT Head wo IV Contrast")
    table = d.local_drl_table(store, f, metric="dlp_mgycm")
    groups = {k: v for k, v in _truth_dlp(site[1]).items() if k[1] == "CT Head Routine" and len(v) >= 10}
    medians = [statistics.median(v) for v in groups.values()]
    assert table.to_dict("records") == [{"Exam": "CT Head wo IV Contrast", "Rooms (n)": len(groups),
                                         "Values (n)": sum(map(len, groups.values())),
                                         "Local DRL (mGy·cm)": pytest.approx(np.percentile(medians, 75))}]


def test_single_exams_above_the_drl_without_identifiers(site, store):
    f = d.explorer_filters(overview.reference_time(store), metric="dlp_mgycm", period="everything",
                           standard_name="CT Chest Abdomen Pelvis")
    table = d.exceedance_table(store, f, metric="dlp_mgycm")
    refs = drl_references("UK", patient_group="adult")
    drl = float(refs.loc[(refs["metric"] == "dlp_mgycm") & (refs["standard_name"] == "CT Chest Abdomen Pelvis"),
                         "drl"].iloc[0])
    above = sorted((v for (_, p), vs in _truth_dlp(site[1]).items() if p == "CT Chest Abdomen Pelvis" for v in vs
                    if v > drl), reverse=True)
    assert list(table.columns) == ["Date", "Room", "Exam", "DLP (mGy·cm)", "DRL (mGy·cm)", "Value / DRL"]
    assert table["DLP (mGy·cm)"].tolist() == pytest.approx(above) and len(above) > 0
    when = {s.study_datetime.replace("T", " ")[:16] for s in site[1].studies}  # each row dated as the exam was
    assert set(table["Date"]) <= when
    per_event = d.exceedance_table(store, f, metric="ctdivol_mgy")
    assert isinstance(per_event, overview.NoExams) and "per event" in per_event.text


def test_monthly_chart_draws_the_drl(store):
    f = d.explorer_filters(overview.reference_time(store), metric="dlp_mgycm", period="everything",
                           standard_name="CT Head wo IV Contrast")
    spec = d.monthly_chart(store, f, metric="dlp_mgycm").to_dict()
    refs = drl_references("UK", patient_group="adult")
    level = float(refs.loc[(refs["metric"] == "dlp_mgycm") & (refs["standard_name"] == "CT Head wo IV Contrast"),
                           "drl"].iloc[0])
    rules = [layer for layer in spec["layer"] if layer["mark"]["type"] == "rule"]
    assert len(rules) == 1 and spec["layer"][0]["encoding"]["y"]["title"] == "Median DLP (mGy·cm)"
    datasets = spec["datasets"]
    assert any(row.get("DRL") == level for rows in datasets.values() for row in rows)


def test_box_chart_carries_one_row_per_room_with_numpys_quartiles(site, store):
    f = d.explorer_filters(overview.reference_time(store), metric="dlp_mgycm", period="everything")
    chart = d.box_chart(store, f, metric="dlp_mgycm")
    rows = chart.data.set_index("Room")
    for room, groups in _rooms_dlp(site[1]).items():
        q1, med, q3 = np.percentile(groups, [25, 50, 75])
        fence = 1.5 * (q3 - q1)
        inside = [x for x in groups if q1 - fence <= x <= q3 + fence]
        got = rows.loc[room]
        assert got["n"] == len(groups)
        assert np.allclose([got["q1"], got["median"], got["q3"], got["low"], got["high"]],
                           [q1, med, q3, min(inside), max(inside)], rtol=1e-6)
    assert sorted(rows.index) == sorted(_rooms_dlp(site[1]))


def _rooms_dlp(truth):
    out = defaultdict(list)
    for (room, _), values in _truth_dlp(truth).items():
        out[room].extend(values)
    return out
