"""Queries of the protocol explorer: which protocols each room has (counted in SQL) and the exams of one
protocol with their technique (events averaged per exam in SQL, one row per exam)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from dmslab.store._aggregate import equipment_dims
from dmslab.store._filters import StudyFilter, room_expr
from dmslab.store._studies import PROTOCOL_FIELDS, _ct_exams, _proj_exams
from dmslab.store.schema import table

if TYPE_CHECKING:
    import pandas as pd

    from dmslab.store._store import Store

__all__ = ["protocol_counts", "protocol_exams"]


def _field(protocol_field: str) -> sa.Column:
    if protocol_field not in PROTOCOL_FIELDS:
        raise ValueError(f"protocol_field must be one of {PROTOCOL_FIELDS}, got {protocol_field!r}")
    return table("study").c[protocol_field]


def protocol_counts(store: Store, *, selection: StudyFilter = StudyFilter(),
                    protocol_field: str = "study_description") -> pd.DataFrame:
    """Dated studies per room × modality × protocol (the study column ``protocol_field``), ``GROUP BY`` in SQL.

    Returns
    -------
    DataFrame
        ``room, modality, protocol, n_exams``, ordered by room, modality, protocol.
    """
    st, eq = table("study"), table("equipment")
    proto = _field(protocol_field)
    keys = [equipment_dims()["room"].label("room"), st.c.modality.label("modality"), proto.label("protocol")]
    q = (sa.select(*keys, sa.func.count(st.c.id).label("n_exams"))
         .select_from(st.outerjoin(eq, st.c.equipment_id == eq.c.id))
         .where(st.c.study_datetime.is_not(None), proto.is_not(None), *selection.conditions())
         .group_by(*keys).order_by(*keys))
    return store.read(q).astype({"n_exams": int})


def protocol_exams(store: Store, where: StudyFilter, *, protocol: str,
                   protocol_field: str = "study_description") -> pd.DataFrame:
    """The exams of one protocol with their technique, as :func:`dmslab.store.exam_metrics` gives them
    (``where.modality``, default CT), the protocol matched in SQL.

    Returns
    -------
    DataFrame
        CT: ``study_id, study_datetime, room, protocol, dlp_mgycm, ctdivol_mgy, ma, mas, kvp, pitch,
        collimation_mm, weight_kg, height_m, dw_cm``; DX, MG, RF: ``… dap_gym2, agd_mgy, kvp, filter_material,
        weight_kg, height_m``. Unordered.
    """
    proto = _field(protocol_field)
    modality = where.modality or "CT"
    conditions = [table("study").c.study_datetime.is_not(None), proto == protocol,
                  *replace(where, modality=modality).conditions()]
    build = _ct_exams if modality == "CT" else _proj_exams
    return store.read(build(conditions, room_expr().label("room"), proto.label("protocol")))
