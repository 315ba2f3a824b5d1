"""One write transaction: reports and rejections in, with as few database round trips as possible.

Look-ups are done once per batch (SOP Instance UIDs already stored, patients, existing studies and the
best dose source each holds) and rows are inserted in bulk at the end (events, source objects); the
patients and studies seen for the first time cost one INSERT ... ON CONFLICT DO NOTHING each (see
:mod:`dmslab.store._concurrency` for the locks that let several writers work at once). Which objects
count, when a study arrives from several sources, is the precedence rule of :mod:`dmslab.store._merge`;
what an already-seen SOP Instance UID means is the rule of :mod:`dmslab.store._sop`; the batch's look-ups are
:mod:`dmslab.store._lookups`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from dmslab.records import DoseReport, EquipmentRecord, record_values
from dmslab.store._concurrency import insert_ignore, lock_keys
from dmslab.store._equipment_history import record_device_values
from dmslab.store._lookups import EVENT_TABLES as _EVENT_TABLES
from dmslab.store._lookups import fresh_reports, in_chunks, stored_studies
from dmslab.store._merge import ADDITIVE_TOTALS, SOURCE_RANK, merge_totals, report_kind, source_label, source_rank
from dmslab.store._nm_organ import insert_nm_organ_doses
from dmslab.store._sop import REUSED_FLAG, Seen, add_flag, reuse_flag, seen_objects
from dmslab.store._study_state import (
    StudyState,
    correct_events,
    insert_planes,
    merge_planes,
    report_event_uids,
    same_administration,
)
from dmslab.store.schema import table

__all__ = ["BatchWriter", "Rejection"]

logger = logging.getLogger(__name__)

_CHUNK = 500


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
class BatchWriter:
    """Writes one batch inside an open transaction ``conn``; ``equipment_ids`` is the store's cache."""

    conn: sa.Connection
    equipment_ids: dict[tuple[str | None, ...], int]
    counts: dict[str, Any] = field(default_factory=lambda: {"ingested": 0, "duplicate": 0, "rejected": 0,
                                                              "superseded": 0, "new_events": 0, "flagged": 0,
                                                              "reasons": {}})
    _sources: list[dict[str, Any]] = field(default_factory=list)
    _events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in _EVENT_TABLES})
    _studies: dict[tuple[str, str], StudyState] = field(default_factory=dict)
    _patients: dict[str, int] = field(default_factory=dict)
    _seen: dict[str, list[Seen]] = field(default_factory=dict)
    _organ_doses: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    _devices: list[tuple[int, EquipmentRecord, dt.datetime | None]] = field(default_factory=list)
    lock_wait_s: float = 0.0

    @property
    def study_ids(self) -> list[int]:
        """The stored studies of this batch's reports."""
        return [s.id for s in self._studies.values()]

    def write(self, items: Sequence[DoseReport | Rejection]) -> None:
        reports = [i for i in items if isinstance(i, DoseReport)]
        self._prefetch(reports)
        self._create(fresh_reports(reports, self._seen))
        for item in items:
            if isinstance(item, Rejection):
                self._reject(item)
            else:
                self._report(item)
        self._flush()

    # ---- prefetch -----------------------------------------------------------------------------------
    def _prefetch(self, reports: list[DoseReport]) -> None:
        """Lock what the batch touches (two phases: SOP Instance UIDs, then the rest), then read it."""
        sops = [r.source.sop_instance_uid for r in reports]
        self.lock_wait_s += lock_keys(self.conn, (("sop", s) for s in sops if s is not None))
        self._seen = seen_objects(self.conn, sops, _CHUNK)
        study_keys = {(r.study.study_uid, r.study.modality) for r in reports}
        study_keys.update(s.key for seen in self._seen.values() for s in seen)
        self.lock_wait_s += lock_keys(self.conn, [
            *(("study", *k) for k in study_keys),
            *(("patient", r.patient.patient_key) for r in reports if r.patient is not None),
            *(("equipment", *r.equipment.identity) for r in reports)])
        pt = table("patient")
        for row in in_chunks(self.conn, pt.c.patient_key, (r.patient.patient_key for r in reports if r.patient),
                             sa.select(pt.c.patient_key, pt.c.id), _CHUNK):
            self._patients[row[0]] = row[1]
        self._load_studies({r.study.study_uid for r in reports})

    def _load_studies(self, uids: Iterable[str]) -> None:
        """Stored studies of ``uids`` not loaded yet: rows, event UIDs and the best dose source of each."""
        for study in stored_studies(self.conn, uids, self._studies, _CHUNK):
            self._studies[(study.row["study_uid"], study.row["modality"])] = study

    # ---- per item -----------------------------------------------------------------------------------
    def _source(self, rep_or_rej: DoseReport | Rejection, **values: Any) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        if isinstance(rep_or_rej, Rejection):
            r = rep_or_rej
            row = {"sop_instance_uid": r.sop_instance_uid, "sop_class_uid": r.sop_class_uid,
                   "study_uid": r.study_uid, "sha256": r.sha256 or "", "path": r.path, "importer": None,
                   "template": None}
        else:
            s = rep_or_rej.source
            row = {"sop_instance_uid": s.sop_instance_uid, "sop_class_uid": s.sop_class_uid, "study_uid": s.study_uid,
                   "sha256": s.sha256, "path": s.path, "importer": s.importer, "template": s.template}
        base = {"study_id": None, "status": None, "reason": None, "detail": None, "n_events": None,
                "source_kind": None}
        self._sources.append({**row, **base, **values, "received_at": now})

    def _reject(self, r: Rejection) -> None:
        self._source(r, status="rejected", reason=r.reason, detail=r.detail)
        self.counts["rejected"] += 1
        self.counts["reasons"][r.reason] = self.counts["reasons"].get(r.reason, 0) + 1

    def _report(self, rep: DoseReport) -> None:
        sop = rep.source.sop_instance_uid
        seen = self._seen.get(sop, []) if sop is not None else []
        same = next((s for s in seen if s.sha256 == rep.source.sha256), None)
        if same is not None:
            self._source(rep, study_id=same.study_id, status="duplicate", reason="duplicate_sop_instance",
                         detail="the same object (SOP Instance UID and SHA-256) is already stored; nothing changed",
                         n_events=rep.n_events)
            self.counts["duplicate"] += 1
            return
        self._devices.append((self._equipment(rep.equipment), rep.equipment, rep.study.study_datetime))
        kind = report_kind(rep.source.importer, rep.study.source_kind)
        rank = source_rank(kind)
        key = (rep.study.study_uid, rep.study.modality)
        study = self._studies[key]
        if rank is not None and rank < study.rank:
            self._not_counted(study, rep, kind, self._other_objects(rep, study, seen))
            return
        if rank is not None and 0 < study.rank < rank:
            self._supersede(study, kind, sop)
        study = self._study(rep, kind)
        if rep.study.source_kind == "manual" and study.events:
            correct_events(self.conn, study, rep)
        added = self._add_events(study, rep, kind)
        if rep.nm_organ_doses:
            self._organ_doses.append((study.id, rep.nm_organ_doses))
        self._source(rep, study_id=study.id, status="ingested", n_events=rep.n_events, source_kind=kind,
                     detail=self._other_objects(rep, study, seen))
        study.saw(kind, sop)
        if sop is not None:
            self._seen.setdefault(sop, []).append(Seen(rep.source.sha256, study.id, key, rep.source.path))
        self.counts["ingested"] += 1
        self.counts["new_events"] += added
        self.counts["flagged"] += int(rep.flagged)

    def _not_counted(self, study: StudyState, rep: DoseReport, kind: str, note: str | None) -> None:
        """Record an object of a worse source than the study's best: kept in ``source_object``, not counted."""
        detail = (f"superseded by {source_label(study.best_kind)} {study.best_sop or '(no SOP Instance UID)'}: "
                  f"its {rep.n_events} event(s) from the {source_label(kind)} are not counted")
        self._source(rep, study_id=study.id, status="superseded", reason=f"superseded_by_{study.best_kind}",
                     detail="; ".join(p for p in (detail, note) if p), n_events=rep.n_events, source_kind=kind)
        sop = rep.source.sop_instance_uid
        if sop is not None:
            self._seen.setdefault(sop, []).append(
                Seen(rep.source.sha256, study.id, (rep.study.study_uid, rep.study.modality), rep.source.path))
        self.counts["superseded"] += 1
        logger.info("%s: %s", rep.source.sop_instance_uid, detail)

    def _supersede(self, study: StudyState, kind: str, sop: str | None) -> None:
        """A better source arrived: the study's events and planes go, their objects become ``superseded``."""
        rank = source_rank(kind) or 0
        kept = tuple(k for k, r in SOURCE_RANK.items() if r >= rank)
        reason = f"superseded_by_{kind}"
        detail = (f"superseded by {source_label(kind)} {sop or '(no SOP Instance UID)'}: its events from the "
                  f"{source_label(study.best_kind)} were removed from the study")
        so = table("source_object")
        n = self.conn.execute(so.update().where(
            so.c.study_id == study.id, so.c.status == "ingested",
            sa.or_(so.c.source_kind.is_(None), so.c.source_kind.not_in(kept))).values(
            status="superseded", reason=reason, detail=detail)).rowcount
        for row in self._sources:  # objects of this batch
            if row["study_id"] == study.id and row["status"] == "ingested" and row["source_kind"] not in kept:
                row.update(status="superseded", reason=reason, detail=detail)
                n += 1
                self.counts["ingested"] -= 1
        for name in (*_EVENT_TABLES, "proj_plane"):
            t = table(name)
            self.conn.execute(t.delete().where(t.c.study_id == study.id))
            if name in self._events:
                pending = [r for r in self._events[name] if r["study_id"] != study.id]
                self.counts["new_events"] -= len(self._events[name]) - len(pending)
                self._events[name] = pending
        self.counts["superseded"] += n
        logger.info("study %s: %d event(s) of %d object(s) from the %s superseded by %s %s", study.id,
                    study.n_events, n, source_label(study.best_kind), source_label(kind), sop)
        study.events, study.n_events, study.nm_rows, study.new = set(), 0, [], False
        reused = [f for f in str(study.row.get("flags") or "").split("; ") if f.startswith(REUSED_FLAG)]
        study.row.update({k: None for k in (*ADDITIVE_TOTALS, "unit_fixes")}, flags="; ".join(reused) or None)

    def _equipment(self, eq: EquipmentRecord) -> int:
        key = eq.identity
        if key in self.equipment_ids:
            return self.equipment_ids[key]
        t = table("equipment")
        cond = [(t.c[n] == v) if v is not None else t.c[n].is_(None)
                for n, v in zip(("manufacturer", "model", "station_name", "serial", "device_observer_uid"), key,
                                strict=True)]
        row = self.conn.execute(sa.select(t.c.id).where(*cond).order_by(t.c.id).limit(1)).first()
        if row is None:
            values = {**record_values(eq), "display_name": eq.station_name or eq.model or eq.manufacturer,
                      "room": eq.station_name}
            row = self.conn.execute(t.insert().values(**values).returning(t.c.id)).first()
        self.equipment_ids[key] = int(row[0])  # type: ignore[index]
        return self.equipment_ids[key]

    def _create(self, fresh: list[DoseReport]) -> None:
        """Insert the patients and studies this batch sees for the first time (ON CONFLICT DO NOTHING: one
        another writer created meanwhile is read back and used)."""
        new_patients = {r.patient.patient_key: record_values(r.patient) for r in fresh
                        if r.patient is not None and r.patient.patient_key not in self._patients}
        if new_patients:
            pt = table("patient")
            insert_ignore(self.conn, pt, [new_patients[k] for k in sorted(new_patients)], keys=["patient_key"])
            for row in in_chunks(self.conn, pt.c.patient_key, new_patients, sa.select(pt.c.patient_key, pt.c.id),
                                 _CHUNK):
                self._patients[row[0]] = int(row[1])
        first: dict[tuple[str, str], DoseReport] = {}
        for r in fresh:
            first.setdefault((r.study.study_uid, r.study.modality), r)
        new = {k: r for k, r in sorted(first.items()) if k not in self._studies}
        if not new:
            return
        rows = {k: {**record_values(r.study), "source_kind": report_kind(r.source.importer, r.study.source_kind),
                    "equipment_id": self._equipment(r.equipment),
                    "patient_id": self._patients.get(r.patient.patient_key) if r.patient else None, "n_events": 0}
                for k, r in new.items()}
        created = insert_ignore(self.conn, table("study"), list(rows.values()), keys=["study_uid", "modality"],
                                returning=["id", "study_uid", "modality"])
        for row in created:
            sid, key = row[0], (row[1], row[2])
            self._studies[key] = StudyState(int(sid), {**rows[key], "id": int(sid)}, set(), 0, new=True,
                                        first_pending=True)
        self._load_studies({k[0] for k in new if k not in self._studies})  # created by another writer meanwhile

    def _other_objects(self, rep: DoseReport, study: StudyState, seen: list[Seen]) -> str | None:
        """A note on the other stored objects of ``rep``'s SOP Instance UID (none: ``None``); a reused UID
        flags both studies (see :mod:`dmslab.store._sop`)."""
        sop = rep.source.sop_instance_uid
        key = (rep.study.study_uid, rep.study.modality)
        notes = []
        for other in seen:
            if other.key == key:
                notes.append(f"SOP Instance UID already stored with other content ({other.named()}): "
                             "combined with the study by the merge rules")
                continue
            flag = reuse_flag(str(sop), other)
            self._flag(study.id, flag)
            if other.study_id is not None:
                self._flag(other.study_id, reuse_flag(str(sop), Seen(rep.source.sha256, study.id, key,
                                                                     rep.source.path)))
            notes.append(flag)
            logger.warning("%s: %s", rep.source.path, flag)
        return "; ".join(dict.fromkeys(notes)) or None

    def _flag(self, sid: int, flag: str) -> None:
        """Add ``flag`` to the flags of study ``sid`` (the batch's copy of the row too)."""
        st = table("study")
        cached = next((s for s in self._studies.values() if s.id == sid), None)
        if cached is not None:
            flags = cached.row["flags"] = add_flag(cached.row.get("flags"), flag)
        else:
            flags = add_flag(self.conn.execute(sa.select(st.c.flags).where(st.c.id == sid)).scalar_one_or_none(),
                             flag)
        self.conn.execute(st.update().where(st.c.id == sid).values(flags=flags))

    def _study(self, rep: DoseReport, kind: str) -> StudyState:
        study = self._studies[(rep.study.study_uid, rep.study.modality)]
        if study.first_pending:  # this report created the study in _create
            study.first_pending = False
            return study
        if rep.study.source_kind == "manual":  # corrections: see correct_events, no merging
            return study
        new_uids = report_event_uids(rep)
        self._merge(study, {**record_values(rep.study), "source_kind": kind}, new_uids, rep)
        return study

    def _merge(self, study: StudyState, new: dict[str, Any], new_uids: set[str], rep: DoseReport) -> None:
        fresh = new_uids - study.events
        sums = {"total_dlp_mgycm": sum(e.dlp_mgycm or 0.0 for e in rep.ct_events if e.event_uid in fresh),
                "total_dap_gym2": sum(e.dap_gym2 or 0.0 for e in rep.proj_events if e.event_uid in fresh)}
        totals, flag = merge_totals(study.row, new, study.events, new_uids, sums)
        update: dict[str, Any] = dict(totals)
        for k, v in new.items():  # fill what earlier objects did not say
            if k not in ADDITIVE_TOTALS and k not in ("flags", "unit_fixes") and study.row.get(k) is None \
                    and v is not None:
                update[k] = v
        if (source_rank(new["source_kind"]) or 0) > (source_rank(study.row.get("source_kind")) or 0):
            update["source_kind"] = new["source_kind"]  # the study is described by its best source
        for col, extra in (("flags", flag), ("unit_fixes", None)):
            parts = [p for p in (study.row.get(col), new.get(col), extra) if p]
            update[col] = "; ".join(dict.fromkeys(parts)) or None
        study.row.update(update)
        st = table("study")
        self.conn.execute(st.update().where(st.c.id == study.id).values(**update))
        merge_planes(self.conn, study, rep, new_uids)

    def _add_events(self, study: StudyState, rep: DoseReport, kind: str) -> int:
        added = 0
        first = study.new and not study.events
        groups: tuple[tuple[str, Sequence[Any]], ...] = (
            ("ct_event", rep.ct_events), ("proj_event", rep.proj_events), ("nm_event", rep.nm_events))
        for name, events in groups:
            for e in events:
                if e.event_uid in study.events:
                    continue
                row = {"study_id": study.id, **record_values(e)}
                row["origin"] = row.get("origin") or kind
                study.events.add(e.event_uid)
                if name == "nm_event" and not self._new_administration(study, row):
                    continue
                self._events[name].append(row)
                added += 1
        if first and rep.planes:
            insert_planes(self.conn, study, rep)
        study.n_events += added
        study.touched = True
        return added

    def _new_administration(self, study: StudyState, row: dict[str, Any]) -> bool:
        """False when ``row`` is an administration the study already has under another UID.

        Images of several series can describe one administration with different derived UIDs (and start
        times). Same radionuclide and starts within 60 minutes = same administration: the copy is dropped.
        Between an RRDSR and image headers the precedence rule decides (the RRDSR wins), not this test.
        """
        if study.nm_rows is None:
            t = table("nm_event")
            study.nm_rows = [dict(r._mapping) for r in self.conn.execute(sa.select(t).where(t.c.study_id == study.id))]
        if any(same_administration(r, row) for r in study.nm_rows):
            return False
        study.nm_rows.append(row)
        return True

    # ---- flush --------------------------------------------------------------------------------------
    def _flush(self) -> None:
        for name, rows in self._events.items():
            if rows:
                self.conn.execute(table(name).insert(), rows)
        record_device_values(self.conn, self._devices)
        for sid, doses in self._organ_doses:  # after nm_event: estimates name their administration
            insert_nm_organ_doses(self.conn, sid, doses)
        if self._sources:
            self.conn.execute(table("source_object").insert(), self._sources)
        touched = [{"sid": s.id, "n": s.n_events} for s in self._studies.values() if s.touched]
        if touched:
            st = table("study")
            self.conn.execute(st.update().where(st.c.id == sa.bindparam("sid")).values(n_events=sa.bindparam("n")),
                              touched)
