"""One stored study as a write batch sees it, and the changes a further object makes to it.

Corrections from manual reports, and the projection planes a further object adds or combines (the
replace/add/keep rule of :func:`dmslab.store._merge.merge_totals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dmslab.records import DoseReport, record_values
from dmslab.store._merge import merge_totals, source_rank
from dmslab.store.schema import table

__all__ = ["StudyState", "correct_events", "insert_planes", "merge_planes", "report_event_uids",
           "same_administration"]


def same_administration(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two NM event rows are one administration: same radionuclide, starts within 60 minutes."""
    key_a = a.get("radionuclide_code") or (a.get("radionuclide") or "").lower()
    key_b = b.get("radionuclide_code") or (b.get("radionuclide") or "").lower()
    if not key_a or key_a != key_b:
        return False
    ta, tb = a.get("start_datetime"), b.get("start_datetime")
    return ta is None or tb is None or abs((ta - tb).total_seconds()) <= 3600


def report_event_uids(rep: DoseReport) -> set[str]:
    """The irradiation event UIDs of every kind of event in ``rep``."""
    uids = {e.event_uid for e in rep.ct_events}
    uids.update(e.event_uid for e in rep.proj_events)
    uids.update(e.event_uid for e in rep.nm_events)
    return uids


@dataclass(slots=True)
class StudyState:
    """What a batch knows of one stored study: its row, event UIDs and the best dose source counting."""

    id: int
    row: dict[str, Any]
    events: set[str]
    n_events: int
    touched: bool = False
    new: bool = False
    first_pending: bool = False
    nm_rows: list[dict[str, Any]] | None = None
    rank: int = 0  # rank of the best dose source stored (0: none yet, or manual entries only)
    best_kind: str | None = None
    best_sop: str | None = None

    def saw(self, kind: str, sop: str | None) -> None:
        """Note that an object of ``kind`` now counts for the study."""
        rank = source_rank(kind)
        if rank is not None and rank > self.rank:
            self.rank, self.best_kind, self.best_sop = rank, kind, sop


def correct_events(conn: sa.Connection, study: StudyState, rep: DoseReport) -> None:
    """A manual report corrects the events it names: given values overwrite, review flags on them go.

    Events the study does not have yet are added by the batch writer as usual. Who entered the values
    and why stays in the event's ``comment``.
    """
    t = table("ct_event")
    for e in rep.ct_events:
        if e.event_uid not in study.events:
            continue
        values = {k: v for k, v in record_values(e).items()
                  if v is not None and k not in ("event_uid", "flags", "unit_fixes")}
        row = conn.execute(sa.select(t.c.id, t.c.flags).where(
            t.c.study_id == study.id, t.c.event_uid == e.event_uid)).first()
        if row is None:  # added earlier in this same batch: not yet in the database
            continue
        kept = [f for f in (row.flags or "").split("; ")
                if f and not any(f.startswith(f"ocr_review: {k}") for k in values)]
        conn.execute(t.update().where(t.c.id == row.id).values(**values, flags="; ".join(kept) or None))
    if rep.study.total_dlp_mgycm is not None:
        st = table("study")
        kept = [f for f in (study.row.get("flags") or "").split("; ") if f and not f.startswith("ocr_review")]
        update = {"total_dlp_mgycm": rep.study.total_dlp_mgycm, "flags": "; ".join(kept) or None}
        study.row.update(update)
        conn.execute(st.update().where(st.c.id == study.id).values(**update))


def insert_planes(conn: sa.Connection, study: StudyState, rep: DoseReport) -> None:
    """The planes of the first object of a study."""
    conn.execute(table("proj_plane").insert(),
                      [{"study_id": study.id, **record_values(p)} for p in rep.planes])

def merge_planes(conn: sa.Connection, study: StudyState, rep: DoseReport, new_uids: set[str]) -> None:
    """Combine the planes of a further object with the stored ones (the replace/add/keep rule of the totals)."""
    t = table("proj_plane")
    old = study.events
    for plane in rep.planes:
        values = record_values(plane)
        row = conn.execute(sa.select(t).where(t.c.study_id == study.id, t.c.plane == plane.plane)
                                ).mappings().first()
        if row is None:
            conn.execute(t.insert().values(study_id=study.id, **values))
            continue
        totals = tuple(k for k in values if k.endswith(("_gym2", "_gy", "_s", "_mgy")) or k == "n_frames")
        update, _flag = merge_totals(dict(row), values, old, new_uids, {}, keys=totals)
        conn.execute(t.update().where(t.c.id == row["id"]).values(**update))
