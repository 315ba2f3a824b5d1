"""The DRL compliance explorer (``dashboards/drl_compliance.ipynb``): one metric at a time, so that every header
and axis carries its unit.

Filters: metric (which fixes the modality), room, standard name, period, patient group, DRL set. Views: the audit
(room medians against the DRL), monthly medians with the DRL line, a box plot per room, single exams above the
DRL (per-exam metrics; no identifiers shown) and the local DRLs derived from the room medians (ICRP 135).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pandas as pd

from dmslab.analysis.drl import DRL_SETS, derive_local_drls, drl_audit, drl_references, study_exceedances
from dmslab.analysis.stats import METRICS, Filters, distribution, monthly_medians
from dmslab.dashboards.overview import ALL, PERIODS, NoExams, _nothing, styled
from dmslab.store import Store

if TYPE_CHECKING:
    import altair as alt

__all__ = ["DRL_SET_OPTIONS", "LABELS", "METRIC_OPTIONS", "PATIENT_GROUPS", "Views", "audit_table", "box_chart",
           "exceedance_table", "explorer_filters", "local_drl_table", "monthly_chart", "standard_names"]

#: Each metric as a person reads it, with its unit (the labels of the filter, headers and axes).
LABELS: dict[str, str] = {"ctdivol_mgy": "CTDIvol (mGy)", "dlp_mgycm": "DLP (mGy·cm)", "dap_gym2": "DAP (Gy·m²)",
                          "agd_mgy": "AGD (mGy)", "total_dap_gym2": "DAP per exam (Gy·m²)",
                          "total_rp_dose_gy": "Ka,r (Gy)", "fluoro_time_s": "Fluoroscopy time (s)"}
#: The metric filter's choices: (label, metric).
METRIC_OPTIONS: list[tuple[str, str]] = [(label, name) for name, label in LABELS.items()]
#: The DRL sets offered: the national sets and the site's own (``local``).
DRL_SET_OPTIONS: list[str] = [*DRL_SETS, "local"]
#: Patient groups offered (any band :func:`dmslab.store.patient_band` reads also works in code).
PATIENT_GROUPS = ("adult", "paediatric age 0-1 years", "paediatric age 1-5 years", "paediatric age 5-10 years",
                  "paediatric age 10-15 years")


def explorer_filters(reference: dt.datetime | None, *, metric: str, period: str, room: str = ALL,
                     standard_name: str = ALL, patient_group: str = "adult") -> Filters:
    """The filters of the widgets' values (the metric gives the modality)."""
    if metric not in LABELS:
        raise ValueError(f"metric {metric!r} not in {list(LABELS)}")
    days = PERIODS[period]
    return Filters(start=None if days is None or reference is None else reference - dt.timedelta(days=days),
                   modality=METRICS[metric].modality, rooms=None if room == ALL else (room,),
                   standard_names=None if standard_name == ALL else (standard_name,), patient_group=patient_group)


def audit_table(store: Store, filters: Filters, *, metric: str, drl_set: str = "UK",
                min_n: int = 10) -> pd.DataFrame | NoExams:
    """Room medians of ``metric`` against the DRL: ``Room, Exam, Values (n), Median <unit>, DRL <unit>,
    Median / DRL, Status``, the highest ratio first."""
    a = drl_audit(store, drl_set=drl_set, filters=filters, min_n=min_n, metrics=(metric,))
    if filters.standard_names:
        a = a[a["standard_name"].isin(filters.standard_names)]
    if a.empty:
        return _nothing(filters)
    unit = LABELS[metric].split(" (")[-1].rstrip(")")
    out = pd.DataFrame({"Room": a["room"], "Exam": a["standard_name"], "Values (n)": a["n"],
                        f"Median ({unit})": a["median"], f"DRL ({unit})": a["drl"], "Median / DRL": a["ratio"],
                        "Status": a["status"]})
    return out.sort_values("Median / DRL", ascending=False, na_position="last", ignore_index=True)


def monthly_chart(store: Store, filters: Filters, *, metric: str, drl_set: str = "UK") -> alt.LayerChart | NoExams:
    """Monthly median per standard name, with the DRL of each as a dashed line."""
    import altair as alt

    m = monthly_medians(store, metric, by=("standard_name",), filters=filters)
    if m.empty:
        return _nothing(filters)
    refs = drl_references(drl_set, patient_group=filters.patient_group or "adult", store=store)
    refs = refs[(refs["metric"] == metric) & refs["standard_name"].isin(m["standard_name"])]
    data = m.rename(columns={"standard_name": "Exam", "month": "Month", "median": LABELS[metric]})
    line = alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("Month:O", title="Month"), y=alt.Y(f"{LABELS[metric]}:Q", title=f"Median {LABELS[metric]}"),
        color="Exam:N", tooltip=["Exam", "Month", "n", LABELS[metric]])
    rule = alt.Chart(refs.rename(columns={"standard_name": "Exam", "drl": "DRL"})).mark_rule(strokeDash=[6, 3]) \
        .encode(y="DRL:Q", color="Exam:N", tooltip=["Exam", "DRL", "source"])
    return (line + rule).properties(title=f"Monthly median {LABELS[metric]} (dashed: DRL {drl_set})", width=460,
                                    height=240)


