"""dmslab.dashboards.workload against the synthetic department's ground truth (counted here from the truth)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from dmslab.dashboards import overview, workload


def _when(s) -> dt.datetime:
    return dt.datetime.fromisoformat(s.study_datetime)



@pytest.mark.parametrize("period", ["everything", "last 7 days"])
def test_hour_table_counts_each_room_weekday_hour_as_the_truth(site, store, period):
    truth = site[1]
    ref = max(_when(s) for s in truth.studies)
    days = overview.PERIODS[period]
    chosen = [s for s in truth.studies if days is None or _when(s) >= ref - dt.timedelta(days=days)]
    names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    expected = Counter((s.station_name, names[_when(s).weekday()], _when(s).hour) for s in chosen)
    table = workload.hour_table(store, overview.filters_for(ref, period))
    assert list(table.columns) == ["Room", "Weekday", "Hour (h)", "Studies (n)"]
    assert {(r.Room, r.Weekday, r._3): r._4 for r in table.itertuples()} == dict(expected)


def test_month_table_counts_each_room_month_as_the_truth(site, store):
    truth = site[1]
    expected = Counter((s.station_name, s.modality, s.study_datetime[:7]) for s in truth.studies)
    table = workload.month_table(store, overview.filters_for(overview.reference_time(store), "everything"))
    assert list(table.columns) == ["Room", "Modality", "Month", "Studies (n)"]
    assert {(r.Room, r.Modality, r.Month): r._4 for r in table.itertuples()} == dict(expected)
    assert len({m for _r, _mod, m in expected}) >= 2  # the department spans a month boundary or more


def test_room_filter_changes_chart_data(site, store):
    ref = overview.reference_time(store)
    every = workload.hour_chart(workload.hour_table(store, overview.filters_for(ref, "everything"))).to_dict()
    one = workload.hour_table(store, overview.filters_for(ref, "everything", "CT", "CT2"))
    spec = workload.hour_chart(one).to_dict()
    rows = [r for rows in spec["datasets"].values() for r in rows]
    assert {r["Room"] for r in rows} == {"CT2"}
    assert sum(r["Studies (n)"] for r in rows) == sum(s.station_name == "CT2" for s in site[1].studies)
    assert spec["datasets"] != every["datasets"]
    assert spec["spec"]["encoding"]["color"]["title"] == "Studies (n)"
    assert spec["spec"]["encoding"]["x"]["title"] == "Hour of day (h)"
    months = workload.month_chart(workload.month_table(store, overview.filters_for(ref, "everything", "CT", "CT2")))
    assert months.to_dict()["encoding"]["y"]["title"] == "Studies (n)"


def test_empty_selection_is_a_sentence(store):
    f = overview.filters_for(overview.reference_time(store), "everything", "MG", "CT1")
    for view in (workload.hour_table(store, f), workload.month_table(store, f)):
        assert isinstance(view, overview.NoExams) and view.text.startswith("No exams match modality MG, room CT1")
