"""Dose vs patient size (``dashboards/dose_vs_size.ipynb``): CTDIvol against water-equivalent diameter or weight,
DLP and DAP against weight, one point per exam, with the fitted relation.

The fit is a power law ``dose = a · size^b``, fitted per room as a straight line ``log dose = log a + b · log size``
by robust regression (statsmodels ``RLM``, Huber's T norm: a mistyped weight does not pull the line), the same fit
the size adjustment of the protocol explorer uses (:mod:`dmslab.analysis._size`). Each fit states its n, the
exponent ``b`` with its 95 % CI and the dose at the median size. The values per exam come from the store
(events averaged per exam in SQL, :func:`dmslab.store.size_dose`); an empty selection gives a sentence.
Effective diameter (from AP and lateral dimensions) is not in the store; the scanner's water-equivalent
diameter is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dmslab.analysis.stats import Filters
from dmslab.dashboards._tables import shown
from dmslab.dashboards.drilldown import Drilldown
from dmslab.dashboards.overview import ALL, NoExams, _nothing, filters_for
from dmslab.store import Store, size_dose

if TYPE_CHECKING:
    import altair as alt

__all__ = ["MAX_POINTS", "PAIRS", "Pair", "Views", "fit_table", "pair_options", "size_chart", "size_table"]

#: At most this many exams are drawn (a deterministic sample); every exam counts in the fit.
MAX_POINTS = 5000
#: Fewest exams (and different sizes) a fit needs.
MIN_FIT = 5


@dataclass(frozen=True, slots=True)
class Pair:
    """One dose-against-size view: store names, modality, and the labels (with units) of both axes."""

    dose: str
    size: str
    modality: str
    dose_label: str
    size_label: str


#: The pairs offered, by key.
PAIRS: dict[str, Pair] = {
    "ct-ctdivol-dw": Pair("ctdivol_mgy", "dw_cm", "CT", "CTDIvol (mGy)", "Water-equivalent diameter (cm)"),
    "ct-ctdivol-weight": Pair("ctdivol_mgy", "weight_kg", "CT", "CTDIvol (mGy)", "Weight (kg)"),
    "ct-dlp-weight": Pair("dlp_mgycm", "weight_kg", "CT", "DLP (mGy·cm)", "Weight (kg)"),
    "dx-dap-weight": Pair("total_dap_gym2", "weight_kg", "DX", "DAP per exam (Gy·m²)", "Weight (kg)"),
    "rf-dap-weight": Pair("total_dap_gym2", "weight_kg", "RF", "DAP per exam (Gy·m²)", "Weight (kg)"),
}


def pair_options() -> list[tuple[str, str]]:
    """The pair filter's choices: (``"CT: CTDIvol (mGy) vs Weight (kg)"``, key)."""
    return [(f"{p.modality}: {p.dose_label} vs {p.size_label}", k) for k, p in PAIRS.items()]


def size_table(store: Store, filters: Filters, *, pair: str) -> pd.DataFrame | NoExams:
    """One row per exam with both values: ``Room, Exam, <size label>, <dose label>`` (hidden key ``exam``)."""
    p = PAIRS[pair]
    f = replace(filters, modality=p.modality)
    d = size_dose(store, f, dose=p.dose, size=p.size)
    if d.empty:
        text = _nothing(f).text.rstrip(".")
        return NoExams(f"{text} with both {p.dose_label} and {p.size_label} recorded.")
    return pd.DataFrame({"Room": d["room"], "Exam": d["standard_name"].fillna("(not named)"),
                         p.size_label: d["size"].astype(float), p.dose_label: d["dose"].astype(float),
                         "exam": d["exam"]})


def _fit(size: np.ndarray, dose: np.ndarray) -> tuple[float, float, float, float]:
    """Robust (Huber) fit of log dose on log size: log a, b and the 95 % CI of b."""
    import statsmodels.api as sm

    res = sm.RLM(np.log(dose), sm.add_constant(np.log(size), has_constant="add"), M=sm.robust.norms.HuberT()).fit()
    lo, hi = res.conf_int(0.05)[1]
    return float(res.params[0]), float(res.params[1]), float(lo), float(hi)


