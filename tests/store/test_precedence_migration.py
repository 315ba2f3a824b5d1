"""Revision 0010_source_precedence fills the new columns of rows stored before it (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from dmslab.store import Store, migrate


def test_existing_rows_get_their_source_kind_and_origin(db_url):
    engine = sa.create_engine(db_url)
    migrate(engine, "0009")
    now = dt.datetime(2026, 1, 5, 9)
    with engine.begin() as conn:
        sid = conn.execute(sa.text("insert into study (study_uid, modality, source_kind, n_events) "
                                   "values ('1.2.3', 'CT', 'rdsr', 1) returning id")).scalar_one()
        conn.execute(sa.text("insert into ct_event (study_id, event_uid, dlp_mgycm) values (:s, '1.2.3.1', 100)"),
                     {"s": sid})
        for sop, importer, status in [("1.2.3.9", "rdsr", "ingested"), ("1.2.3.8", "header", "ingested"),
                                      ("1.2.3.7", "siemens_summary", "ingested"), ("1.2.3.6", None, "rejected")]:
            conn.execute(sa.text("insert into source_object (study_id, sop_instance_uid, sha256, status, importer, "
                                 "received_at) values (:s, :sop, 'x', :st, :imp, :t)"),
                         {"s": sid if status == "ingested" else None, "sop": sop, "st": status, "imp": importer,
                          "t": now})
    engine.dispose()
    store = Store(db_url, migrate_schema=False)
    store.migrate()  # to the heads (what `dmslab migrate` does: opening no longer migrates)
    kinds = store.read("select sop_instance_uid, source_kind from source_object order by sop_instance_uid")
    assert kinds["source_kind"].tolist()[1:] == ["rdsr", "header", "rdsr"] and kinds["source_kind"].isna().iloc[0]
    assert store.read("select origin from ct_event")["origin"].tolist() == ["rdsr"]
    store.close()
