"""dmslab.dashboards.overview against the synthetic department's ground truth (counted here from the truth)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest

from dmslab.dashboards import open_store, overview
from dmslab.errors import ConfigError
from dmslab.store import Store, acknowledge_alert, alerts


def _when(s) -> dt.datetime:
    return dt.datetime.fromisoformat(s.study_datetime)



def test_reference_time_is_the_newest_study(site, store):
    assert overview.reference_time(store) == max(_when(s) for s in site[1].studies)


@pytest.mark.parametrize("period", list(overview.PERIODS))
def test_exam_table_counts_each_room_as_the_truth(site, store, period):
    truth = site[1]
    ref = max(_when(s) for s in truth.studies)
    days = overview.PERIODS[period]
    chosen = [s for s in truth.studies if days is None or _when(s) >= ref - dt.timedelta(days=days)]
    expected = Counter((s.modality, s.station_name) for s in chosen)
    table = overview.exam_table(store, overview.filters_for(ref, period))
    got = {(r.Modality, r.Room): r._3 for r in table.itertuples()}
    assert got == dict(expected)
    assert list(table.columns) == ["Modality", "Room", "Studies (n)"]
    assert table["Studies (n)"].is_monotonic_decreasing


def test_room_and_modality_filters(site, store):
    ref = overview.reference_time(store)
    n_ct2 = sum(s.station_name == "CT2" for s in site[1].studies)
    table = overview.exam_table(store, overview.filters_for(ref, "everything", "CT", "CT2"))
    assert table.to_dict("records") == [{"Modality": "CT", "Room": "CT2", "Studies (n)": n_ct2}]
    chart = overview.exam_chart(table).to_dict()
    assert chart["encoding"]["y"]["title"] == "Studies (n)"


def test_empty_selection_is_a_sentence(store):
    ref = overview.reference_time(store)
    f = overview.filters_for(ref, "everything", "MG", "CT1")  # no mammography in a CT room
    views = (overview.exam_table(store, f), overview.workload_table(store, f), overview.open_alerts_table(store, f))
    for view in views:
        assert isinstance(view, overview.NoExams) and view.text.startswith("No ") and "MG" in view.text
    assert "No exams match modality MG, room CT1" in overview.NoExams._repr_html_(overview.exam_table(store, f))


def test_workload_sums_to_the_exam_count(site, store):
    ref = overview.reference_time(store)
    w = overview.workload_table(store, overview.filters_for(ref, "everything", "DX"))
    assert w["Studies (n)"].sum() == sum(s.modality == "DX" for s in site[1].studies)
    hours = Counter(_when(s).hour for s in site[1].studies if s.modality == "DX")
    assert w.groupby("Hour (h)")["Studies (n)"].sum().to_dict() == dict(hours)


def test_open_alerts_follow_the_filters(site):
    st = open_store(site[0].database_url)
    try:
        ref = overview.reference_time(st)
        every = overview.open_alerts_table(st, overview.filters_for(ref, "everything"))
        stored = alerts(st, open_only=True)
        assert len(every) == len(stored) > 0
        assert list(every.columns) == ["Study date", "Room", "Modality", "Exam", "Metric", "Value", "Trigger level",
                                       "Unit", "Why"]
        uids = set(stored["study_uid"])
        assert not any(str(v) in uids for v in every.to_numpy().ravel())  # no Study Instance UID shown
        ct1 = overview.open_alerts_table(st, overview.filters_for(ref, "everything", "CT", "CT1"))
        n_ct1 = int(((stored["room"] == "CT1") & (stored["modality"] == "CT")).sum())
        assert (len(ct1) if isinstance(ct1, pd.DataFrame) else 0) == n_ct1
    finally:
        st.close()


def test_freshness_flags_a_room_that_stopped_sending(department, site_maker, tmp_path):
    folder, truth = department
    ref = max(_when(s) for s in truth.studies)
    cut = ref - dt.timedelta(days=10)  # CT2 stops sending 10 days before the newest study
    kept = [s for s in truth.studies if not (s.station_name == "CT2" and _when(s) >= cut)]
    settings = site_maker(tmp_path / "home", [folder / f for s in kept for f in s.files])
    st = open_store(settings.database_url)
    try:
        table = overview.freshness_table(st, overview.reference_time(st), overview.filters_for(ref, "everything"))
        first = alerts(st, open_only=True).iloc[0]
    finally:
        st.close()
    writer = Store(settings.database_url)  # an acknowledged alert leaves the open alerts
    try:
        acknowledge_alert(writer, int(first["id"]), by="mpe", comment=None, at=ref)
        left = overview.open_alerts_table(writer, overview.filters_for(ref, "everything"))
        assert len(left) == len(alerts(writer, open_only=True)) == len(alerts(writer)) - 1
    finally:
        writer.close()
    last = {room: max(_when(s) for s in kept if s.station_name == room) for room in {s.station_name for s in kept}}
    assert table.iloc[0]["Room"] == "CT2" and table.iloc[0]["Status"] == "stopped sending"
    assert table.loc[table["Status"] == "stopped sending", "Room"].tolist() == [
        r for r in sorted(last, key=lambda r: last[r]) if (ref - last[r]).total_seconds() / 86400 > overview.STALE_DAYS]
    for row in table.itertuples():
        assert row._4 == f"{last[row.Room]:%Y-%m-%d %H:%M}"
        assert row._5 == pytest.approx((ref - last[row.Room]).total_seconds() / 86400, abs=0.05)
    assert {"Silent (d)", "Studies (n)"} <= set(table.columns)


def test_open_store_needs_a_url(monkeypatch):
    monkeypatch.delenv("DMSLAB_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="dmslab dashboard"):
        open_store("")
