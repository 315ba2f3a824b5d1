"""The drill-down of the dashboards: one exam's irradiation events, event counts and totals per exam (``GROUP BY``
in SQL), and the exams' Study Instance UIDs for the viewer link (never for display)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dmslab.store.schema import table

if TYPE_CHECKING:
    import pandas as pd

    from dmslab.store._store import Store

__all__ = ["CT_EVENT_COLUMNS", "PROJ_EVENT_COLUMNS", "exam_events", "exam_ids", "exam_uids", "proj_event_totals"]

#: The CT event columns of :func:`exam_events`, in order.
CT_EVENT_COLUMNS = ("acquisition_protocol", "acquisition_type", "target_region", "ctdivol_mgy", "dlp_mgycm",
                    "phantom_cm", "scan_length_mm", "kvp", "ma", "rotation_time_s", "pitch", "collimation_mm",
                    "dw_cm", "ssde_mgy")
#: The projection event columns of :func:`exam_events`, in order.
PROJ_EVENT_COLUMNS = ("event_datetime", "event_type", "plane", "acquisition_protocol", "dap_gym2", "rp_dose_gy",
                      "agd_mgy", "kvp", "ma", "pulse_rate", "irradiation_duration_s", "exposure_time_ms",
                      "filter_material", "filter_thickness_mm", "field_area_m2", "primary_angle_deg",
                      "secondary_angle_deg", "dsd_mm")


def exam_events(store: Store, exam: int) -> tuple[str | None, pd.DataFrame]:
    """The modality of exam ``exam`` (the store's study row id; ``None``: no such exam) and its events: CT
    exams :data:`CT_EVENT_COLUMNS`, the others :data:`PROJ_EVENT_COLUMNS` (units in the column names),
    in the order they were stored (projection events by their date/time)."""
    st = table("study")
    with store.engine.connect() as conn:
        modality = conn.execute(sa.select(st.c.modality).where(st.c.id == int(exam))).scalar_one_or_none()
    ct = modality == "CT"
    ev = table("ct_event" if ct else "proj_event")
    cols = CT_EVENT_COLUMNS if ct else PROJ_EVENT_COLUMNS
    order = [ev.c.id] if ct else [ev.c.event_datetime, ev.c.id]
    return modality, store.read(sa.select(*(ev.c[c] for c in cols)).where(ev.c.study_id == int(exam))
                                .order_by(*order))


def proj_event_totals(store: Store, exams: Sequence[int]) -> pd.DataFrame:
    """Per exam (study row id) and event type: ``exam, event_type, n_events, dap_gym2, rp_dose_gy,
    irradiation_duration_s`` (sums of the events' values), ``GROUP BY`` in SQL."""
    ev = table("proj_event")
    q = (sa.select(ev.c.study_id.label("exam"), ev.c.event_type, sa.func.count(ev.c.id).label("n_events"),
                   sa.func.sum(ev.c.dap_gym2).label("dap_gym2"), sa.func.sum(ev.c.rp_dose_gy).label("rp_dose_gy"),
                   sa.func.sum(ev.c.irradiation_duration_s).label("irradiation_duration_s"))
         .where(ev.c.study_id.in_([int(e) for e in exams]))
         .group_by(ev.c.study_id, ev.c.event_type).order_by(ev.c.study_id, ev.c.event_type))
    return store.read(q)


def exam_ids(store: Store, study_uids: Sequence[str]) -> dict[str, int]:
    """Study Instance UID -> the store's study row id (the dashboards' hidden exam key)."""
    st = table("study")
    rows = store.read(sa.select(st.c.study_uid, st.c.id).where(st.c.study_uid.in_(list(study_uids))))
    return {str(u): int(i) for u, i in zip(rows["study_uid"], rows["id"], strict=True)}


def exam_uids(store: Store, exams: Sequence[int]) -> dict[int, str]:
    """Study row id -> Study Instance UID, for the viewer link only (a dashboard never shows it)."""
    st = table("study")
    rows = store.read(sa.select(st.c.id, st.c.study_uid).where(st.c.id.in_([int(e) for e in exams])))
    return {int(i): str(u) for i, u in zip(rows["id"], rows["study_uid"], strict=True)}
