"""Tables a committee can read: display names with units, formatted numbers, status as words and colour, no
index column, exam rows with a viewer link instead of the Study Instance UID.

Every function returns :class:`Html` (shown as HTML in notebooks and reports, as plain text elsewhere). Texts go
through the gettext catalogue of the report's language (:mod:`dmslab.reporting._i18n`).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

import pandas as pd

from dmslab.analysis.stats import METRICS
from dmslab.reporting._i18n import format_number, translation

__all__ = ["METRIC_NAMES", "STATUS_CLASS", "Html", "audit_table", "exam_table", "frame_table", "metric_label",
           "unit_label", "viewer_link"]

#: Display names of the metrics of :data:`dmslab.analysis.stats.METRICS` (units come from there).
METRIC_NAMES = {"ctdivol_mgy": "CTDIvol", "dlp_mgycm": "DLP", "dap_gym2": "DAP", "agd_mgy": "AGD",
                "total_dap_gym2": "KAP", "total_rp_dose_gy": "Ka,r", "fluoro_time_s": "Fluoroscopy time",
                "kvp": "Tube voltage", "ma": "Tube current", "mas": "Tube current-time product", "pitch": "Pitch",
                "collimation_mm": "Collimation", "filter_material": "Filter", "dw_cm": "Water-equivalent diameter",
                "weight_kg": "Weight", "height_m": "Height"}
#: Units of the technique and patient-size quantities, which are not audit metrics (those take theirs from METRICS).
_QUANTITY_UNITS = {"kvp": "kV", "ma": "mA", "mas": "mAs", "collimation_mm": "mm", "dw_cm": "cm", "weight_kg": "kg",
                   "height_m": "m"}
#: The CSS class of each audit status (colours in :data:`CSS`).
STATUS_CLASS = {"above DRL": "status-above", "at or below DRL": "status-ok", "too few": "status-few",
                "no DRL": "status-none"}
_UNITS = {"mGy.cm": "mGy·cm", "Gy.m2": "Gy·m²", "Gy.cm2": "Gy·cm²"}

CSS = """<style>
.dmslab-report table { border-collapse: collapse; margin: 0.4em 0 1.2em; font-size: 0.92em; }
.dmslab-report th, .dmslab-report td { border: 1px solid #b8c0c8; padding: 0.25em 0.6em; }
.dmslab-report th { background: #e9eef3; text-align: left; }
.dmslab-report td { text-align: left; }
.dmslab-report td.num { text-align: right; font-variant-numeric: tabular-nums; }
.dmslab-report .status-above { background: #f8d7da; color: #842029; font-weight: bold; }
.dmslab-report .status-ok { background: #d1e7dd; color: #0f5132; }
.dmslab-report .status-few, .dmslab-report .status-none { background: #eceff1; color: #495057; }
.dmslab-report .note { color: #495057; font-size: 0.9em; }
.dmslab-title { border-bottom: 3px solid #1f4e79; margin-bottom: 1em; }
.dmslab-title .site { color: #1f4e79; font-weight: bold; margin: 0; }
.dmslab-title p { margin: 0.15em 0; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body, .jp-Notebook { padding: 0 !important; margin: 0 !important; }
  .jp-Cell, .jp-Cell-outputWrapper, .jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output {
    break-inside: auto !important; page-break-inside: auto !important; }
  .dmslab-report table { page-break-inside: auto; } .dmslab-report tr { page-break-inside: avoid; }
  .dmslab-report h3 { page-break-after: avoid; }
}
</style>"""


@dataclass(frozen=True, slots=True)
class Html:
    """A piece of a report: HTML for notebooks and reports, ``text`` for plain consoles."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text

    def __add__(self, other: Html) -> Html:
        return Html(self.html + other.html, f"{self.text}\n{other.text}")


def unit_label(unit: str) -> str:
    """A canonical unit as people write it.

    >>> unit_label("mGy.cm"), unit_label("Gy.m2"), unit_label("mGy")
    ('mGy·cm', 'Gy·m²', 'mGy')
    """
    return _UNITS.get(unit, unit)


def metric_label(metric: str, language: str = "en", *, prefix: str = "") -> str:
    """A metric's display name and unit, e.g. ``CTDIvol (mGy)``; ``prefix`` (translated) before it.

    >>> metric_label("ctdivol_mgy"), metric_label("dlp_mgycm", prefix="Median")
    ('CTDIvol (mGy)', 'Median DLP (mGy·cm)')
    >>> metric_label("dlp_mgycm", "de", prefix="Mean")
    'Mittelwert DLP (mGy·cm)'
    """
    _ = translation(language).gettext
    name = _(METRIC_NAMES.get(metric, metric))
    unit = unit_label(METRICS[metric].unit) if metric in METRICS else _QUANTITY_UNITS.get(metric, "")
    head = f"{_(prefix)} {name}" if prefix else name
    return f"{head} ({unit})" if unit else head


def viewer_link(template: str, *, study_uid: object) -> str | None:
    """The viewer URL of one exam from the site's ``viewer_url`` template, the UID URL-quoted; ``None`` without a
    template or without a UID.

    >>> viewer_link("https://pacs/v?study={study_uid}", study_uid="1.2.3 &")
    'https://pacs/v?study=1.2.3%20%26'
    >>> viewer_link("", study_uid="1.2.3") is None, viewer_link("https://pacs/{study_uid}", study_uid=None) is None
    (True, True)
    """
    if not template:
        return None
    values = {"study_uid": study_uid}
    needed = {name for _t, name, _s, _c in string.Formatter().parse(template) if name}
    if any(values.get(n) is None or pd.isna(values.get(n)) or str(values.get(n)) == "" for n in needed):
        return None
    return template.format(**{k: quote(str(v), safe="") for k, v in values.items() if k in needed})


def _cell(value: Any, language: str, *, numeric: bool, css: str = "") -> str:
    text = format_number(value, language) if numeric else ("–" if value is None or pd.isna(value) else str(value))
    classes = " ".join(c for c in ("num" if numeric else "", css) if c)
    return f'<td class="{classes}">{escape(text)}</td>' if classes else f"<td>{escape(text)}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f'<table class="dmslab-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The same table as aligned text (for consoles and ``text/plain``)."""
    import re

    plain = [[re.sub(r"<[^>]+>", "", c) for c in r] for r in rows]
    from html import unescape

    plain = [[unescape(c) for c in r] for r in plain]
    widths = [max([len(h), *(len(r[i]) for r in plain)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in plain]
    return "\n".join(line.rstrip() for line in lines)


def _wrap(html: str) -> str:
    return f'<div class="dmslab-report">{html}</div>'


def _no_rows(language: str) -> Html:
    text = translation(language).gettext("No exams match these filters.")
    return Html(_wrap(f'<p class="note">{escape(text)}</p>'), text)


def audit_table(audit: pd.DataFrame, *, language: str = "en", by: str = "room") -> Html:
    """:func:`dmslab.analysis.drl.drl_audit`'s table, one table per metric with its unit in the headers.

    Columns: room (or facility), standard name, n, median, mean, DRL, median / DRL, values above the DRL and the
    status in words and colour; the DRL sources are listed under the tables.
    """
    _ = translation(language).gettext
    if audit.empty:
        return _no_rows(language)
    parts, texts = [], []
    for metric, rows in audit.groupby("metric", sort=False):
        m = str(metric)
        headers = [_(by.capitalize()), _("Standard name"), "n", metric_label(m, language, prefix="Median"),
                   metric_label(m, language, prefix="Mean"), metric_label(m, language, prefix="DRL"),
                   _("Median / DRL"), _("Values above DRL"), _("Status")]
        cells = [[_cell(r[by], language, numeric=False), _cell(r["standard_name"], language, numeric=False),
                  _cell(r["n"], language, numeric=True), _cell(r["median"], language, numeric=True),
                  _cell(r["mean"], language, numeric=True), _cell(r["drl"], language, numeric=True),
                  _cell(r["ratio"], language, numeric=True), _cell(r["n_above"], language, numeric=True),
                  _cell(_(str(r["status"])), language, numeric=False, css=STATUS_CLASS.get(str(r["status"]), ""))]
                 for r in rows.to_dict("records")]
        title = metric_label(m, language)
        parts.append(f"<h3>{escape(title)}</h3>{_table(headers, cells)}")
        texts.append(f"{title}\n{_text_table(headers, cells)}")
    sources = sorted({str(s) for s in audit["source"].dropna()}) if "source" in audit else []
    if sources:
        note = f"{_('DRL source')}: {'; '.join(sources)}"
        parts.append(f'<p class="note">{escape(note)}</p>')
        texts.append(note)
    return Html(_wrap("".join(parts)), "\n\n".join(texts))


_VALUE_NAMES = {"local_drl": "Local DRL", "value": "Value", "drl": "DRL", "level": "Level"}
#: Columns :func:`frame_table` knows: (display text, numeric).
_COLUMNS: dict[str, tuple[str, bool]] = {
    "room": ("Room", False), "facility": ("Facility", False), "standard_name": ("Standard name", False),
    "modality": ("Modality", False), "local_name": ("Local name", False), "n_studies": ("Exams", True),
    "n_exams": ("Exams", True), "n": ("n", True), "n_groups": ("Rooms", True), "suggestions": ("Suggestions", False),
    "best": ("Best suggestion", False), "study_datetime": ("Date", False), "protocol": ("Protocol", False),
    "rule_id": ("Rule", False), "rule": ("Rule", False), "acknowledged_by": ("Acknowledged by", False),
    "explanation": ("Explanation", False), "ratio": ("Ratio", True), "study_description": ("Study description", False),
    "kind": ("Kind", False), "change_datetime": ("Changed from", False), "alarm_datetime": ("Alarm on", False),
    "rel_shift": ("Relative shift", True), "ci_low": ("95 % CI low", True), "ci_high": ("95 % CI high", True),
    "p_value": ("p", True), "size_adjustment": ("Size adjustment", False), "covariate": ("Size quantity", False),
    "slope": ("Slope (log dose / log size)", True), "reference": ("Reference size", True),
    "n_unadjusted": ("Exams without size", True), "note": ("Note", False), "quantity": ("Quantity", False),
    "device_event": ("Device update nearby", False), "device": ("Device", False), "attribute": ("Attribute", False),
    "previous_value": ("Before", False), "new_value": ("After", False), "seen_datetime": ("First seen", False)}
#: Columns whose values are quantity names shown with :func:`metric_label`.
_QUANTITY_COLUMNS = frozenset({"metric", "covariate"})


def frame_table(frame: pd.DataFrame, *, language: str = "en", columns: Sequence[str] | None = None,
                metric: str | Callable[[dict[str, Any]], str] | None = None,
                value_columns: Sequence[str] = ()) -> Html:
    """Any analysis DataFrame as a table: known columns get display names, numbers are formatted, no index.

    ``value_columns`` hold values of ``metric`` (a metric name, or a function of the row giving it, for frames
    with a ``metric`` column); their headers carry its unit when there is one metric.
    """
    _ = translation(language).gettext
    if frame.empty:
        return _no_rows(language)
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    single = metric if isinstance(metric, str) else None
    headers = []
    for c in cols:
        if c in value_columns:
            name = _VALUE_NAMES.get(c, c.replace("_", " ").capitalize())
            headers.append(metric_label(single, language, prefix=name) if single else _(name))
        elif c == "metric":
            headers.append(_("Quantity"))
        else:
            headers.append(_(_COLUMNS.get(c, (c.replace("_", " ").capitalize(), False))[0]))
    rows = []
    for r in frame.to_dict("records"):
        cells = []
        for c in cols:
            if c in _QUANTITY_COLUMNS:
                label = metric_label(str(r[c]), language) if isinstance(r[c], str) and r[c] else None
                cells.append(_cell(label, language, numeric=False))
            elif c.endswith("_datetime"):
                cells.append(_cell(pd.Timestamp(r[c]).strftime("%Y-%m-%d %H:%M") if pd.notna(r[c]) else None,
                                   language, numeric=False))
            else:
                numeric = c in value_columns or _COLUMNS.get(c, ("", False))[1] or _is_number(r[c])
                cells.append(_cell(r[c], language, numeric=numeric))
        rows.append(cells)
    return Html(_wrap(_table(headers, rows)), _text_table(headers, rows))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_header(metric: str | None, column: str, language: str) -> str:
    if metric is None:  # the unit is a column of its own (rows of several metrics)
        return translation(language).gettext(_VALUE_NAMES.get(column, column.capitalize()))
    if column == "value":
        return metric_label(metric, language)
    return metric_label(metric, language, prefix=_VALUE_NAMES.get(column, column.capitalize()))


def exam_table(frame: pd.DataFrame, *, metric: str | None, language: str = "en", viewer_url: str = "",
               columns: Sequence[str] = ("study_datetime", "room", "standard_name", "study_description")) -> Html:
    """A list of exams (e.g. :func:`dmslab.analysis.drl.study_exceedances`): the descriptive ``columns`` present,
    ``value``/``drl``/``level`` and
    ``ratio`` (or ``times_level``) with the unit of ``metric`` (``None``: rows of several metrics, each with its
    ``unit``), and a link to the images when the site has a ``viewer_url``. The Study Instance UID only ever
    goes into the link, never into the text.
    """
    _ = translation(language).gettext
    if frame.empty:
        return _no_rows(language)
    shown = [c for c in columns if c in frame.columns]
    headers = [_(_COLUMNS[c][0]) if c in _COLUMNS else _(c.capitalize()) for c in shown]
    values = [c for c in ("value", "drl", "level") if c in frame.columns]
    headers += [_value_header(metric, c, language) for c in values]
    unit = metric is None and "unit" in frame.columns
    headers += [_("Unit")] if unit else []
    ratio = next((c for c in ("ratio", "times_level") if c in frame.columns), None)
    headers += [_("Ratio") if ratio == "ratio" else _("Times the level")] if ratio else []
    headers += [_("Images")] if viewer_url else []
    rows = []
    for r in frame.to_dict("records"):
        cells = [_cell(pd.Timestamp(r[c]).strftime("%Y-%m-%d %H:%M") if c == "study_datetime" and pd.notna(r[c])
                       else r[c], language, numeric=False) for c in shown]
        cells += [_cell(r[c], language, numeric=True) for c in values]
        cells += [_cell(unit_label(str(r["unit"])), language, numeric=False)] if unit else []
        cells += [_cell(r[ratio], language, numeric=True)] if ratio else []
        if viewer_url:
            url = viewer_link(viewer_url, study_uid=r.get("study_uid"))
            cells.append(f'<td><a href="{escape(url)}">{escape(_("open images"))}</a></td>' if url else "<td>–</td>")
        rows.append(cells)
    return Html(_wrap(_table(headers, rows)), _text_table(headers, rows))
