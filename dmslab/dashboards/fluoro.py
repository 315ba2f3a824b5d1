"""The high-dose fluoroscopy review (``dashboards/high_dose_fluoro.ipynb``): RF/XA cases above the trigger levels
of the alert rules, their events, and the slot of the skin-dose map.

The cases are those :func:`dmslab.analysis.alerts.high_dose_cases` flags (the site's rules, default
:func:`~dmslab.analysis.alerts.default_alert_config`: Ka,r 3 Gy and 5 Gy, KAP 500 Gy·cm² after NCRP 168);
nothing is raised or sent. Each case row has its events counted and summed per event type in SQL
(:func:`dmslab.store.proj_event_totals`); choosing a case shows its events (:mod:`dmslab.dashboards.drilldown`)
and the slot :func:`skin_dose_map` where the skin-dose map will go (another issue). No identifiers are shown.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pandas as pd

from dmslab.analysis.alerts import AlertConfig, default_alert_config, high_dose_cases, load_alert_config
from dmslab.analysis.stats import Filters
from dmslab.dashboards._tables import shown
from dmslab.dashboards.drilldown import Drilldown, event_table
from dmslab.dashboards.overview import ALL, NoExams, _nothing, filters_for
from dmslab.store import Store, exam_ids, proj_event_totals

if TYPE_CHECKING:
    import altair as alt

__all__ = ["FLUORO_MODALITIES", "SkinDoseSlot", "Views", "case_table", "event_chart", "modality_options",
           "rules", "skin_dose_map", "trigger_table"]

#: The modalities of the review (fluoroscopy and interventional).
FLUORO_MODALITIES = ("RF", "XA")
_QUANTITIES = {"total_rp_dose_gy": "Ka,r", "total_dap_gym2": "KAP (DAP)", "fluoro_time_s": "Fluoroscopy time",
               "peak_skin_dose_gy": "Peak skin dose"}
_UNITS = {"Gy": "Gy", "Gy.m2": "Gy·m²", "s": "s", "mGy": "mGy", "mGy.cm": "mGy·cm"}


def trigger_table(config: AlertConfig) -> pd.DataFrame:
    """The fluoroscopy rules: ``Rule, Quantity, Trigger level, Unit, What for``."""
    chosen = [r for r in config.rules if r.modality in FLUORO_MODALITIES]
    return pd.DataFrame({"Rule": [r.id for r in chosen],
                         "Quantity": [_QUANTITIES.get(r.metric, r.metric) for r in chosen],
                         "Trigger level": [float(r.level) if r.level is not None else float("nan") for r in chosen],
                         "Unit": [_UNITS.get(r.unit, r.unit) for r in chosen],
                         "What for": [r.description for r in chosen]})


def rules(rules_file: str = "") -> AlertConfig:
    """The alert rules of a TOML file (:func:`dmslab.analysis.alerts.load_alert_config`), else the built-in ones."""
    return load_alert_config(rules_file) if rules_file else default_alert_config()


def _events(store: Store, exams: list[int]) -> pd.DataFrame:
    """Per exam: ``Events (n)``, ``Fluoroscopy events (n)``, ``Fluoroscopy time (s)`` of the stored events."""
    t = proj_event_totals(store, exams)
    fluoro = t[t["event_type"] == "fluoroscopy"].set_index("exam")
    return pd.DataFrame({"Events (n)": t.groupby("exam")["n_events"].sum(),
                         "Fluoroscopy events (n)": fluoro["n_events"],
                         "Fluoroscopy time (s)": fluoro["irradiation_duration_s"]}).fillna(
        {"Events (n)": 0, "Fluoroscopy events (n)": 0})


def case_table(store: Store, filters: Filters, *, config: AlertConfig | None = None) -> pd.DataFrame | NoExams:
    """The cases above a trigger level in the selection, the highest multiple of its level first: ``Study date,
    Room, Protocol, Rule, Value, Trigger level, Unit, Times the level, Acknowledged by, Events (n), Fluoroscopy
    events (n), Fluoroscopy time (s)`` and the hidden key ``exam``. One row per case and rule (value and level
    in the unit of the row)."""
    cfg = config or default_alert_config()
    ruled = {r.modality for r in cfg.rules}
    modalities = [m for m in ([filters.modality] if filters.modality else FLUORO_MODALITIES) if m in ruled]
    parts = [high_dose_cases(store, cfg, modality=m, start=filters.start, end=filters.end,
                             rooms=list(filters.rooms) if filters.rooms else None) for m in modalities]
    cases = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if cases.empty:
        return _nothing(filters, "cases above a trigger level")
    ids = exam_ids(store, cases["study_uid"].tolist())
    exam = cases["study_uid"].map(ids).astype(int)
    out = pd.DataFrame({"Study date": pd.to_datetime(cases["study_datetime"]), "Room": cases["room"],
                        "Protocol": cases["protocol"], "Rule": cases["rule_id"], "Value": cases["value"].astype(float),
                        "Trigger level": cases["level"].astype(float), "Unit": cases["unit"].map(_UNITS),
                        "Times the level": cases["times_level"].astype(float),
                        "Acknowledged by": cases["acknowledged_by"].fillna("not yet"), "exam": exam})
    out = out.join(_events(store, sorted(set(exam))), on="exam")
    return out.sort_values(["Times the level", "Study date"], ascending=[False, True], ignore_index=True)


def event_chart(events: pd.DataFrame) -> alt.Chart | NoExams:
    """The cumulative Ka,r (Gy) over the exam's events in time, colour: event type (a case's course)."""
    import altair as alt

    if "Event time" not in events or "Ka,r (Gy)" not in events:
        return NoExams("The events of this exam have no time or no Ka,r: no course to draw.")
    data = events.dropna(subset=["Event time"]).sort_values("Event time").assign(
        **{"Cumulative Ka,r (Gy)": lambda d: d["Ka,r (Gy)"].fillna(0).cumsum()})
    return (alt.Chart(data[["Event time", "Type", "Ka,r (Gy)", "Cumulative Ka,r (Gy)"]]).mark_point(filled=True)
            .encode(x=alt.X("Event time:T", title="Event time"),
                    y=alt.Y("Cumulative Ka,r (Gy):Q", title="Cumulative Ka,r (Gy)"), color=alt.Color("Type:N"),
                    tooltip=["Event time", "Type", "Ka,r (Gy)", "Cumulative Ka,r (Gy)"])
            .properties(title="Cumulative Ka,r over the exam's events", width=520, height=200))


class SkinDoseSlot:
    """The place of the skin-dose map of one exam: empty until the skin-dose calculation lands (its own issue)."""

    def __init__(self, exam: int) -> None:
        self.exam = exam

    def _repr_html_(self) -> str:
        return ('<div class="dmslab-skin-dose-slot" style="border:1px dashed #999;padding:1em;width:520px">'
                "<strong>Skin-dose map</strong><br><em>Not available yet: the skin-dose calculation (peak skin "
                "dose and map per exam) is not part of this version.</em></div>")


def skin_dose_map(store: Store, exam: int) -> Any:
    """The skin-dose map of ``exam`` for the review. Placeholder: returns the :class:`SkinDoseSlot` (the
    skin-dose work replaces this function's body with the map)."""
    return SkinDoseSlot(exam)


class Views:
    """The review's views as functions of the widgets' values (for ``ipywidgets.interactive_output``).

    Parameters
    ----------
    store
        The store, opened read-only.
    reference
        The reference time the periods count back from.
    config
        The alert rules (default: the built-in rules).
    viewer_url
        The viewer URL template (empty: ``DMSLAB_VIEWER_URL``, else no links).
    """

    def __init__(self, store: Store, reference: dt.datetime | None, *, config: AlertConfig | None = None,
                 viewer_url: str = "") -> None:
        self.store, self.reference = store, reference
        self.config = config or default_alert_config()
        self.drill = Drilldown(store, viewer_url)

    def filters(self, modality: str, room: str, period: str) -> Filters:
        """The selection of the widgets' values (``ALL`` modalities: RF and XA)."""
        return filters_for(self.reference, period, modality, room)

    def cases(self, modality: str, room: str, period: str) -> None:
        """The case table and, below it, a drop-down of its exams with the chosen one's events, course and
        skin-dose slot."""
        from IPython.display import display

        table = case_table(self.store, self.filters(modality, room, period), config=self.config)
        display(shown(table))
        picker = self.drill.picker(table, description="Case", show=self.case)
        if picker is not None:
            display(picker)

    def case(self, exam: int | None) -> None:
        """One case: viewer link, events, the course of Ka,r and the skin-dose slot."""
        from IPython.display import display

        self.drill.show(exam)
        if exam is not None:
            events = event_table(self.store, exam)
            if not isinstance(events, NoExams):
                display(event_chart(events))
            display(skin_dose_map(self.store, exam))


def modality_options(store: Store) -> list[str]:
    """``ALL`` and the fluoroscopy modalities the store has studies of."""
    from dmslab.dashboards.overview import room_options

    return [ALL, *[m for m in room_options(store)[0] if m in FLUORO_MODALITIES]]
