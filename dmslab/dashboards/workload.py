"""The workload dashboard (``dashboards/workload.ipynb``): studies per weekday × hour and per month, per room.

Filters: period, modality, room (those of the department overview, :func:`dmslab.dashboards.overview.filters_for`).
Both counts are ``GROUP BY`` in the database (:func:`dmslab.store.room_workload_counts`,
:func:`dmslab.store.room_month_counts`); an empty selection gives the sentence "No exams match ...".
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from dmslab.analysis.stats import Filters
from dmslab.dashboards.overview import NoExams, _nothing, filters_for, styled
from dmslab.store import Store, room_month_counts, room_workload_counts

if TYPE_CHECKING:
    import altair as alt

__all__ = ["WEEKDAYS", "Views", "hour_chart", "hour_table", "month_chart", "month_table"]

#: ISO weekday number -> the name the charts show.
WEEKDAYS = dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], start=1))


def hour_table(store: Store, filters: Filters) -> pd.DataFrame | NoExams:
    """Studies per room × weekday × hour: ``Room, Weekday, Hour (h), Studies (n)`` (non-empty cells only)."""
    w = room_workload_counts(store, selection=filters)
    if w.empty:
        return _nothing(filters)
    return pd.DataFrame({"Room": w["room"], "Weekday": w["weekday"].map(WEEKDAYS), "Hour (h)": w["hour"],
                         "Studies (n)": w["n_exams"]})


def hour_chart(table: pd.DataFrame) -> alt.FacetChart:
    """One weekday × hour heat map per room (rows) of :func:`hour_table`."""
    import altair as alt

    return (alt.Chart(table).mark_rect()
            .encode(x=alt.X("Hour (h):O", title="Hour of day (h)", scale=alt.Scale(domain=list(range(24)))),
                    y=alt.Y("Weekday:N", sort=list(WEEKDAYS.values()), title="Weekday"),
                    color=alt.Color("Studies (n):Q", title="Studies (n)"), tooltip=list(table.columns))
            .properties(width=480, height=140)
            .facet(row=alt.Row("Room:N", title="Room"))
            .properties(title="Studies per weekday and hour of day"))


def month_table(store: Store, filters: Filters) -> pd.DataFrame | NoExams:
    """Studies per room × month: ``Room, Modality, Month, Studies (n)``."""
    m = room_month_counts(store, selection=filters)
    if m.empty:
        return _nothing(filters)
    return pd.DataFrame({"Room": m["room"], "Modality": m["modality"], "Month": m["month"],
                         "Studies (n)": m["n_exams"]})


def month_chart(table: pd.DataFrame) -> alt.Chart:
    """Studies per month, one bar per room side by side (colour: room) of :func:`month_table`."""
    import altair as alt

    return (alt.Chart(table).mark_bar()
            .encode(x=alt.X("Month:O", title="Month"), xOffset=alt.XOffset("Room:N"),
                    y=alt.Y("sum(Studies (n)):Q", title="Studies (n)"), color=alt.Color("Room:N", title="Room"),
                    tooltip=list(table.columns))
            .properties(title="Studies per month and room", width=480, height=220))


class Views:
    """The workload views as functions of the widgets' values (for ``ipywidgets.interactive_output``).

    Parameters
    ----------
    store
        The store, opened read-only.
    reference
        The reference time the periods count back from (:func:`dmslab.dashboards.overview.reference_time`).
    """

    def __init__(self, store: Store, reference: dt.datetime | None) -> None:
        self.store, self.reference = store, reference

    def hours(self, period: str, modality: str, room: str) -> None:
        """The weekday × hour heat map per room (the counts are in its tooltips)."""
        from IPython.display import display

        table = hour_table(self.store, filters_for(self.reference, period, modality, room))
        display(table if isinstance(table, NoExams) else hour_chart(table))

    def months(self, period: str, modality: str, room: str) -> None:
        """Studies per month and room: chart and table."""
        from IPython.display import display

        table = month_table(self.store, filters_for(self.reference, period, modality, room))
        if not isinstance(table, NoExams):
            display(month_chart(table))
        display(styled(table))
