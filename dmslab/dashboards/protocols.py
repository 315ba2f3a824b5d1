"""The protocol explorer (``dashboards/protocol_explorer.ipynb``): dose and technique of one protocol over time,
per room, with the changes :mod:`dmslab.analysis.changes` detects and the patient-size adjustment of
:mod:`dmslab.analysis._size`.

Filters: modality, room, protocol (the study description; the choices follow modality and room), quantity,
period, size adjustment on/off. The exams of the protocol come from the store one row per exam (events averaged
in SQL, :func:`dmslab.store.protocol_exams`); change detection runs per room on that series, exactly as
:func:`dmslab.analysis.changes.detect_changes` does for the scheduled report. No identifiers are shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dmslab.analysis._size import ADJUSTABLE, SizeConfig, size_adjust
from dmslab.analysis.changes import CT_METRICS, PROJ_METRICS, detect_changes, size_adjustments
from dmslab.analysis.device_events import DEFAULT_WINDOW_DAYS, device_updates, with_device_events
from dmslab.analysis.stats import Filters
from dmslab.dashboards._tables import shown
from dmslab.dashboards.drilldown import Drilldown
from dmslab.dashboards.overview import ALL, NoExams, _nothing, filters_for
from dmslab.store import Store, protocol_counts, protocol_exams

if TYPE_CHECKING:
    import altair as alt

__all__ = ["LABELS", "MODALITIES", "TECHNIQUE", "Views", "changes_table", "exam_frame", "protocol_options",
           "quantity_options", "series_chart", "series_table", "size_table", "technique_chart", "technique_table"]

#: Each quantity as a person reads it, with its unit.
LABELS: dict[str, str] = {"ctdivol_mgy": "CTDIvol (mGy)", "dlp_mgycm": "DLP (mGy·cm)", "ma": "Tube current (mA)",
                          "mas": "Effective mAs (mA·s)", "kvp": "Tube voltage (kV)", "pitch": "Pitch factor (ratio)",
                          "collimation_mm": "Collimation (mm)", "dap_gym2": "DAP (Gy·m²)", "agd_mgy": "AGD (mGy)"}
#: Modalities the explorer offers.
MODALITIES = ("CT", "DX", "MG", "RF")
#: Technique quantities charted per modality.
TECHNIQUE: dict[str, tuple[str, ...]] = {"CT": ("kvp", "mas", "pitch", "collimation_mm"), "DX": ("kvp",),
                                         "MG": ("kvp",), "RF": ("kvp",)}
_SIZE = {"dw_cm": ("water-equivalent diameter", "cm"), "weight_kg": ("weight", "kg")}


def _kinds(modality: str) -> dict[str, str]:
    return CT_METRICS if modality == "CT" else {k: v for k, v in PROJ_METRICS.items() if k in LABELS}


def quantity_options(modality: str) -> list[tuple[str, str]]:
    """The quantity filter's choices of ``modality``: (label with unit, quantity)."""
    return [(LABELS[m], m) for m in _kinds(modality) if m in LABELS]


def protocol_options(store: Store, modality: str, room: str = ALL) -> list[tuple[str, str]]:
    """The protocols (study descriptions) of ``modality`` in ``room``, the busiest first: (``"name (n exams)"``,
    name)."""
    counts = protocol_counts(store, selection=Filters(modality=modality, rooms=None if room == ALL else (room,)))
    per = counts.groupby("protocol")["n_exams"].sum().sort_values(ascending=False, kind="stable")
    return [(f"{p} ({n} exams)", str(p)) for p, n in per.items()]


