"""The department overview dashboard (``dashboards/department_overview.ipynb``): its filters, tables and charts.

Every view takes the widgets' values (period, modality, room), asks :mod:`dmslab.analysis` / :mod:`dmslab.store`
and returns a table with units in its headers and, where it helps, an altair chart; an empty selection gives a
sentence ("No exams match ..."), never an error. Periods are counted back from the **newest study in the store**
(the "reference time"), so that an archive or a demo store shows data; the page says how old that study is.

Identifiers: nothing here shows a patient ID, a name or a Study Instance UID; the store holds pseudonyms only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from dmslab.analysis.stats import Filters, exam_counts, workload
from dmslab.store import Store, alerts, last_studies, study_span

if TYPE_CHECKING:
    import altair as alt

__all__ = ["ALL", "HIDDEN", "PERIODS", "STALE_DAYS", "NoExams", "exam_chart", "exam_table", "filters_for",
           "freshness_table", "open_alerts_table", "reference_time", "room_options", "workload_chart", "workload_table"]

#: The choice "every modality" / "every room" of a filter.
ALL = "(all)"
#: Period choices: days counted back from the reference time (``None``: every study).
PERIODS: dict[str, int | None] = {"last 7 days": 7, "last 30 days": 30, "last 90 days": 90, "everything": None}
#: A room whose last study is more than this many days older than the reference time has stopped sending [d].
STALE_DAYS = 3.0
#: Columns a view keeps for the drill-down but never shows.
HIDDEN = ("exam",)


@dataclass(frozen=True, slots=True)
class NoExams:
    """An empty view: the sentence to show instead of a table or chart."""

    text: str

    def _repr_html_(self) -> str:
        return f'<p class="dmslab-empty"><em>{self.text}</em></p>'


def reference_time(store: Store) -> dt.datetime | None:
    """The newest study's date/time (``None``: the store holds no dated study)."""
    span = study_span(store)
    return None if span is None else pd.Timestamp(span[1]).to_pydatetime()


def filters_for(reference: dt.datetime | None, period: str, modality: str = ALL, room: str = ALL) -> Filters:
    """The :class:`~dmslab.analysis.stats.Filters` of the widgets' values.

    >>> f = filters_for(dt.datetime(2026, 3, 31, 12), "last 7 days", "CT", "CT1")
    >>> f.start, f.modality, f.rooms
    (datetime.datetime(2026, 3, 24, 12, 0), 'CT', ('CT1',))
    """
    if period not in PERIODS:
        raise ValueError(f"period {period!r} not in {list(PERIODS)}")
    days = PERIODS[period]
    start = None if days is None or reference is None else reference - dt.timedelta(days=days)
    return Filters(start=start, modality=None if modality in (ALL, "") else modality,
                   rooms=None if room in (ALL, "") else (room,))


def room_options(store: Store) -> tuple[list[str], list[str]]:
    """The modalities and rooms that have studies (for the filters' choices), each list starting with :data:`ALL`."""
    seen = last_studies(store)
    return [ALL, *sorted(seen["modality"].dropna().unique())], [ALL, *sorted(seen["room"].unique())]


def _nothing(filters: Filters, what: str = "exams") -> NoExams:
    parts = [f"modality {filters.modality}" if filters.modality else "",
             f"room {filters.rooms[0]}" if filters.rooms else "",
             f"since {filters.start:%Y-%m-%d %H:%M}" if filters.start else ""]
    return NoExams(f"No {what} match " + (", ".join(p for p in parts if p) or "(the store is empty)") + ".")


def exam_table(store: Store, filters: Filters) -> pd.DataFrame | NoExams:
    """Studies per modality and room: ``Modality, Room, Studies (n)``, the busiest first."""
    counts = exam_counts(store, by=("modality", "room"), filters=filters)
    if counts.empty:
        return _nothing(filters)
    out = counts.rename(columns={"modality": "Modality", "room": "Room", "n_exams": "Studies (n)"})
    return out.sort_values(["Studies (n)", "Room"], ascending=[False, True], ignore_index=True)


def exam_chart(table: pd.DataFrame) -> alt.Chart:
    """A bar per room (colour: modality) of :func:`exam_table`."""
    import altair as alt

    return (alt.Chart(table).mark_bar()
            .encode(x=alt.X("Room:N", sort="-y", title="Room"), y=alt.Y("Studies (n):Q", title="Studies (n)"),
                    color=alt.Color("Modality:N"), tooltip=list(table.columns))
            .properties(title="Studies per room", width=420, height=220))


def workload_table(store: Store, filters: Filters) -> pd.DataFrame | NoExams:
    """Studies per weekday × hour of the selection: ``Weekday, Hour (h), Studies (n)``."""
    w = workload(store, filters=filters)
    if w.empty:
        return _nothing(filters)
    return pd.DataFrame({"Weekday": w["weekday_name"], "Hour (h)": w["hour"], "Studies (n)": w["n_exams"]})


def workload_chart(table: pd.DataFrame) -> alt.Chart:
    """A weekday × hour heat map of :func:`workload_table`."""
    import altair as alt

    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    return (alt.Chart(table).mark_rect()
            .encode(x=alt.X("Hour (h):O", title="Hour of day (h)"), y=alt.Y("Weekday:N", sort=days, title="Weekday"),
                    color=alt.Color("Studies (n):Q", title="Studies (n)"), tooltip=list(table.columns))
            .properties(title="Workload: studies per weekday and hour", width=420, height=160))


_ALERT_COLUMNS = {"study_datetime": "Study date", "room": "Room", "modality": "Modality", "standard_name": "Exam",
                  "metric": "Metric", "value": "Value", "level": "Trigger level", "unit": "Unit",
                  "explanation": "Why"}