def box_chart(store: Store, filters: Filters, *, metric: str) -> alt.LayerChart | NoExams:
    """The distribution of ``metric`` per room (box plot of :func:`dmslab.analysis.stats.distribution`, computed
    on the store's columnar copy: one row per room reaches the browser; at 10^6 events the raw values were
    333 334 rows, over altair's limit of 5 000)."""
    import altair as alt

    stats = distribution(store, metric, by=("room",), filters=filters).rename(columns={"room": "Room"})
    if stats.empty:
        return _nothing(filters)
    base = alt.Chart(stats).encode(x=alt.X("Room:N"))
    whiskers = base.mark_rule().encode(y=alt.Y("low:Q", title=LABELS[metric]), y2="high:Q")
    box = base.mark_bar(size=24).encode(y="q1:Q", y2="q3:Q", tooltip=["Room", "n", "q1", "median", "q3"])
    median = base.mark_tick(color="white", size=24).encode(y="median:Q")
    return (whiskers + box + median).properties(title=f"{LABELS[metric]} per room", width=460, height=220)


def exceedance_table(store: Store, filters: Filters, *, metric: str, drl_set: str = "UK") -> pd.DataFrame | NoExams:
    """Single exams above the DRL (per-exam metrics only): ``Date, Room, Exam, <label>, DRL, Value / DRL``; no
    UID."""
    if METRICS[metric].level != "study":
        return NoExams(f"{LABELS[metric]} is judged per event: single exams are listed for per-exam metrics "
                       "(DLP, DAP per exam, Ka,r).")
    e = study_exceedances(store, drl_set=drl_set, metric=metric, filters=filters)
    if filters.standard_names:
        e = e[e["standard_name"].isin(filters.standard_names)]
    if e.empty:
        return _nothing(filters, "exams above the DRL")
    unit = LABELS[metric].split(" (")[-1].rstrip(")")
    return pd.DataFrame({"Date": pd.to_datetime(e["study_datetime"]).dt.strftime("%Y-%m-%d %H:%M"),
                         "Room": e["room"], "Exam": e["standard_name"], LABELS[metric]: e["value"],
                         f"DRL ({unit})": e["drl"], "Value / DRL": e["ratio"]}).reset_index(drop=True)


def local_drl_table(store: Store, filters: Filters, *, metric: str, min_n: int = 10) -> pd.DataFrame | NoExams:
    """Local DRLs: the 75th percentile of the room medians (rooms with at least ``min_n`` values)."""
    d = derive_local_drls(store, filters=filters, min_n=min_n)
    d = d[d["metric"] == metric]
    if filters.standard_names:
        d = d[d["standard_name"].isin(filters.standard_names)]
    if d.empty:
        return _nothing(filters, f"rooms with {min_n} or more values")
    unit = LABELS[metric].split(" (")[-1].rstrip(")")
    return pd.DataFrame({"Exam": d["standard_name"], "Rooms (n)": d["n_groups"], "Values (n)": d["n"],
                         f"Local DRL ({unit})": d["local_drl"]}).reset_index(drop=True)


class Views:
    """The explorer's views as functions of the widgets' values (for ``ipywidgets.interactive_output``)."""

    def __init__(self, store: Store, reference: dt.datetime | None, *, min_n: int = 10) -> None:
        self.store, self.reference, self.min_n = store, reference, min_n

    def _filters(self, metric: str, period: str, room: str, standard_name: str, patient_group: str) -> Filters:
        return explorer_filters(self.reference, metric=metric, period=period, room=room,
                                standard_name=standard_name, patient_group=patient_group)

    def audit(self, metric: str, period: str, room: str, standard_name: str, patient_group: str,
              drl_set: str) -> None:
        """Audit table, monthly medians with the DRL, box plot per room."""
        from IPython.display import display

        f = self._filters(metric, period, room, standard_name, patient_group)
        display(monthly_chart(self.store, f, metric=metric, drl_set=drl_set))
        display(styled(audit_table(self.store, f, metric=metric, drl_set=drl_set, min_n=self.min_n)))
        display(box_chart(self.store, f, metric=metric))

    def exams(self, metric: str, period: str, room: str, standard_name: str, patient_group: str,
              drl_set: str) -> None:
        """Single exams above the DRL and the local DRLs of the selection."""
        from IPython.display import display

        f = self._filters(metric, period, room, standard_name, patient_group)
        display(styled(exceedance_table(self.store, f, metric=metric, drl_set=drl_set)))
        display(styled(local_drl_table(self.store, f, metric=metric, min_n=self.min_n)))


def standard_names(store: Store) -> list[str]:
    """The standard names that have studies, after :data:`ALL`."""
    from dmslab.analysis.stats import exam_counts

    names = exam_counts(store, by=("standard_name",))["standard_name"].dropna()
    return [ALL, *sorted(names.unique())]


