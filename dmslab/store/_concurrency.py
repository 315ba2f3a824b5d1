"""Several writers on one database: write locks, race-safe inserts, and what a lock wait costs.

Two ``dmslab ingest`` processes and a receiver worker may write at the same time. Each write transaction

- on SQLite starts with ``BEGIN IMMEDIATE``: it takes the database's single write lock before it reads
  anything, so its look-ups cannot be outdated by another writer; waiting for the lock is bounded by
  ``busy_timeout`` (the store's lock timeout);
- on PostgreSQL takes transaction-level advisory locks on what it is about to create or change (SOP
  Instance UIDs, then studies, patients and equipment), always in the same order, so two writers of one
  study (or patient) take turns while writers of different studies run side by side. ``lock_timeout``
  bounds the wait.

Get-or-create inserts go through ``INSERT ... ON CONFLICT DO NOTHING`` and then read back what exists,
so a row another writer created first is used, never inserted twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["LOCK_WAIT_LOG_S", "begin_write", "insert_ignore", "is_busy", "lock_keys"]

logger = logging.getLogger(__name__)

#: A wait for the write lock longer than this (s) is logged at INFO level.
LOCK_WAIT_LOG_S = 1.0
_SQLITE_BUSY = 5  # SQLITE_BUSY; extended codes (e.g. 517 BUSY_SNAPSHOT) share the low byte
_PG_LOCK_NOT_AVAILABLE = "55P03"


def begin_write(conn: sa.Connection, lock_timeout_s: float) -> float:
    """Start a write transaction on ``conn`` (before any other statement); return the seconds waited (SQLite).

    SQLite: ``BEGIN IMMEDIATE`` waits (``busy_timeout``) for the write lock. PostgreSQL: ``lock_timeout``
    for this transaction; the waits happen in :func:`lock_keys`.
    """
    t0 = time.perf_counter()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
    return _waited(t0, "the database write lock")


def lock_keys(conn: sa.Connection, keys: Iterable[tuple[Any, ...]]) -> float:
    """PostgreSQL: take an advisory transaction lock on each key, in a fixed order; return the seconds waited.

    Callers take their locks in phases whose keys never repeat across phases (e.g. ``("sop", ...)`` first,
    then ``("study", ...)``, ``("patient", ...)``, ``("equipment", ...)``): within a phase the order is
    the keys' hash order, so no two writers can wait for each other. No-op on SQLite (already serialised).
    """
    if conn.dialect.name != "postgresql":
        return 0.0
    ids = sorted({_lock_id(k) for k in keys})
    if not ids:
        return 0.0
    t0 = time.perf_counter()
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k"),
                 {"ids": ids})
    return _waited(t0, f"{len(ids)} row lock(s)")


def _lock_id(key: tuple[Any, ...]) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, ("dmslab", *key))).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _waited(t0: float, what: str) -> float:
    waited = time.perf_counter() - t0
    if waited > LOCK_WAIT_LOG_S:
        logger.info("waited %.1f s for %s (another writer)", waited, what)
    return waited


def insert_ignore(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *,
                  keys: Sequence[str], returning: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` of ``rows``; the inserted rows' ``returning`` columns.

    Rows that already exist (another writer was first) are skipped, not an error: read them back.
    """
    if not rows:
        return []
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt: Any = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    if returning:
        stmt = stmt.returning(*(table.c[c] for c in returning))
        return [tuple(r) for r in conn.execute(stmt, list(rows))]
    conn.execute(stmt, list(rows))
    return []


def is_busy(exc: BaseException) -> bool:
    """Whether a database error means "another writer held the lock too long" (by error code, not text)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF == _SQLITE_BUSY
    return getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE
