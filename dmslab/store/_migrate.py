"""Schema migrations (Alembic), run programmatically on open."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

__all__ = ["alembic_config", "migrate", "schema_revisions"]


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


def schema_revisions(conn: sa.Connection) -> tuple[set[str], set[str]]:
    """The revisions the database at ``conn`` is at, and the heads of this dmslab's migration scripts."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    current = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    return current, heads
