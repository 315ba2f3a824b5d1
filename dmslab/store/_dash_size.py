"""Dose against patient size, one row per exam (CT events averaged per exam in SQL): what the "dose vs patient
size" dashboard plots and fits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dmslab.store._filters import StudyFilter, room_expr
from dmslab.store.schema import table

if TYPE_CHECKING:
    import pandas as pd

    from dmslab.store._store import Store

__all__ = ["SIZE_DOSE_PAIRS", "size_dose"]

#: The (dose, size) pairs :func:`size_dose` reads: dose per exam and patient size, with their modality.
SIZE_DOSE_PAIRS: dict[tuple[str, str], str] = {("ctdivol_mgy", "dw_cm"): "CT", ("ctdivol_mgy", "weight_kg"): "CT",
                                               ("dlp_mgycm", "weight_kg"): "CT", ("total_dap_gym2", "weight_kg"): "*"}


def size_dose(store: Store, where: StudyFilter, *, dose: str, size: str) -> pd.DataFrame:
    """Per exam of the selection with both values (> 0): ``exam`` (the store's row id), ``room``, ``modality``,
    ``standard_name``, ``dose`` and ``size`` in the units of their names (``ctdivol_mgy``: mean CTDIvol of the
    exam's dose-bearing CT events; ``dlp_mgycm``, ``total_dap_gym2``: the exam's total; ``dw_cm``: mean
    water-equivalent diameter of those events; ``weight_kg``: Patient's Weight). Ordered by exam.

    Raises
    ------
    ValueError
        For a pair not in :data:`SIZE_DOSE_PAIRS`.
    """
    if (dose, size) not in SIZE_DOSE_PAIRS:
        raise ValueError(f"(dose, size) must be one of {sorted(SIZE_DOSE_PAIRS)}, got {(dose, size)}")
    st, eq, ev = table("study"), table("equipment"), table("ct_event")
    src = st.outerjoin(eq, st.c.equipment_id == eq.c.id)
    d: sa.ColumnElement[Any]
    s: sa.ColumnElement[Any] = st.c.weight_kg
    conds = list(where.conditions())
    if SIZE_DOSE_PAIRS[(dose, size)] == "CT":
        conds.append(st.c.modality == "CT")
        dose_ev = sa.and_(ev.c.ctdivol_mgy > 0,
                          sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle"))
        per = (sa.select(ev.c.study_id, sa.func.avg(ev.c.ctdivol_mgy).label("ctdivol_mgy"),
                         sa.func.avg(ev.c.dw_cm).label("dw_cm")).where(dose_ev).group_by(ev.c.study_id).subquery())
        src = src.join(per, per.c.study_id == st.c.id)
        d = per.c.ctdivol_mgy if dose == "ctdivol_mgy" else st.c.total_dlp_mgycm
        s = per.c.dw_cm if size == "dw_cm" else st.c.weight_kg
    else:
        d = getattr(st.c, dose)
    q = (sa.select(st.c.id.label("exam"), room_expr().label("room"), st.c.modality, st.c.standard_name,
                   d.label("dose"), s.label("size"))
         .select_from(src).where(d > 0, s > 0, *conds).order_by(st.c.id))
    return store.read(q)