def open_alerts_table(store: Store, filters: Filters) -> pd.DataFrame | NoExams:
    """The alerts not yet acknowledged whose study is in the selection, newest study first (no identifiers).

    Columns ``Study date, Room, Modality, Exam, Metric, Value, Trigger level, Unit, Why``: one alert's value and
    level share the unit of its own row (alerts mix metrics).
    """
    a = alerts(store, open_only=True)
    keep = pd.Series(True, index=a.index)
    if filters.modality:
        keep &= a["modality"] == filters.modality
    if filters.rooms:
        keep &= a["room"].isin(filters.rooms)
    if filters.start is not None:
        keep &= pd.to_datetime(a["study_datetime"]) >= pd.Timestamp(filters.start)
    a = a.loc[keep]
    if a.empty:
        return _nothing(filters, "open alerts")
    out = a[list(_ALERT_COLUMNS)].rename(columns=_ALERT_COLUMNS)
    out["Study date"] = pd.to_datetime(out["Study date"]).dt.strftime("%Y-%m-%d %H:%M")
    return out.sort_values("Study date", ascending=False, ignore_index=True)


def freshness_table(store: Store, reference: dt.datetime | None, filters: Filters, *,
                    stale_days: float = STALE_DAYS) -> pd.DataFrame | NoExams:
    """Per room and device: the last study, how many days before the reference time, and whether the room
    stopped sending (silent for more than ``stale_days`` [d]); the silent rooms first. The period is ignored
    (a device's last study is what matters); modality and room apply."""
    seen = last_studies(store, selection=Filters(modality=filters.modality, rooms=filters.rooms))
    if seen.empty or reference is None:
        return _nothing(Filters(modality=filters.modality, rooms=filters.rooms), "devices")
    silent_d = (pd.Timestamp(reference) - seen["last_study"]).dt.total_seconds() / 86400.0
    out = pd.DataFrame({"Room": seen["room"], "Modality": seen["modality"], "Device": seen["device"],
                        "Last study": seen["last_study"].dt.strftime("%Y-%m-%d %H:%M"),
                        "Silent (d)": silent_d.round(1), "Studies (n)": seen["n_exams"],
                        "Status": ["stopped sending" if d > stale_days else "sending" for d in silent_d]})
    return out.sort_values(["Silent (d)", "Room"], ascending=[False, True], ignore_index=True)


def describe_reference(reference: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """One line naming the reference time and its age.

    >>> describe_reference(dt.datetime(2026, 3, 31, 12), now=dt.datetime(2026, 4, 2, 12))
    'Newest study in the store: 2026-03-31 12:00 (2.0 days ago). Periods count back from it.'
    """
    if reference is None:
        return "The store holds no dated study yet."
    age = ((now or dt.datetime.now()) - reference).total_seconds() / 86400.0
    return f"Newest study in the store: {reference:%Y-%m-%d %H:%M} ({age:.1f} days ago). Periods count back from it."


def styled(table: pd.DataFrame | NoExams) -> Any:
    """``table`` for display, the one formatter of every dashboard table: no index, no :data:`HIDDEN` column,
    dates as ``YYYY-MM-DD HH:MM``, durations in days (``(d)`` headers) with one decimal, other floats with four
    significant digits (never pandas' ``272.180000``), missing values as "–" (a :class:`NoExams` as it is).

    >>> styled(pd.DataFrame({"Median (mGy)": [272.18], "Silent (d)": [3.25], "exam": [7]})).to_html().count("272.2")
    1
    """
    if isinstance(table, NoExams):
        return table
    out = table.drop(columns=[c for c in HIDDEN if c in table.columns])
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M")
    formats = {c: "{:.1f}" if str(c).endswith("(d)") else "{:.4g}"
               for c in out.columns if pd.api.types.is_float_dtype(out[c])}
    return out.style.hide(axis="index").format(formats, na_rep="–")


class Views:
    """The overview's views as functions of the widgets' values, for ``ipywidgets.interactive_output``: each
    displays its table (and chart) or the sentence of an empty selection.

    Parameters
    ----------
    store
        The store, opened read-only.
    reference
        The reference time (:func:`reference_time`).
    stale_days
        Silence after which a room has stopped sending [d].
    """

    def __init__(self, store: Store, reference: dt.datetime | None, *, stale_days: float = STALE_DAYS) -> None:
        self.store, self.reference, self.stale_days = store, reference, stale_days

    def _show(self, table: pd.DataFrame | NoExams, chart: Any = None) -> None:
        from IPython.display import display

        if chart is not None and not isinstance(table, NoExams):
            display(chart(table))
        display(styled(table))

    def exams(self, period: str, modality: str, room: str) -> None:
        """Studies per modality and room: chart and table."""
        self._show(exam_table(self.store, filters_for(self.reference, period, modality, room)), exam_chart)

    def workload(self, period: str, modality: str, room: str) -> None:
        """Studies per weekday × hour: heat map (the table stays in the chart's tooltips)."""
        from IPython.display import display

        table = workload_table(self.store, filters_for(self.reference, period, modality, room))
        display(table if isinstance(table, NoExams) else workload_chart(table))

    def alerts(self, period: str, modality: str, room: str) -> None:
        """Open alerts of the selection."""
        self._show(open_alerts_table(self.store, filters_for(self.reference, period, modality, room)))

    def freshness(self, period: str, modality: str, room: str) -> None:
        """Last study per room and device; rooms that stopped sending first."""
        self._show(freshness_table(self.store, self.reference, filters_for(self.reference, period, modality, room),
                                   stale_days=self.stale_days))
