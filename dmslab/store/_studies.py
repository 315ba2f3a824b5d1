"""Study-level queries: one row per study or exam as a DataFrame, filtered by a :class:`StudyFilter`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from dmslab.store._filters import StudyFilter, room_expr
from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["PROTOCOL_FIELDS", "STUDY_COLUMNS", "alert_metrics", "exam_metrics", "studies", "study_span"]

#: Study columns that can name an exam's protocol in :func:`exam_metrics`.
PROTOCOL_FIELDS = ("study_description", "standard_name", "requested_procedure")

_ALERT_COLUMNS = ("patient_id", "study_uid", "study_datetime", "modality", "study_description", "standard_name",
                  "age_years", "height_m", "weight_kg", "flags", "total_dlp_mgycm", "total_dap_gym2",
                  "total_rp_dose_gy", "fluoro_time_s", "agd_left_mgy", "agd_right_mgy")


def _dose_event(ev: sa.Table) -> sa.ColumnElement[bool]:
    """A CT event that carries dose: CTDIvol given, not a localizer (``constant_angle``)."""
    return sa.and_(ev.c.ctdivol_mgy.is_not(None),
                   sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle"))


#: The columns of :func:`studies`.
STUDY_COLUMNS = ("study_id", "study_uid", "study_datetime", "modality", "room", "standard_name",
                 "study_description", "age_years", "weight_kg", "height_m", "exclusion_reason")


def _study_rows() -> sa.Join:
    """``study`` with its equipment (outer: a study without equipment stays, its room ``None``)."""
    st, eq = table("study"), table("equipment")
    return st.outerjoin(eq, st.c.equipment_id == eq.c.id)


def studies(store: Store, where: StudyFilter = StudyFilter()) -> pd.DataFrame:
    """One row per study that ``where`` selects: :data:`STUDY_COLUMNS` (``room``: :func:`room_expr`),
    ordered by ``study_id``."""
    st = table("study")
    cols = [st.c.id.label("study_id"), *(st.c[c] for c in STUDY_COLUMNS[1:4]), room_expr().label("room"),
            *(st.c[c] for c in STUDY_COLUMNS[5:])]
    return store.read(sa.select(*cols).select_from(_study_rows()).where(*where.conditions()).order_by(st.c.id))


def alert_metrics(store: Store, where: StudyFilter = StudyFilter(), *,
                  modalities: Sequence[str] | None = None, optional_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per study that ``where`` selects with the values alert rules look at.

    Columns: ``study_id``, the study's patient, dose and size columns, ``room`` (:func:`room_expr`),
    ``patient_key``, ``ctdivol_mgy`` (the highest of its dose-bearing CT events), and each of
    ``optional_columns`` (a study column; all missing when the store has no such column). Only studies of
    ``modalities`` (all when empty).
    """
    st, pt, ev = table("study"), table("patient"), table("ct_event")
    ctdi = (sa.select(ev.c.study_id, sa.func.max(ev.c.ctdivol_mgy).label("ctdivol_mgy"))
            .where(_dose_event(ev)).group_by(ev.c.study_id).subquery())
    optional = [st.c[c] if c in st.c else sa.cast(sa.null(), sa.Float).label(c) for c in optional_columns]
    q = (sa.select(st.c.id.label("study_id"), *(st.c[c] for c in _ALERT_COLUMNS), room_expr().label("room"),
                   pt.c.patient_key, ctdi.c.ctdivol_mgy, *optional)
         .select_from(_study_rows().outerjoin(pt, st.c.patient_id == pt.c.id)
                      .outerjoin(ctdi, ctdi.c.study_id == st.c.id))
         .where(*where.conditions()))
    if modalities:
        q = q.where(st.c.modality.in_(list(modalities)))
    return store.read(q)


def _ct_exams(where: list[Any], room: Any, protocol: Any) -> sa.Select[Any]:
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    dose = sa.and_(_dose_event(ev), ev.c.ctdivol_mgy > 0)
    mas = ev.c.ma * sa.func.coalesce(ev.c.rotation_time_s, 1.0) / sa.func.coalesce(ev.c.pitch, 1.0)
    return (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                      sa.func.max(st.c.total_dlp_mgycm).label("dlp_mgycm"),
                      sa.func.avg(ev.c.ctdivol_mgy).label("ctdivol_mgy"), sa.func.avg(ev.c.ma).label("ma"),
                      sa.func.avg(mas).label("mas"), sa.func.max(ev.c.kvp).label("kvp"),
                      sa.func.max(ev.c.pitch).label("pitch"), sa.func.max(ev.c.collimation_mm).label("collimation_mm"),
                      sa.func.max(st.c.weight_kg).label("weight_kg"), sa.func.max(st.c.height_m).label("height_m"),
                      sa.func.avg(ev.c.dw_cm).label("dw_cm"))
            .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
            .where(dose, *where)
            .group_by(st.c.id, st.c.study_datetime, room, protocol))


def _proj_exams(where: list[Any], room: Any, protocol: Any) -> sa.Select[Any]:
    st, eq, ev = table("study"), table("equipment"), table("proj_event")
    return (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                      sa.func.max(st.c.total_dap_gym2).label("dap_gym2"), sa.func.avg(ev.c.agd_mgy).label("agd_mgy"),
                      sa.func.avg(ev.c.kvp).label("kvp"), sa.func.max(ev.c.filter_material).label("filter_material"),
                      sa.func.max(st.c.weight_kg).label("weight_kg"), sa.func.max(st.c.height_m).label("height_m"))
            .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
            .where(*where)
            .group_by(st.c.id, st.c.study_datetime, room, protocol))


def exam_metrics(store: Store, where: StudyFilter, *, protocol_field: str = "study_description") -> pd.DataFrame:
    """One row per exam of ``where.modality`` (default CT) that has a date and a protocol, with its technique.

    CT: ``study_id, study_datetime, room, protocol, dlp_mgycm, ctdivol_mgy, ma, mas, kvp, pitch,
    collimation_mm, weight_kg, height_m, dw_cm`` (event values averaged over the dose-bearing events with
    CTDIvol > 0; ``mas`` = mA × rotation time / pitch). DX, MG, RF: ``… dap_gym2, agd_mgy, kvp,
    filter_material, weight_kg, height_m``. ``room`` is :func:`room_expr`; ``protocol``
    the study column ``protocol_field`` (one of :data:`PROTOCOL_FIELDS`). Unordered.

    Raises
    ------
    ValueError
        For another ``protocol_field``.
    """
    if protocol_field not in PROTOCOL_FIELDS:
        raise ValueError(f"protocol_field must be study_description, standard_name or requested_procedure, "
                         f"got {protocol_field!r}")
    st = table("study")
    protocol = st.c[protocol_field].label("protocol")
    modality = where.modality or "CT"
    conditions = [st.c.study_datetime.is_not(None), st.c[protocol_field].is_not(None),
                  *replace(where, modality=modality).conditions()]
    build = _ct_exams if modality == "CT" else _proj_exams
    return store.read(build(conditions, room_expr().label("room"), protocol))


def study_span(store: Store) -> tuple[dt.datetime, dt.datetime] | None:
    """The earliest and latest study date/time in the store (``None`` when it holds no dated study)."""
    st = table("study")
    with store.engine.connect() as conn:
        first, last = conn.execute(sa.select(sa.func.min(st.c.study_datetime),
                                             sa.func.max(st.c.study_datetime))).one()
    return None if first is None else (first, last)
