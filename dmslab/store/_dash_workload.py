"""Workload counts for the workload dashboard: studies per room × weekday × hour and per room × month, counted
in the database (``GROUP BY``), never by reading the studies into pandas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dmslab.store._aggregate import equipment_dims
from dmslab.store._filters import StudyFilter
from dmslab.store.schema import table

if TYPE_CHECKING:
    import pandas as pd

    from dmslab.store._store import Store

__all__ = ["room_month_counts", "room_workload_counts"]


def _postgres(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def _weekday_hour(store: Store) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    """ISO weekday (1 = Monday … 7 = Sunday) and hour (0-23) of ``study.study_datetime`` in SQL."""
    t = table("study").c.study_datetime
    if _postgres(store):
        return sa.cast(sa.extract("isodow", t), sa.Integer), sa.cast(sa.extract("hour", t), sa.Integer)
    return ((sa.cast(sa.func.strftime("%w", t), sa.Integer) + 6) % 7 + 1,  # %w: 0 = Sunday
            sa.cast(sa.func.strftime("%H", t), sa.Integer))


def _month(store: Store) -> sa.ColumnElement[Any]:
    t = table("study").c.study_datetime
    return sa.func.to_char(t, "YYYY-MM") if _postgres(store) else sa.func.substr(t, 1, 7)


def _grouped(store: Store, keys: Sequence[sa.ColumnElement[Any]], selection: StudyFilter) -> pd.DataFrame:
    st, eq = table("study"), table("equipment")
    q = (sa.select(*keys, sa.func.count(st.c.id).label("n_exams"))
         .select_from(st.outerjoin(eq, st.c.equipment_id == eq.c.id))
         .where(st.c.study_datetime.is_not(None), *selection.conditions())
         .group_by(*keys).order_by(*keys))
    return store.read(q)


def room_workload_counts(store: Store, *, selection: StudyFilter = StudyFilter()) -> pd.DataFrame:
    """Studies per room × ISO weekday (1 = Monday … 7 = Sunday) × hour of day (0-23).

    Returns
    -------
    DataFrame
        ``room, weekday, hour, n_exams`` (only non-empty cells), ordered by room, weekday, hour; studies
        without a date are left out.
    """
    wd, hr = _weekday_hour(store)
    keys = [equipment_dims()["room"].label("room"), wd.label("weekday"), hr.label("hour")]
    return _grouped(store, keys, selection).astype({"weekday": int, "hour": int, "n_exams": int})


def room_month_counts(store: Store, *, selection: StudyFilter = StudyFilter()) -> pd.DataFrame:
    """Studies per room × modality × calendar month (``YYYY-MM``): ``room, modality, month, n_exams``."""
    keys = [equipment_dims()["room"].label("room"), table("study").c.modality.label("modality"),
            _month(store).label("month")]
    return _grouped(store, keys, selection).astype({"n_exams": int})
