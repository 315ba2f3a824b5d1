"""Queries of ``source_object``: the objects the store holds, and counts per status for ``dmslab status``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["DATABASE_ERRORS", "UNAVAILABLE_ERRORS", "held_sop_instance_uids", "source_status_counts"]

#: Errors meaning "the database is not usable now" (connection lost or refused, pool timeout): callers that
#: can wait keep their input and retry later.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (sa.exc.OperationalError, sa.exc.InterfaceError,
                                                   sa.exc.DisconnectionError, sa.exc.TimeoutError)
#: Any error of the database layer (for callers that report it instead of failing).
DATABASE_ERRORS: tuple[type[Exception], ...] = (sa.exc.SQLAlchemyError,)


def held_sop_instance_uids(store: Store) -> set[str]:
    """SOP Instance UIDs the store holds as ingested, duplicate or superseded (by a better dose source)."""
    so = table("source_object")
    held = so.c.status.in_(("ingested", "duplicate", "superseded"))
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(so.c.sop_instance_uid).where(held, so.c.sop_instance_uid.is_not(None)))
        return {r[0] for r in rows}


def source_status_counts(store: Store) -> list[tuple[str, int, dt.datetime | None]]:
    """Per ``source_object`` status: the number of objects and the latest ``received_at`` (UTC), by status."""
    so = table("source_object")
    q = sa.select(so.c.status, sa.func.count(), sa.func.max(so.c.received_at)).group_by(so.c.status)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return sorted(((str(s), int(n), last) for s, n, last in rows), key=lambda r: r[0])
