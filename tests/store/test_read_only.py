"""A store opened read-only (reports, dashboards, audits) can read, can never write, creates and migrates
nothing, and says "run dmslab migrate" when the schema is not this dmslab's (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from dmslab.errors import DatabaseMissingError, SchemaOutdatedError, StoreReadOnlyError
from dmslab.store import Store, migrate
from dmslab.store._migrate import alembic_config


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_only_reads_and_refuses_every_write(db_url):
    Store(db_url).close()
    ro = Store(db_url, read_only=True)
    try:
        assert ro.counts()["study"] == 0
        with pytest.raises(StoreReadOnlyError, match="read-only"):
            ro.write([])
        # SQL that goes round the API is refused by the database itself (mode=ro / read-only transaction)
        with pytest.raises(sa.exc.DBAPIError, match="(?i)read-?only"):
            with ro.engine.begin() as conn:
                conn.execute(sa.text("insert into equipment (manufacturer) values ('x')"))
    finally:
        ro.close()
    assert Store(db_url, read_only=True).counts()["equipment"] == 0


def test_read_only_leaves_the_sqlite_file_byte_identical(tmp_path):
    path = tmp_path / "a b%.sqlite"  # characters a file: URI must quote
    Store(f"sqlite:///{path}").close()
    before = _sha(path)
    ro = Store(f"sqlite:///{path}", read_only=True)
    ro.table("study"), ro.counts()
    ro.close()
    assert _sha(path) == before
    assert "read_only=True" in repr(ro) and "file:" not in ro.describe()


def test_read_only_never_creates_a_database(tmp_path):
    with pytest.raises(DatabaseMissingError, match="dmslab init"):
        Store(f"sqlite:///{tmp_path / 'none.sqlite'}", read_only=True)
    assert not (tmp_path / "none.sqlite").exists()


def test_older_schema_says_run_dmslab_migrate_and_is_not_migrated(db_url):
    engine = sa.create_engine(db_url)
    migrate(engine, "0012")
    with pytest.raises(SchemaOutdatedError, match="run `dmslab migrate`"):
        Store(db_url, read_only=True)
    with engine.connect() as conn:
        assert "exclusion_reason" not in {c["name"] for c in sa.inspect(conn).get_columns("study")}
    migrate(engine)
    Store(db_url, read_only=True).close()
    engine.dispose()


def test_newer_schema_is_named_as_such(db_url):
    engine = sa.create_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = 'f00d'"))
    with pytest.raises(SchemaOutdatedError, match="newer dmslab"):
        Store(db_url, read_only=True)
    with engine.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '0013'"))
        command.downgrade(alembic_config(conn), "0012")
    engine.dispose()


def test_dmslab_migrate_upgrades_an_older_database_once(db_url, tmp_path, capsys):
    from dmslab.cli import main

    engine = sa.create_engine(db_url)
    migrate(engine, "0012")
    engine.dispose()
    args = ["--home", str(tmp_path / "home"), "--database-url", db_url, "migrate"]
    assert main(args) == 0
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()  # 0013 when this test was written
    assert f"migrated from schema revision 0012 to {head}" in capsys.readouterr().out
    Store(db_url, read_only=True).close()
    assert main(args) == 0
    assert f"already at schema revision {head}" in capsys.readouterr().out
