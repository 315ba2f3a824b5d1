"""The store: write normalized reports idempotently, read tables as DataFrames.

SQLite file by default, PostgreSQL by URL. The store never parses DICOM: it receives
:class:`~dmslab.records.DoseReport` objects and rejection outcomes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.records import DoseReport, EquipmentRecord, SourceRecord, record_values
from dmslab.store._merge import ADDITIVE_TOTALS, merge_totals
from dmslab.store._migrate import migrate
from dmslab.store.schema import table

__all__ = ["Rejection", "Store", "WriteSummary"]

logger = logging.getLogger(__name__)

_EVENT_TABLES = ("ct_event", "proj_event", "nm_event")


@dataclass(frozen=True, slots=True)
class Rejection:
    """An object that could not be ingested, to be recorded in ``source_object``."""

    sha256: str | None
    path: str
    reason: str
    detail: str
    sop_instance_uid: str | None = None
    sop_class_uid: str | None = None
    study_uid: str | None = None


@dataclass(slots=True)
class WriteSummary:
    """Counts of one write: ingested / duplicate / rejected objects and new events."""

    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0
    new_events: int = 0
    flagged: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: WriteSummary) -> None:
        """Accumulate ``other`` into this summary."""
        self.ingested += other.ingested
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.new_events += other.new_events
        self.flagged += other.flagged
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Store:
    """A dmslab database.

    Parameters
    ----------
    url
        SQLAlchemy URL, e.g. ``sqlite:///dmslab.sqlite`` or ``postgresql+psycopg://user@host/db``.
    migrate_schema
        Bring the schema to the newest revision on open (default).

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> store.counts()["study"]
    0
    """

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self.url = url
        self.engine = sa.create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        if migrate_schema:
            migrate(self.engine)
        self._equipment_ids: dict[tuple[str | None, ...], int] = {}

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # ---- writing ------------------------------------------------------------------------------------
    def write(self, items: Iterable[DoseReport | Rejection]) -> WriteSummary:
        """Write reports and rejections in one transaction; idempotent on SOP Instance UID and event UID."""
        summary = WriteSummary()
        with self.engine.begin() as conn:
            for item in items:
                if isinstance(item, Rejection):
                    self._reject(conn, item)
                    summary.rejected += 1
                    summary.reasons[item.reason] = summary.reasons.get(item.reason, 0) + 1
                else:
                    self._write_report(conn, item, summary)
        return summary

    def _reject(self, conn: sa.Connection, r: Rejection) -> None:
        conn.execute(table("source_object").insert().values(
            sop_instance_uid=r.sop_instance_uid, sop_class_uid=r.sop_class_uid, study_uid=r.study_uid,
            sha256=r.sha256 or "", path=r.path, status="rejected", reason=r.reason, detail=r.detail,
            received_at=_now()))

    def _source_row(self, conn: sa.Connection, src: SourceRecord, **values: Any) -> None:
        conn.execute(table("source_object").insert().values(
            sop_instance_uid=src.sop_instance_uid, sop_class_uid=src.sop_class_uid, study_uid=src.study_uid,
            sha256=src.sha256, path=src.path, importer=src.importer, template=src.template, received_at=_now(),
            **values))

    def _write_report(self, conn: sa.Connection, rep: DoseReport, summary: WriteSummary) -> None:
        so = table("source_object")
        seen = conn.execute(sa.select(so.c.study_id).where(
            so.c.sop_instance_uid == rep.source.sop_instance_uid, so.c.status == "ingested").limit(1)).first()
        if seen is not None:
            self._source_row(conn, rep.source, study_id=seen[0], status="duplicate", reason="duplicate_sop_instance",
                             detail="SOP Instance UID already ingested; nothing changed", n_events=rep.n_events)
            summary.duplicate += 1
            return
        equipment_id = self._equipment(conn, rep.equipment)
        patient_id = self._patient(conn, rep)
        study_id, new_events = self._study(conn, rep, equipment_id, patient_id)
        self._source_row(conn, rep.source, study_id=study_id, status="ingested", n_events=rep.n_events)
        summary.ingested += 1
        summary.new_events += new_events
        summary.flagged += int(rep.flagged)

    def _equipment(self, conn: sa.Connection, eq: EquipmentRecord) -> int:
        key = eq.identity
        cached = self._equipment_ids.get(key)
        if cached is not None:
            return cached
        t = table("equipment")
        cond = [(t.c[n] == v) if v is not None else t.c[n].is_(None)
                for n, v in zip(("manufacturer", "model", "station_name", "serial", "device_observer_uid"), key,
                                strict=True)]
        row = conn.execute(sa.select(t.c.id).where(*cond).order_by(t.c.id).limit(1)).first()
        if row is None:
            values = record_values(eq)
            values["display_name"] = eq.station_name or eq.model or eq.manufacturer
            values["room"] = eq.station_name
            eid = int(conn.execute(t.insert().values(**values).returning(t.c.id)).scalar_one())
        else:
            eid = int(row[0])
        self._equipment_ids[key] = eid
        return eid

    def _patient(self, conn: sa.Connection, rep: DoseReport) -> int | None:
        if rep.patient is None:
            return None
        t = table("patient")
        row = conn.execute(sa.select(t.c.id).where(t.c.patient_key == rep.patient.patient_key)).first()
        if row is not None:
            return int(row[0])
        return int(conn.execute(t.insert().values(**record_values(rep.patient)).returning(t.c.id)).scalar_one())

    def _study(self, conn: sa.Connection, rep: DoseReport, equipment_id: int,
               patient_id: int | None) -> tuple[int, int]:
        st = table("study")
        values = record_values(rep.study)
        row = conn.execute(sa.select(st).where(st.c.study_uid == rep.study.study_uid,
                                               st.c.modality == rep.study.modality)).mappings().first()
        if row is None:
            sid = int(conn.execute(st.insert().values(
                equipment_id=equipment_id, patient_id=patient_id, n_events=0, **values).returning(st.c.id)).scalar_one())
            old_events: set[str] = set()
            old: dict[str, Any] = {}
        else:
            sid = int(row["id"])
            old = dict(row)
            old_events = self._event_uids(conn, sid)
        new_uids = {e.event_uid for e in (*rep.ct_events, *rep.proj_events, *rep.nm_events)}
        added = self._events(conn, sid, rep, old_events)
        self._planes(conn, sid, rep, old_events, new_uids)
        if row is not None:
            self._merge_study(conn, sid, old, values, old_events, new_uids, rep)
        n = self._count_events(conn, sid)
        conn.execute(st.update().where(st.c.id == sid).values(n_events=n))
        return sid, added

    def _event_uids(self, conn: sa.Connection, sid: int) -> set[str]:
        out: set[str] = set()
        for name in _EVENT_TABLES:
            t = table(name)
            out.update(r[0] for r in conn.execute(sa.select(t.c.event_uid).where(t.c.study_id == sid)))
        return out

    def _count_events(self, conn: sa.Connection, sid: int) -> int:
        total = 0
        for name in _EVENT_TABLES:
            t = table(name)
            total += int(conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.study_id == sid)).scalar_one())
        return total

    def _events(self, conn: sa.Connection, sid: int, rep: DoseReport, existing: set[str]) -> int:
        added = 0
        for name, events in (("ct_event", rep.ct_events), ("proj_event", rep.proj_events), ("nm_event", rep.nm_events)):
            rows, seen = [], set(existing)
            for e in events:
                if e.event_uid in seen:
                    continue
                seen.add(e.event_uid)
                rows.append({"study_id": sid, **record_values(e)})
            if rows:
                conn.execute(table(name).insert(), rows)
                added += len(rows)
        return added

    def _planes(self, conn: sa.Connection, sid: int, rep: DoseReport, old_events: set[str],
                new_events: set[str]) -> None:
        t = table("proj_plane")
        for plane in rep.planes:
            values = record_values(plane)
            row = conn.execute(sa.select(t).where(t.c.study_id == sid, t.c.plane == plane.plane)).mappings().first()
            if row is None:
                conn.execute(t.insert().values(study_id=sid, **values))
                continue
            totals = [k for k in values if k.endswith(("_gym2", "_gy", "_s", "_mgy")) or k == "n_frames"]
            if new_events >= old_events:
                update = {k: values[k] for k in totals}
            elif not (new_events & old_events):
                update = {k: (row[k] or 0) + values[k] if values[k] is not None else row[k] for k in totals}
            else:
                continue
            conn.execute(t.update().where(t.c.id == row["id"]).values(**update))

    def _merge_study(self, conn: sa.Connection, sid: int, old: dict[str, Any], new: dict[str, Any],
                     old_events: set[str], new_events: set[str], rep: DoseReport) -> None:
        fresh = new_events - old_events
        sums = {
            "total_dlp_mgycm": sum(e.dlp_mgycm or 0.0 for e in rep.ct_events if e.event_uid in fresh),
            "total_dap_gym2": sum(e.dap_gym2 or 0.0 for e in rep.proj_events if e.event_uid in fresh),
        }
        totals, flag = merge_totals(old, new, old_events, new_events, sums)
        update: dict[str, Any] = dict(totals)
        for k, v in new.items():  # fill what the first object did not say
            if k not in ADDITIVE_TOTALS and k not in ("flags", "unit_fixes") and old.get(k) is None and v is not None:
                update[k] = v
        flags = [f for f in (old.get("flags"), new.get("flags"), flag) if f]
        update["flags"] = "; ".join(dict.fromkeys(flags)) or None
        fixes = [f for f in (old.get("unit_fixes"), new.get("unit_fixes")) if f]
        update["unit_fixes"] = "; ".join(dict.fromkeys(fixes)) or None
        conn.execute(table("study").update().where(table("study").c.id == sid).values(**update))

    # ---- reading ------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.engine.connect() as conn:
            return {name: int(conn.execute(sa.select(sa.func.count()).select_from(table(name))).scalar_one())
                    for name in ("equipment", "patient", "study", "ct_event", "proj_event", "proj_plane", "nm_event",
                                 "source_object")}

    def read(self, query: sa.Select[Any] | str, **params: Any) -> pd.DataFrame:
        """Run a SELECT (SQLAlchemy Core or text) and return a DataFrame."""
        stmt = sa.text(query) if isinstance(query, str) else query
        with self.engine.connect() as conn:
            return pd.read_sql(stmt, conn, params=params or None)

    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame."""
        return self.read(sa.select(table(name)))

    def seen_sop_instance_uids(self) -> set[str]:
        """SOP Instance UIDs already ingested (lets ingest skip re-parsing repeated sends)."""
        so = table("source_object")
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(so.c.sop_instance_uid).where(so.c.status == "ingested"))}
