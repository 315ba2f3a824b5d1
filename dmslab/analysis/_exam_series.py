"""One row per exam with the metrics protocol-change detection monitors, and the patient's size."""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.store import Store, table

__all__ = ["CT_METRICS", "PROJ_METRICS", "SIZE_COLUMNS", "exam_series"]

#: CT metrics: name -> "continuous" (log-normal dose/technique value) or "categorical" (set technique value).
CT_METRICS = {"ctdivol_mgy": "continuous", "dlp_mgycm": "continuous", "ma": "continuous", "mas": "continuous",
              "kvp": "categorical", "pitch": "categorical", "collimation_mm": "categorical"}
#: Projection (DX, MG, RF) metrics per exam.
PROJ_METRICS = {"dap_gym2": "continuous", "agd_mgy": "continuous", "kvp": "categorical",
                "filter_material": "categorical"}
#: Patient-size columns of :func:`exam_series` (``dw_cm`` for CT only).
SIZE_COLUMNS = ("weight_kg", "height_m", "dw_cm")


def _ct_frame(store: Store, where: list[Any], room: Any, protocol: Any) -> pd.DataFrame:
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    dose = sa.and_(ev.c.ctdivol_mgy.is_not(None), ev.c.ctdivol_mgy > 0,
                   sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle"))
    mas = ev.c.ma * sa.func.coalesce(ev.c.rotation_time_s, 1.0) / sa.func.coalesce(ev.c.pitch, 1.0)
    q = (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                   sa.func.max(st.c.total_dlp_mgycm).label("dlp_mgycm"),
                   sa.func.avg(ev.c.ctdivol_mgy).label("ctdivol_mgy"), sa.func.avg(ev.c.ma).label("ma"),
                   sa.func.avg(mas).label("mas"), sa.func.max(ev.c.kvp).label("kvp"),
                   sa.func.max(ev.c.pitch).label("pitch"), sa.func.max(ev.c.collimation_mm).label("collimation_mm"),
                   sa.func.max(st.c.weight_kg).label("weight_kg"), sa.func.max(st.c.height_m).label("height_m"),
                   sa.func.avg(ev.c.dw_cm).label("dw_cm"))
         .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
         .where(st.c.modality == "CT", dose, *where)
         .group_by(st.c.id, st.c.study_datetime, room, protocol))
    return store.read(q)


def _proj_frame(store: Store, modality: str, where: list[Any], room: Any, protocol: Any) -> pd.DataFrame:
    st, eq, ev = table("study"), table("equipment"), table("proj_event")
    q = (sa.select(st.c.id.label("study_id"), st.c.study_datetime, room, protocol,
                   sa.func.max(st.c.total_dap_gym2).label("dap_gym2"), sa.func.avg(ev.c.agd_mgy).label("agd_mgy"),
                   sa.func.avg(ev.c.kvp).label("kvp"), sa.func.max(ev.c.filter_material).label("filter_material"),
                   sa.func.max(st.c.weight_kg).label("weight_kg"), sa.func.max(st.c.height_m).label("height_m"))
         .select_from(st.join(eq, st.c.equipment_id == eq.c.id).join(ev, ev.c.study_id == st.c.id))
         .where(st.c.modality == modality, *where)
         .group_by(st.c.id, st.c.study_datetime, room, protocol))
    return store.read(q)


# keyword-only options of one query, called by name from the notebooks
def exam_series(store: Store, *, modality: str = "CT", rooms: list[str] | None = None, start: Any = None,  # noqa: PLR0913
                end: Any = None, protocol_field: str = "study_description",
                include_non_patient: bool = False) -> pd.DataFrame:
    """One row per exam with the monitored metrics and the patient's size, ordered by room, protocol and time.

    Parameters
    ----------
    store
        The dmslab store.
    modality
        ``CT`` (metrics :data:`CT_METRICS`) or ``DX``/``MG``/``RF`` (:data:`PROJ_METRICS`).
    rooms
        Only these rooms (``equipment.room``, else station name); all when ``None``.
    start, end
        Only exams with ``start <= study_datetime < end`` (datetimes or ISO strings).
    protocol_field
        Study column naming the protocol: ``study_description``, ``standard_name`` or ``requested_procedure``.
    include_non_patient
        Also the studies that are not patient exams (``study.exclusion_reason``: QA, phantoms), which
        otherwise would look like protocol changes.

    Returns
    -------
    DataFrame
        ``study_id, study_datetime, room, protocol``, one column per metric (CTDIvol in mGy, DLP in
        mGy·cm, mA, effective mAs = mA × rotation time / pitch in mA·s, kVp in kV, collimation in mm,
        DAP in Gy·m², AGD in mGy) and the size: ``weight_kg``, ``height_m`` (Patient's Weight/Size) and, for
        CT, ``dw_cm`` (mean water-equivalent diameter of the dose-bearing events, when the scanner reports it).
    """
    if protocol_field not in ("study_description", "standard_name", "requested_procedure"):
        raise ValueError(f"protocol_field must be study_description, standard_name or requested_procedure, "
                         f"got {protocol_field!r}")
    st, eq = table("study"), table("equipment")
    room = sa.func.coalesce(eq.c.room, eq.c.station_name).label("room")
    protocol = st.c[protocol_field].label("protocol")
    where: list[Any] = [st.c.study_datetime.is_not(None), st.c[protocol_field].is_not(None)]
    if not include_non_patient:
        where.append(st.c.exclusion_reason.is_(None))
    if rooms:
        where.append(sa.func.coalesce(eq.c.room, eq.c.station_name).in_(list(rooms)))
    if start is not None:
        where.append(st.c.study_datetime >= pd.Timestamp(start).to_pydatetime())
    if end is not None:
        where.append(st.c.study_datetime < pd.Timestamp(end).to_pydatetime())
    df = _ct_frame(store, where, room, protocol) if modality == "CT" else _proj_frame(store, modality, where, room,
                                                                                        protocol)
    df["study_datetime"] = pd.to_datetime(df["study_datetime"])
    for col in SIZE_COLUMNS:
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df.sort_values(["room", "protocol", "study_datetime", "study_id"]).reset_index(drop=True)