def fit_table(table: pd.DataFrame, *, pair: str) -> pd.DataFrame:
    """The power-law fit per room and for every room together: ``Room, Exams (n), Exponent b (ratio)``, its 95 %
    CI, ``Median <size label>``, ``<dose label> at median size`` and the fit named in ``Fit``."""
    p = PAIRS[pair]
    groups = [(str(r), g) for r, g in table.groupby("Room", sort=True)]
    if len(groups) > 1:
        groups.append(("every room", table))
    rows = []
    for room, g in groups:
        x, y = g[p.size_label].to_numpy(float), g[p.dose_label].to_numpy(float)
        med = float(np.median(x))
        row = {"Room": room, "Exams (n)": len(g), "Exponent b (ratio)": np.nan, "95 % CI low (ratio)": np.nan,
               "95 % CI high (ratio)": np.nan, f"Median {p.size_label}": med,
               f"{p.dose_label} at median size": np.nan, "Fit": f"too few exams (a fit needs {MIN_FIT})"}
        if len(g) >= MIN_FIT and len(np.unique(x)) >= 3:
            log_a, b, lo, hi = _fit(x, y)
            row.update({"Exponent b (ratio)": b, "95 % CI low (ratio)": lo, "95 % CI high (ratio)": hi,
                        f"{p.dose_label} at median size": float(np.exp(log_a + b * np.log(med))),
                        "Fit": "dose = a · size^b, robust (Huber) regression of log dose on log size"})
        rows.append(row)
    return pd.DataFrame(rows)


def _curves(fits: pd.DataFrame, table: pd.DataFrame, p: Pair) -> pd.DataFrame:
    parts = []
    for fit in fits[fits["Exponent b (ratio)"].notna() & (fits["Room"] != "every room")].itertuples(index=False):
        x = table.loc[table["Room"] == fit[0], p.size_label]
        grid = np.linspace(float(x.min()), float(x.max()), 25)
        b, med, at_med = fit[2], fit[5], fit[6]
        parts.append(pd.DataFrame({"Room": fit[0], p.size_label: grid, p.dose_label: at_med * (grid / med) ** b}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["Room", p.size_label, p.dose_label])


def size_chart(table: pd.DataFrame, *, pair: str) -> alt.LayerChart:
    """One point per exam (a sample of :data:`MAX_POINTS` when there are more) and the fitted curve per room."""
    import altair as alt

    p = PAIRS[pair]
    fits = fit_table(table, pair=pair)
    points = table.drop(columns=["exam"])
    drawn = points if len(points) <= MAX_POINTS else points.sample(MAX_POINTS, random_state=0)
    x = alt.X(f"{p.size_label}:Q", title=p.size_label, scale=alt.Scale(zero=False))
    y = alt.Y(f"{p.dose_label}:Q", title=p.dose_label, scale=alt.Scale(zero=False))
    dots = alt.Chart(drawn).mark_circle(size=30, opacity=0.6).encode(x=x, y=y, color="Room:N",
                                                                      tooltip=list(drawn.columns))
    lines = alt.Chart(_curves(fits, table, p)).mark_line(strokeWidth=2).encode(x=x, y=y, color="Room:N")
    shown_n = f", {len(drawn)} drawn" if len(drawn) < len(points) else ""
    return (dots + lines).properties(
        title=f"{p.dose_label} vs {p.size_label} (n = {len(points)} exams{shown_n}; "
              "lines: robust power-law fit per room)", width=520, height=300)


class Views:
    """The views as functions of the widgets' values (for ``ipywidgets.interactive_output``); ``viewer_url`` is
    the drill-down's viewer URL template (empty: ``DMSLAB_VIEWER_URL``, else no links)."""

    def __init__(self, store: Store, reference: dt.datetime | None, *, viewer_url: str = "") -> None:
        self.store, self.reference = store, reference
        self.drill = Drilldown(store, viewer_url)

    def filters(self, room: str, standard_name: str, period: str) -> Filters:
        """The selection of the widgets' values (the pair gives the modality)."""
        return replace(filters_for(self.reference, period, ALL, room),
                       standard_names=None if standard_name == ALL else (standard_name,))

    def scatter(self, pair: str, room: str, standard_name: str, period: str) -> None:
        """The chart and the fit table of the selection, and a drop-down of its exams (highest dose first) with
        the chosen one's events."""
        from IPython.display import display

        table = size_table(self.store, self.filters(room, standard_name, period), pair=pair)
        if isinstance(table, NoExams):
            display(table)
            return
        display(size_chart(table, pair=pair))
        display(shown(fit_table(table, pair=pair)))
        p = PAIRS[pair]
        ranked = table.sort_values(p.dose_label, ascending=False)  # the highest doses first
        display(self.drill.picker(ranked, columns=("Room", "Exam", p.size_label, p.dose_label)))
