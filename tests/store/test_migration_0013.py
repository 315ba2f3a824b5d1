"""Revision 0013 (Dose Check accumulated forward estimates, study exclusion reason) up and down, on rows
stored before it (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from dmslab.store import Store, migrate
from dmslab.store._migrate import alembic_config


def _columns(engine: sa.Engine, name: str) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns(name)}


def test_0013_up_and_down_keeps_the_values(db_url):
    engine = sa.create_engine(db_url)
    migrate(engine, "0012")
    with engine.begin() as conn:
        sid = conn.execute(sa.text("insert into study (study_uid, modality, source_kind, n_events) "
                                   "values ('1.2.3', 'CT', 'rdsr', 2) returning id")).scalar_one()
        conn.execute(sa.text("insert into source_object (study_id, sha256, status, received_at) "
                             "values (:s, 'ab', 'ingested', '2026-01-01 00:00:00')"), {"s": sid})
        conn.execute(sa.text("insert into ct_event (study_id, event_uid, forward_dlp_mgycm, forward_ctdivol_mgy) "
                             "values (:s, '1.2.3.1', 700, 40), (:s, '1.2.3.2', null, null)"), {"s": sid})
    migrate(engine, "0013")
    assert {"accumulated_forward_dlp_mgycm", "accumulated_forward_ctdivol_mgy"} <= _columns(engine, "ct_event")
    assert "exclusion_reason" in _columns(engine, "study")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("select event_uid, forward_dlp_mgycm, accumulated_forward_dlp_mgycm "
                                    "from ct_event order by event_uid")).all()
        assert [tuple(r) for r in rows] == [("1.2.3.1", 700.0, None), ("1.2.3.2", None, None)]
        conn.execute(sa.text("update ct_event set accumulated_forward_dlp_mgycm = 1500, "
                             "accumulated_forward_ctdivol_mgy = 60"))
        conn.execute(sa.text("update study set exclusion_reason = 'quality_control_image'"))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0012")
    assert "accumulated_forward_dlp_mgycm" not in _columns(engine, "ct_event")
    assert "exclusion_reason" not in _columns(engine, "study")
    with engine.begin() as conn:
        rows = conn.execute(sa.text("select event_uid, forward_dlp_mgycm, forward_ctdivol_mgy "
                                    "from ct_event order by event_uid")).all()
    # the old single column: the forward estimate, else the accumulated one
    assert [tuple(r) for r in rows] == [("1.2.3.1", 700.0, 40.0), ("1.2.3.2", 1500.0, 60.0)]
    engine.dispose()
    store = Store(db_url, migrate_schema=False)
    store.migrate()  # up to the heads again (what `dmslab migrate` does: opening no longer migrates)
    assert store.read("select count(*) as n from ct_event")["n"].iloc[0] == 2
    store.close()
