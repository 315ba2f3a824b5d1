"""The look-ups a batch write does once (:class:`dmslab.store._writer.BatchWriter`): rows by key in chunks of
bound values, the stored studies of a batch with their event UIDs and best dose source, and which reports are
byte-identical copies."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from dmslab.records import DoseReport
from dmslab.store._sop import Seen
from dmslab.store._study_state import StudyState
from dmslab.store.schema import table

__all__ = ["EVENT_TABLES", "event_uids", "fresh_reports", "in_chunks", "stored_studies"]

#: The tables of irradiation events and administrations.
EVENT_TABLES = ("ct_event", "proj_event", "nm_event")


def in_chunks(conn: sa.Connection, column: sa.ColumnElement[Any], values: Iterable[Any], select: sa.Select[Any],
              chunk: int) -> list[Any]:
    """The rows of ``select`` whose ``column`` is one of ``values`` (``None`` left out), ``chunk`` values per
    statement."""
    vals = sorted({v for v in values if v is not None})
    rows: list[Any] = []
    for i in range(0, len(vals), chunk):
        rows.extend(conn.execute(select.where(column.in_(vals[i:i + chunk]))))
    return rows


def event_uids(conn: sa.Connection, sid: int) -> set[str]:
    """The event UIDs stored for study ``sid``."""
    out: set[str] = set()
    for name in EVENT_TABLES:
        t = table(name)
        out.update(r[0] for r in conn.execute(sa.select(t.c.event_uid).where(t.c.study_id == sid)))
    return out


def stored_studies(conn: sa.Connection, uids: Iterable[str], known: Collection[tuple[str, str]],
                   chunk: int) -> list[StudyState]:
    """The stored studies of ``uids`` whose (study UID, modality) is not in ``known``: rows, event UIDs and
    the dose sources counting for each (oldest first, so the best one is known)."""
    so, st = table("source_object"), table("study")
    loaded: dict[tuple[str, str], StudyState] = {}
    for row in in_chunks(conn, st.c.study_uid, uids, sa.select(st), chunk):
        m = dict(row._mapping)
        key = (m["study_uid"], m["modality"])
        if key in known or key in loaded:
            continue
        loaded[key] = StudyState(m["id"], m, event_uids(conn, m["id"]), m["n_events"] or 0)
    by_id = {s.id: s for s in loaded.values()}
    counting = sa.select(so.c.study_id, so.c.source_kind, so.c.sop_instance_uid).where(
        so.c.status == "ingested").order_by(so.c.id)
    for sid, kind, sop in in_chunks(conn, so.c.study_id, by_id, counting, chunk):
        by_id[sid].saw(kind or "header", sop)
    return list(loaded.values())


def fresh_reports(reports: Iterable[DoseReport], seen: Mapping[str, list[Seen]]) -> list[DoseReport]:
    """The reports that are not byte-identical copies (same SOP Instance UID and SHA-256) of a stored or
    earlier one: the only ones that may create a patient or a study."""
    pairs: set[tuple[str | None, str]] = {(sop, s.sha256) for sop, objs in seen.items() for s in objs}
    fresh = []
    for r in reports:
        pair = (r.source.sop_instance_uid, r.source.sha256)
        if pair[0] is None or pair not in pairs:
            fresh.append(r)
            pairs.add(pair)
    return fresh
