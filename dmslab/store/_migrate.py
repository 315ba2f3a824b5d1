"""Schema migrations (Alembic), run programmatically on open."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "known_revisions", "migrate", "schema_revisions"]


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at dmslab's migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: sa.Engine, revision: str = "heads") -> None:
    """Upgrade the database at ``engine`` to ``revision`` (creates the tables on an empty database).

    The default ``heads`` applies every branch: features developed side by side add their own revision
    on top of the same parent, and a later merge revision joins them.
    """
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


@functools.cache
def _scripts() -> tuple[frozenset[str], frozenset[str]]:
    """The head revisions and every revision of this dmslab's migration scripts (read from disk once)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(scripts.get_heads()), frozenset(r.revision for r in scripts.walk_revisions())


def known_revisions() -> frozenset[str]:
    """Every revision this dmslab's migration scripts know (an unknown one was written by a newer dmslab)."""
    return _scripts()[1]


def schema_revisions(conn: sa.Connection) -> tuple[set[str], set[str]]:
    """The revisions the database at ``conn`` is at, and the heads of this dmslab's migration scripts."""
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(conn).get_current_heads()), set(_scripts()[0])
