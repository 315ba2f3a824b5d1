"""A software update on the injected protocol change's device (issue 19 item 5): named beside the change it
coincides with in the protocol explorer and the change report, not beside a change it is far from."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from dmslab.analysis.device_events import device_updates, with_device_events
from dmslab.dashboards import overview
from dmslab.dashboards import protocols as p
from dmslab.records import CtEventRecord, DoseReport, EquipmentRecord, SourceRecord, StudyRecord
from dmslab.store import Store

HEAD = "CT Head Routine"


def _update(store: Store, room: str, when: dt.datetime, software: str, n: int) -> None:
    """One more CT exam from ``room``'s device (its exact identity from the store), sent with ``software``."""
    eq = store.read("select manufacturer, model, station_name, serial, device_observer_uid from equipment "
                    "where station_name = :r", r=room).iloc[0]
    fields = {k: (None if v is None or v != v else str(v)) for k, v in eq.to_dict().items()}
    uid = f"1.2.826.0.1.3680043.10.997.{n}"
    store.write([DoseReport(
        source=SourceRecord(sha256=f"{n:064x}", sop_instance_uid=f"{uid}.1", sop_class_uid="1.2", study_uid=uid,
                            importer="rdsr"),
        equipment=EquipmentRecord(**fields, software_versions=software), patient=None,
        study=StudyRecord(study_uid=uid, modality="CT", source_kind="rdsr", study_datetime=when,
                          study_description="Service check"),
        ct_events=(CtEventRecord(event_uid=f"{uid}.1", ctdivol_mgy=1.0, dlp_mgycm=10.0),))])


@pytest.fixture(scope="module")
def updated(site_maker, department, tmp_path_factory):
    folder, truth = department
    settings = site_maker(tmp_path_factory.mktemp("device-events") / "home", [folder])
    change = dt.datetime.fromisoformat(truth.injected.protocol_change.date)
    store = Store(settings.database_url)
    before = store.read("select software_versions from equipment where station_name = 'CT1'").iloc[0, 0]
    _update(store, "CT1", change - dt.timedelta(days=10), "VX98 early", 3)  # after CT1's first study (15 days)
    _update(store, "CT1", change - dt.timedelta(days=2, hours=-1), "VX99 update", 1)
    _update(store, "CT2", change - dt.timedelta(days=2), "VY11 update", 2)  # another room: never named for CT1
    store.close()
    return settings, truth, before


def test_the_update_is_named_beside_the_change_it_coincides_with(updated):
    settings, truth, before = updated
    store = Store(settings.database_url, read_only=True)
    ups = device_updates(store)
    ct1 = ups[ups["room"] == "CT1"]
    assert ct1[["before", "after"]].to_dict("records") == [{"before": before, "after": "VX98 early"},
                                                           {"before": "VX98 early", "after": "VX99 update"}]
    views = p.Views(store, overview.reference_time(store))
    table = p.changes_table(store, views.filters("CT", "CT1", "everything"), protocol=HEAD, window_days=5)
    row = table[table["Quantity"] == "CTDIvol (mGy)"].iloc[0]  # found within 3 days of the injected date
    assert row["Device update nearby"].startswith("software VX98 early → VX99 update on ")
    assert "→ VX98 early" not in row["Device update nearby"]  # 10 days away: outside a 5-day window
    assert "VY11" not in " ".join(table["Device update nearby"])
    wide = p.changes_table(store, views.filters("CT", "CT1", "everything"), protocol=HEAD, window_days=30)
    named = wide[wide["Quantity"] == "CTDIvol (mGy)"].iloc[0]["Device update nearby"].split("; ")
    assert [n.split(" on ")[0] for n in named] == ["software VX98 early → VX99 update",
                                                   f"software {before} → VX98 early"]
    store.close()


def test_window_edges_and_order():
    changes = pd.DataFrame({"room": ["A"], "change_datetime": [pd.Timestamp("2026-03-10")]})
    ups = pd.DataFrame({"room": ["A", "A", "A"], "attribute": ["software_versions"] * 3,
                        "before": ["1", "2", "3"], "after": ["2", "3", "4"],
                        "at": pd.to_datetime(["2026-02-24", "2026-03-09", "2026-03-24 00:00:01"], format="ISO8601")})
    got = with_device_events(changes, ups, window_days=14)["device_event"].iloc[0]
    assert got == ("software 2 → 3 on 2026-03-09 (1 d before); software 1 → 2 on 2026-02-24 (14 d before)")
    with pytest.raises(ValueError, match="window_days must be >= 0"):
        with_device_events(changes, ups, window_days=-1)
