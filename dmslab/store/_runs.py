"""The ``pipeline_run`` table: insert a run, update its columns, select runs (``data_contracts/pipeline_run.toml``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["insert_pipeline_run", "pipeline_runs", "update_pipeline_run"]


def insert_pipeline_run(store: Store, values: Mapping[str, Any]) -> int:
    """Insert one ``pipeline_run`` row with ``values`` (column -> value) and return its id."""
    t = table("pipeline_run")
    with store.engine.begin() as conn:
        return int(conn.execute(sa.insert(t).values(**values).returning(t.c.id)).scalar_one())


def update_pipeline_run(store: Store, run_id: int, values: Mapping[str, Any]) -> None:
    """Set the columns ``values`` of run ``run_id``."""
    t = table("pipeline_run")
    with store.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.id == run_id).values(**values))


# keyword-only filters of one query
def pipeline_runs(store: Store, *, run_id: int | None = None, pipeline: str | None = None,  # noqa: PLR0913
                  period: str | None = None, status: str | None = None, limit: int | None = None,
                  by_start: bool = True) -> list[dict[str, Any]]:
    """``pipeline_run`` rows (column -> value) matching every filter given, newest first: by ``started_at`` then
    id (``by_start``), else by id alone; at most ``limit``."""
    t = table("pipeline_run")
    q = sa.select(t).order_by(*((t.c.started_at.desc(),) if by_start else ()), t.c.id.desc())
    for column, value in (("id", run_id), ("pipeline", pipeline), ("period", period), ("status", status)):
        if value is not None:
            q = q.where(t.c[column] == value)
    if limit is not None:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(q).mappings()]
