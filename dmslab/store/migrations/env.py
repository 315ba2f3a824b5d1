"""Alembic environment: dmslab runs migrations programmatically (see dmslab.store.migrate)."""

from __future__ import annotations

from alembic import context

from dmslab.store.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("dmslab migrations run through dmslab.store.migrate(engine), not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata(), render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
