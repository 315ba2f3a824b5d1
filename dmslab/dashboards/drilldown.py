"""Drill-down from an exam row to its events, and the link that opens its images in the site's viewer.

A view's exam table keeps the store's row id of each exam in a hidden column ``exam`` (a row number of the
store, not an identifier). :meth:`Drilldown.picker` turns such a table into a drop-down of its exams (date,
room, protocol: no identifier) wired to the exam's event table (:func:`event_table`, units in every header) and,
when the site has a ``viewer_url`` template (:func:`viewer_template`), a link "open images" whose address is the
template filled with the exam's Study Instance UID (URL-quoted). The UID goes into the link's address only, never
into the page's text; without a template there is no link and no error. (The only placeholder is
``{study_uid}``: the store keeps accession numbers only as keyed pseudonyms, see :mod:`dmslab.config`.)
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pandas as pd

from dmslab.config import check_viewer_url
from dmslab.dashboards._tables import shown
from dmslab.dashboards.overview import NoExams
from dmslab.store import Store, exam_events, exam_uids

__all__ = ["EVENT_LABELS", "Drilldown", "ViewerLink", "event_table", "exam_options", "viewer_link",
           "viewer_template"]

#: Event columns as a person reads them, with units.
EVENT_LABELS: dict[str, str] = {
    "event_datetime": "Event time", "event_type": "Type", "plane": "Plane", "acquisition_protocol": "Protocol",
    "acquisition_type": "Acquisition", "target_region": "Region", "ctdivol_mgy": "CTDIvol (mGy)",
    "dlp_mgycm": "DLP (mGy·cm)", "phantom_cm": "Phantom (cm)", "scan_length_mm": "Scan length (mm)",
    "kvp": "Tube voltage (kV)", "ma": "Tube current (mA)", "rotation_time_s": "Rotation time (s)",
    "pitch": "Pitch factor (ratio)", "collimation_mm": "Collimation (mm)", "dw_cm": "Dw (cm)",
    "ssde_mgy": "SSDE (mGy)", "dap_gym2": "DAP (Gy·m²)", "rp_dose_gy": "Ka,r (Gy)", "agd_mgy": "AGD (mGy)",
    "pulse_rate": "Pulse rate (1/s)", "irradiation_duration_s": "Duration (s)",
    "exposure_time_ms": "Exposure time (ms)", "filter_material": "Filter", "filter_thickness_mm": "Filter (mm)",
    "field_area_m2": "Field area (m²)", "primary_angle_deg": "Primary angle (°)",
    "secondary_angle_deg": "Secondary angle (°)", "dsd_mm": "SID (mm)"}


def viewer_template(viewer_url: str = "") -> str:
    """The site's viewer URL template: ``viewer_url``, else ``DMSLAB_VIEWER_URL``, else empty (no links).

    Raises
    ------
    ConfigError
        For a template that :func:`dmslab.config.check_viewer_url` rejects.
    """
    template = viewer_url or os.environ.get("DMSLAB_VIEWER_URL", "")
    check_viewer_url(template)
    return template


def viewer_link(template: str, *, study_uid: object) -> str | None:
    """The viewer URL of one exam, the UID URL-quoted; ``None`` without a template or without a UID.

    >>> viewer_link("https://pacs/v?study={study_uid}", study_uid="1.2.3 &")
    'https://pacs/v?study=1.2.3%20%26'
    >>> viewer_link("", study_uid="1.2.3") is None, viewer_link("https://pacs/{study_uid}", study_uid=None) is None
    (True, True)
    """
    if not template or study_uid is None or str(study_uid) == "":
        return None
    return template.format(study_uid=quote(str(study_uid), safe=""))


@dataclass(frozen=True, slots=True)
class ViewerLink:
    """A link that opens an exam's images (shown as "open images"; the address holds the UID)."""

    url: str

    def _repr_html_(self) -> str:
        return f'<p><a href="{html.escape(self.url)}" target="_blank" rel="noopener">open images</a></p>'


def event_table(store: Store, exam: int) -> pd.DataFrame | NoExams:
    """The events of exam ``exam`` with units in the headers; the columns no event has are left out."""
    modality, ev = exam_events(store, exam)
    if modality is None:
        return NoExams(f"No exam {exam} in the store.")
    ev = ev.dropna(axis=1, how="all")
    if ev.empty:
        return NoExams("No irradiation events are stored for this exam.")
    if "event_datetime" in ev:
        ev["event_datetime"] = pd.to_datetime(ev["event_datetime"])
    return ev.rename(columns=EVENT_LABELS)


def exam_options(table: pd.DataFrame, *, columns: tuple[str, ...] = ("Study date", "Room", "Protocol")
                 ) -> list[tuple[str, int]]:
    """The exams of a view's table (hidden key ``exam``) as drop-down choices: ("date · room · protocol", exam),
    one per exam, in the table's order."""
    shown_cols = [c for c in columns if c in table.columns]
    out, seen = [], set()
    for row in table.to_dict("records"):
        if row["exam"] in seen:
            continue
        seen.add(row["exam"])
        parts = [f"{pd.Timestamp(row[c]):%Y-%m-%d %H:%M}" if c == "Study date" else
                 f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in shown_cols]
        out.append((" · ".join(parts), int(row["exam"])))
    return out


class Drilldown:
    """Exam rows to their events and images.

    Parameters
    ----------
    store
        The store, opened read-only.
    viewer_url
        The viewer URL template (:func:`viewer_template`; empty: no links).
    """

    def __init__(self, store: Store, viewer_url: str = "") -> None:
        self.store, self.template = store, viewer_template(viewer_url)

    def link(self, exam: int) -> ViewerLink | None:
        """The exam's viewer link, ``None`` without a template (or without the values it needs)."""
        if not self.template:
            return None
        url = viewer_link(self.template, study_uid=exam_uids(self.store, [exam]).get(int(exam)))
        return ViewerLink(url) if url else None

    def show(self, exam: int | None) -> None:
        """Display the exam's viewer link (when there is one) and its event table."""
        from IPython.display import display

        if exam is None:
            display(NoExams("No exam chosen."))
            return
        link = self.link(exam)
        if link is not None:
            display(link)
        display(shown(event_table(self.store, exam)))

    def picker(self, table: pd.DataFrame | NoExams, *, description: str = "Exam events",
               show: Callable[[int | None], None] | None = None,
               columns: tuple[str, ...] = ("Study date", "Room", "Protocol")) -> Any:
        """A drop-down of the table's exams and, below it, the chosen exam's events (``show``, default
        :meth:`show`), as an ipywidgets box; ``columns`` label the choices (:func:`exam_options`). An empty
        table gives nothing to pick (``None``)."""
        import ipywidgets as widgets

        if isinstance(table, NoExams) or table.empty:
            return None
        choose = widgets.Dropdown(options=exam_options(table, columns=columns), description=description,
                                  layout={"width": "520px"})
        return widgets.VBox([choose, widgets.interactive_output(show or self.show, {"exam": choose})])
