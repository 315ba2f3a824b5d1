"""Equipment history (issue 19 item 5): every software version a device sent is kept with the dates it was seen,
the equipment row shows the latest study's value, and a change is an event on the device's timeline (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa

from dmslab.records import CtEventRecord, DoseReport, EquipmentRecord, SourceRecord, StudyRecord
from dmslab.store import Store, device_changes, equipment_history, migrate

CT = {"manufacturer": "SIEMENS", "model": "SOMATOM Force", "station_name": "CT7", "serial": "71234"}


def _exam(n: int, when: dt.datetime | None, software: str, *, institution: str = "Klinikum Nord") -> DoseReport:
    uid = f"1.2.826.0.1.3680043.10.998.{n}"
    return DoseReport(source=SourceRecord(sha256=f"{n:064d}", sop_instance_uid=f"{uid}.9", sop_class_uid="1.2",
                                          study_uid=uid, importer="rdsr"),
                      equipment=EquipmentRecord(**CT, software_versions=software, institution=institution),
                      patient=None, study=StudyRecord(study_uid=uid, modality="CT", source_kind="rdsr",
                                                      study_datetime=when),
                      ct_events=(CtEventRecord(event_uid=f"{uid}.1", ctdivol_mgy=10.0, dlp_mgycm=300.0),))


def _software(store: Store) -> list[str]:
    return list(store.read("select software_versions from equipment")["software_versions"])


def test_a_software_update_is_kept_and_is_an_event_on_the_timeline(db_url):
    store = Store(db_url)
    jan, mar, may = dt.datetime(2026, 1, 10, 9), dt.datetime(2026, 3, 2, 14), dt.datetime(2026, 5, 20, 8)
    store.write([_exam(1, jan, "syngo CT VA40")])
    store.write([_exam(2, mar, "syngo CT VA50")])
    assert _software(store) == ["syngo CT VA50"]  # main kept VA40: the update was invisible
    # an older exam sent late does not turn the device back; a re-sent object is not counted twice
    store.write([_exam(3, dt.datetime(2026, 2, 1, 10), "syngo CT VA40"), _exam(4, may, "syngo CT VA50")])
    store.write([_exam(4, may, "syngo CT VA50")])
    assert _software(store) == ["syngo CT VA50"]
    hist = equipment_history(store, attribute="software_versions")
    got = [(r.value, r.first_seen, r.last_seen, r.n_objects) for r in hist.itertuples()]
    assert got == [("syngo CT VA40", pd.Timestamp(jan), pd.Timestamp(2026, 2, 1, 10), 2),
                   ("syngo CT VA50", pd.Timestamp(mar), pd.Timestamp(may), 2)]
    assert set(hist["room"]) == {"CT7"} and set(hist["device"]) == {"SIEMENS SOMATOM Force"}
    changes = device_changes(store)
    assert changes[["room", "before", "after", "at"]].to_dict("records") == [
        {"room": "CT7", "before": "syngo CT VA40", "after": "syngo CT VA50", "at": pd.Timestamp(mar)}]
    # the institution did not change: no event
    assert device_changes(store, attribute="institution").empty
    assert len(equipment_history(store, attribute="institution")) == 1
    store.close()


def test_undated_objects_count_but_do_not_date_a_change(db_url):
    store = Store(db_url)
    store.write([_exam(1, None, "VB10"), _exam(2, dt.datetime(2026, 4, 1, 9), "VB20")])
    hist = equipment_history(store, attribute="software_versions").set_index("value")
    assert hist.loc["VB10", "n_objects"] == 1 and pd.isna(hist.loc["VB10", "first_seen"])
    assert _software(store) == ["VB20"]  # the dated value is the current one
    assert device_changes(store).empty  # no date to put the change at
    store.close()


def test_the_migration_fills_the_history_from_the_stored_devices(db_url):
    engine = sa.create_engine(db_url)
    migrate(engine, "0017_device_last_index")
    with engine.begin() as conn:
        eq = conn.execute(sa.text("insert into equipment (station_name, software_versions, institution) "
                                  "values ('CT2', 'VA40', null) returning id")).scalar_one()
        for i, when in enumerate(("2025-01-02 08:00:00", "2025-06-30 17:00:00")):
            sid = conn.execute(sa.text("insert into study (study_uid, modality, source_kind, n_events, "
                                       "equipment_id, study_datetime) values (:u, 'CT', 'rdsr', 0, :e, :w) "
                                       "returning id"), {"u": f"1.2.3.{i}", "e": eq, "w": when}).scalar_one()
            conn.execute(sa.text("insert into source_object (study_id, sha256, status, received_at) "
                                 "values (:s, 'ab', 'ingested', '2026-01-01 00:00:00')"), {"s": sid})
    migrate(engine, "0018_equipment_history")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("select attribute, value, n_objects from equipment_history")).all()
        seen = conn.execute(sa.text("select first_seen, last_seen from equipment_history")).one()
    assert [tuple(r) for r in rows] == [("software_versions", "VA40", 2)]
    assert [pd.Timestamp(s) for s in seen] == [pd.Timestamp(2025, 1, 2, 8), pd.Timestamp(2025, 6, 30, 17)]
    engine.dispose()