def exam_frame(store: Store, filters: Filters, *, protocol: str) -> pd.DataFrame:
    """The exams of ``protocol`` in the selection, one row per exam, ordered by room and time (as
    :func:`dmslab.analysis.changes.exam_series` orders them)."""
    df = protocol_exams(store, filters, protocol=protocol)
    df["study_datetime"] = pd.to_datetime(df["study_datetime"])
    for col in ("weight_kg", "height_m", "dw_cm"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df.sort_values(["room", "study_datetime", "study_id"]).reset_index(drop=True)


def _none(filters: Filters, protocol: str) -> NoExams:
    """"No exams match protocol ..., modality ..., room ...": the sentence of an empty selection."""
    return NoExams(_nothing(filters).text.replace("No exams match ", f"No exams match protocol {protocol}, ", 1))


def _series(g: pd.DataFrame, metric: str, kind: str) -> pd.DataFrame:
    """The exams of one room's series that have the quantity (dose: > 0), as change detection counts them."""
    g = g[g[metric].notna()]
    return g[g[metric] > 0] if kind == "continuous" else g


def series_table(store: Store, filters: Filters, *, protocol: str, metric: str, adjust: bool = True,
                 size_config: SizeConfig | None = None) -> pd.DataFrame | NoExams:
    """One row per exam of the protocol: ``Study date, Room, <quantity>``, the value charted (size-adjusted
    when ``adjust`` and the series allows it, else the value itself), the segment between detected changes
    and its median. Hidden key column ``exam`` (the store's row id, for the drill-down; not an identifier)."""
    modality = filters.modality or "CT"
    kind = _kinds(modality).get(metric)
    if kind is None:
        raise ValueError(f"quantity {metric!r} not in {list(_kinds(modality))} for {modality}")
    exams = exam_frame(store, filters, protocol=protocol)
    cfg = size_config or SizeConfig()
    changes = detect_changes(exams, metrics=[metric], adjust_size=adjust, size_config=cfg) if len(exams) else None
    label, parts = LABELS[metric], []
    for room, g in exams.groupby("room", sort=True):
        g = _series(g, metric, kind)
        values = g[metric].to_numpy(dtype=float)
        if adjust and metric in ADJUSTABLE and len(g):
            values = size_adjust(values, g, cfg)[0]
        at = changes.loc[changes["room"] == room, "change_exam"].to_numpy() if changes is not None else []
        segment = np.searchsorted(np.sort(np.asarray(at, dtype=int)), np.arange(len(g)), side="right")
        parts.append(pd.DataFrame({"Study date": g["study_datetime"].to_numpy(), "Room": room,
                                   label: g[metric].to_numpy(dtype=float), f"Charted {label}": values,
                                   "Segment (n)": segment + 1, "exam": g["study_id"].to_numpy()}))
    if not parts or not sum(len(p) for p in parts):
        return _none(filters, protocol)
    out = pd.concat(parts, ignore_index=True)
    out[f"Segment median {label}"] = out.groupby(["Room", "Segment (n)"])[f"Charted {label}"].transform("median")
    return out


def series_chart(table: pd.DataFrame, metric: str) -> alt.LayerChart:
    """The charted value per exam (points), the segment medians (lines) and the changes (dashed rules)."""
    import altair as alt

    label = LABELS[metric]
    data = table.drop(columns=["exam"])
    base = alt.Chart(data).encode(x=alt.X("Study date:T", title="Study date"), color=alt.Color("Room:N"))
    points = base.mark_circle(size=40).encode(y=alt.Y(f"Charted {label}:Q", title=f"Charted {label}"),
                                              tooltip=list(data.columns))
    medians = base.mark_line(strokeWidth=2).encode(y=f"Segment median {label}:Q",
                                                   detail="Segment (n):O")
    starts = data[data["Segment (n)"] > 1].groupby(["Room", "Segment (n)"], as_index=False)["Study date"].min()
    rules = alt.Chart(starts).mark_rule(strokeDash=[6, 3]).encode(x="Study date:T", color="Room:N",
                                                                   tooltip=["Room", "Study date"])
    return (points + medians + rules).properties(
        title=f"{label} per exam (lines: medians between detected changes; dashed: a change)", width=560, height=260)


def _fmt(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def changes_table(store: Store, filters: Filters, *, protocol: str, adjust: bool = True,
                  size_config: SizeConfig | None = None,
                  window_days: float = DEFAULT_WINDOW_DAYS) -> pd.DataFrame | NoExams:
    """Every change detected in the protocol's dose and technique, per room: ``Room, Quantity, Changed on,
    Detected on, Exams (n), Before, After`` (medians, categories: modes, in the unit of the quantity), ``Shift (%)``
    with its ``95 % CI (%)``, ``p``, the size adjustment and the device updates of the room within
    ``window_days`` of the change (:mod:`dmslab.analysis.device_events`)."""
    exams = exam_frame(store, filters, protocol=protocol)
    if exams.empty:
        return _none(filters, protocol)
    known = [m for m in _kinds(filters.modality or "CT") if m in exams.columns]
    c = detect_changes(exams, metrics=known, adjust_size=adjust, size_config=size_config or SizeConfig())
    c = with_device_events(c, device_updates(store), window_days=window_days)
    if c.empty:
        return NoExams(f"No change detected in {len(exams)} exams of {protocol} (each room's series is watched "
                       "for a step in dose or technique; see dmslab.analysis.changes).")
    pct = [f"{100 * lo:+.0f} to {100 * hi:+.0f}" if _fmt(lo) is not None and _fmt(hi) is not None and kind ==
           "continuous" else "" for lo, hi, kind in zip(c["ci_low"], c["ci_high"], c["kind"], strict=True)]
    return pd.DataFrame({"Room": c["room"], "Quantity": c["metric"].map(LABELS),
                         "Changed on": c["change_datetime"].dt.strftime("%Y-%m-%d"),
                         "Detected on": c["alarm_datetime"].dt.strftime("%Y-%m-%d"), "Exams (n)": c["n_exams"],
                         "Before (unit of the quantity)": c["before"], "After (unit of the quantity)": c["after"],
                         "Shift (%)": 100 * c["rel_shift"].astype(float), "95 % CI (%)": pct,
                         "p (nominal)": c["p_value"], "Size adjustment": c["size_adjustment"],
                         "Device update nearby": c["device_event"]})


def technique_table(store: Store, filters: Filters, *, protocol: str) -> pd.DataFrame | NoExams:
    """The technique per exam in long form: ``Study date, Room, Quantity, Value (unit of the quantity)``."""
    exams = exam_frame(store, filters, protocol=protocol)
    cols = [m for m in TECHNIQUE[filters.modality or "CT"] if m in exams.columns]
    long = exams.melt(id_vars=["study_datetime", "room"], value_vars=cols, var_name="q", value_name="v").dropna()
    if long.empty:
        return _none(filters, protocol)
    return pd.DataFrame({"Study date": long["study_datetime"], "Room": long["room"],
                         "Quantity": long["q"].map(LABELS), "Value (unit of the quantity)": long["v"].astype(float)})


def technique_chart(table: pd.DataFrame) -> alt.FacetChart:
    """One panel per technique quantity (its own axis and unit) over time, colour: room."""
    import altair as alt

    return (alt.Chart(table).mark_circle(size=30)
            .encode(x=alt.X("Study date:T", title="Study date"), y=alt.Y("Value (unit of the quantity):Q", title=None),
                    color="Room:N", tooltip=list(table.columns))
            .properties(width=560, height=90)
            .facet(row=alt.Row("Quantity:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
            .resolve_scale(y="independent")
            .properties(title="Technique per exam"))


def size_table(store: Store, filters: Filters, *, protocol: str,
               size_config: SizeConfig | None = None) -> pd.DataFrame | NoExams:
    """How each room's dose series is size-adjusted, or why not: ``Room, Quantity, Exams (n), Size quantity,
    Exponent (ratio)`` (d log dose / d log size), its 95 % CI, ``Reference size`` (with unit) and the note."""
    exams = exam_frame(store, filters, protocol=protocol)
    if exams.empty:
        return _none(filters, protocol)
    metrics = [m for m in _kinds(filters.modality or "CT") if m in ADJUSTABLE and m in exams.columns]
    s = size_adjustments(exams, metrics=metrics, size_config=size_config or SizeConfig())
    ref = [f"{r:.3g} {_SIZE[c][1]}" if c in _SIZE and _fmt(r) is not None else "" for c, r in
           zip(s["covariate"], s["reference"], strict=True)]
    return pd.DataFrame({"Room": s["room"], "Quantity": s["metric"].map(LABELS), "Exams (n)": s["n_exams"],
                         "Size quantity": [_SIZE[c][0] if c in _SIZE else "none" for c in s["covariate"]],
                         "Exponent (ratio)": s["slope"].astype(float),
                         "95 % CI low (ratio)": s["ci_low"].astype(float),
                         "95 % CI high (ratio)": s["ci_high"].astype(float), "Reference size": ref,
                         "How": s["note"]})


class Views:
    """The explorer's views as functions of the widgets' values (for ``ipywidgets.interactive_output``).

    Parameters
    ----------
    store
        The store, opened read-only.
    reference
        The reference time the periods count back from.
    size_config
        The size adjustment's fit settings (default :class:`~dmslab.analysis._size.SizeConfig`).
    viewer_url
        The viewer URL template of the drill-down (empty: ``DMSLAB_VIEWER_URL``, else no links).
    """

    def __init__(self, store: Store, reference: dt.datetime | None, *, size_config: SizeConfig | None = None,
                 viewer_url: str = "") -> None:
        self.store, self.reference, self.size_config = store, reference, size_config or SizeConfig()
        self.drill = Drilldown(store, viewer_url)

    def filters(self, modality: str, room: str, period: str) -> Filters:
        """The selection of the widgets' values."""
        return replace(filters_for(self.reference, period, modality, room), modality=modality)

    def link_choices(self, modality: Any, room: Any, protocol: Any, quantity: Any) -> None:
        """Keep the protocol and quantity choices those of the chosen modality and room (widget observers)."""
        def refresh(_change: object = None) -> None:
            for widget, options in ((protocol, protocol_options(self.store, modality.value, room.value)
                                     or [("(no protocol)", "")]), (quantity, quantity_options(modality.value))):
                keep = widget.value in [v for _label, v in options]
                widget.options = options
                widget.value = widget.value if keep else options[0][1]

        modality.observe(refresh, names="value")
        room.observe(refresh, names="value")
        refresh()

    def series(self, modality: str, room: str, protocol: str, quantity: str, period: str, adjust: bool) -> None:
        """The protocol's quantity per exam with its changes, the changes of every quantity, and a drop-down of
        the exams with the chosen one's events (and viewer link)."""
        from IPython.display import display

        f = self.filters(modality, room, period)
        if quantity not in _kinds(modality):  # the quantity choices are being refreshed
            return
        table = series_table(self.store, f, protocol=protocol, metric=quantity, adjust=adjust,
                             size_config=self.size_config)
        display(table if isinstance(table, NoExams) else series_chart(table, quantity))
        display(shown(changes_table(self.store, f, protocol=protocol, adjust=adjust, size_config=self.size_config)))
        picker = self.drill.picker(table)
        if picker is not None:
            display(picker)

    def technique(self, modality: str, room: str, protocol: str, period: str) -> None:
        """kVp, mAs, pitch and collimation per exam over time."""
        from IPython.display import display

        table = technique_table(self.store, self.filters(modality, room, period), protocol=protocol)
        display(table if isinstance(table, NoExams) else technique_chart(table))

    def size(self, modality: str, room: str, protocol: str, period: str) -> None:
        """The size adjustment of each dose series, or why there is none."""
        from IPython.display import display

        display(shown(size_table(self.store, self.filters(modality, room, period), protocol=protocol,
                                  size_config=self.size_config)))
