"""MPPS steps in the ``mpps`` table (``data_contracts/mpps.toml``): apply an N-CREATE or N-SET, link steps to studies.

Each step is one row keyed by the MPPS SOP Instance UID: an N-CREATE inserts it, each N-SET updates it until the step
is COMPLETED or DISCONTINUED. The row carries the Study Instance UID of the scheduled step and, once the study is in
the store, its ``study_id``. Called by :class:`~dmslab.store.Store` from the ingest worker, never from a network
thread: the receiver keeps the requests in its inbox (:mod:`dmslab.ingest.mpps`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from dmslab.errors import MppsError, StoreBusyError
from dmslab.records import MppsMessage, MppsRecord
from dmslab.store._concurrency import begin_write, is_busy
from dmslab.store.schema import table

__all__ = ["find_mpps", "link_mpps", "steps_in_progress", "write_mpps"]

#: The study modality an MPPS modality belongs to (the store keeps XA as RF, CR as DX...).
_STUDY_MODALITY = {"XA": "RF", "CR": "DX", "PX": "DX", "IO": "DX", "PT": "NM"}
_FIELDS = frozenset(f.name for f in dataclasses.fields(MppsRecord))


def find_mpps(conn: sa.Connection, sop_instance_uid: str) -> MppsRecord | None:
    """The stored step, or ``None``."""
    t = table("mpps")
    found = conn.execute(sa.select(t).where(t.c.sop_instance_uid == sop_instance_uid)).mappings().first()
    if found is None:
        return None
    return MppsRecord(**{k: v for k, v in found.items() if k in _FIELDS})


def _study_id(conn: sa.Connection, study_uid: str | None, modality: str | None) -> int | None:
    """The study row of ``study_uid`` (the one of the same modality when the exam has several)."""
    if not study_uid:
        return None
    st = table("study")
    rows = conn.execute(sa.select(st.c.id, st.c.modality).where(st.c.study_uid == study_uid)).all()
    want = _STUDY_MODALITY.get(modality or "", modality)
    for sid, mod in rows:
        if mod == want:
            return int(sid)
    return int(rows[0][0]) if rows else None


def _row(record: MppsRecord, conn: sa.Connection) -> dict[str, Any]:
    return {**dataclasses.asdict(record), "study_id": _study_id(conn, record.study_uid, record.modality)}


def _apply(conn: sa.Connection, message: MppsMessage) -> MppsRecord:
    t = table("mpps")
    old = find_mpps(conn, message.sop_instance_uid)
    if message.operation == "create":
        if old is not None:
            raise MppsError("duplicate_instance", f"MPPS {message.sop_instance_uid} already exists")
        record = message.created()
        conn.execute(sa.insert(t).values(**_row(record, conn)))
        return record
    if old is None:
        raise MppsError("no_such_instance", f"no MPPS {message.sop_instance_uid} (N-CREATE first)")
    record = message.applied_to(old)
    conn.execute(sa.update(t).where(t.c.sop_instance_uid == record.sop_instance_uid).values(**_row(record, conn)))
    return record


def write_mpps(engine: sa.Engine, message: MppsMessage, *, lock_timeout_s: float) -> MppsRecord:
    """Apply one N-CREATE or N-SET in its own transaction; return the step as stored.

    Raises
    ------
    MppsError
        ``duplicate_instance`` (N-CREATE of a stored step), ``no_such_instance`` (N-SET of an unknown one),
        ``processing_failure`` (N-SET of a final step); nothing was written.
    StoreBusyError
        Another writer held the lock longer than ``lock_timeout_s``; nothing was written.
    """
    try:
        with engine.begin() as conn:
            begin_write(conn, lock_timeout_s)
            return _apply(conn, message)
    except sa.exc.DBAPIError as exc:
        if is_busy(exc):
            raise StoreBusyError(f"the database stayed locked by another writer for more than {lock_timeout_s:g} s; "
                                 f"MPPS {message.sop_instance_uid} not written (it stays in the inbox)") from exc
        raise


def link_mpps(engine: sa.Engine, *, lock_timeout_s: float) -> int:
    """Fill ``mpps.study_id`` for steps whose study has arrived since; return how many."""
    t, n = table("mpps"), 0
    unlinked = sa.select(t.c.id, t.c.study_uid, t.c.modality).where(t.c.study_id.is_(None), t.c.study_uid.is_not(None))
    with engine.connect() as conn:  # most calls find nothing to do: no write lock for them
        if conn.execute(unlinked.limit(1)).first() is None:
            return 0
    with engine.begin() as conn:
        begin_write(conn, lock_timeout_s)
        rows = conn.execute(unlinked).all()
        for row_id, study_uid, modality in rows:
            sid = _study_id(conn, study_uid, modality)
            if sid is not None:
                conn.execute(sa.update(t).where(t.c.id == row_id).values(study_id=sid))
                n += 1
    return n


def steps_in_progress(engine: sa.Engine) -> list[str]:
    """SOP Instance UIDs of the stored steps still IN PROGRESS (those an N-SET may still change)."""
    t = table("mpps")
    with engine.connect() as conn:
        return [str(u) for u in conn.execute(sa.select(t.c.sop_instance_uid).where(t.c.status == "IN PROGRESS"))
                .scalars()]
