"""One report's language, site and viewer: the title block, headings and the tables of :mod:`._format`.

A notebook makes one :class:`Report` from its parameters and calls it for every output::

    report = Report(language=language, site_name=site_name, viewer_url=viewer_url)
    report.title("DRL audit", filters=filters, drl_set=drl_set)
    report.audit(audit)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import pandas as pd

from dmslab.analysis.stats import Filters
from dmslab.config import check_viewer_url
from dmslab.reporting._format import CSS, Html, audit_table, exam_table, frame_table, metric_label
from dmslab.reporting._i18n import translation

__all__ = ["Report"]


@dataclass(frozen=True, slots=True)
class Report:
    """How a report speaks: ``language`` (a catalogue of :func:`dmslab.reporting.languages`), the site's name for
    the title block and its ``viewer_url`` template (empty: exam rows get no link).

    Examples
    --------
    >>> import datetime as dt
    >>> from dmslab.analysis.parameters import notebook_filters
    >>> r = Report(language="de", site_name="Klinikum Nord")
    >>> block = r.title("DRL audit", filters=notebook_filters(period_start="2026-01-01", period_end="2026-02-01"),
    ...                 drl_set="DE", generated_at=dt.datetime(2026, 2, 1, 6, 0))
    >>> print(block)
    Klinikum Nord
    DRW-Audit
    Zeitraum: 2026-01-01 bis 2026-02-01 (ausschließlich)
    DRW-Satz: DE
    Erstellt: 2026-02-01 06:00 UTC
    """

    language: str = "en"
    site_name: str = ""
    viewer_url: str = ""

    def __post_init__(self) -> None:
        translation(self.language)  # an unknown language fails here, naming the ones there are
        check_viewer_url(self.viewer_url)

    def tr(self, text: str) -> str:
        """``text`` in the report's language (English when the catalogue has no translation)."""
        return translation(self.language).gettext(text)

    def period(self, filters: Filters) -> str:
        """The period of ``filters`` in words (the end is exclusive)."""
        start = f"{filters.start:%Y-%m-%d}" if filters.start else None
        end = f"{filters.end:%Y-%m-%d}" if filters.end else None
        if start and end:
            return self.tr("{start} to {end} (exclusive)").format(start=start, end=end)
        if start:
            return self.tr("{start} to the last study").format(start=start)
        if end:
            return self.tr("the first study to {end} (exclusive)").format(end=end)
        return self.tr("every study in the store")

    def title(self, title: str, *, filters: Filters, drl_set: str | None = None,
              details: Sequence[tuple[str, str]] = (), generated_at: dt.datetime | None = None) -> Html:
        """The title block: site, title, period, DRL set, further ``(label, value)`` lines, generated at (UTC)."""
        when = generated_at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lines = [(self.tr("Period"), self.period(filters))]
        lines += [(self.tr("DRL set"), drl_set)] if drl_set else []
        lines += [(self.tr(k), v) for k, v in details]
        lines += [(self.tr("Generated"), f"{when:%Y-%m-%d %H:%M} UTC")]
        site = f'<p class="site">{escape(self.site_name)}</p>' if self.site_name else ""
        facts = "".join(f"<p>{escape(k)}: {escape(v)}</p>" for k, v in lines)
        html = f'{CSS}<header class="dmslab-title">{site}<h1>{escape(self.tr(title))}</h1>{facts}</header>'
        text = "\n".join([*([self.site_name] if self.site_name else []), self.tr(title),
                          *(f"{k}: {v}" for k, v in lines)])
        return Html(html, text)

    def heading(self, text: str, *, level: int = 2) -> Html:
        """A translated heading."""
        return Html(f"<h{level}>{escape(self.tr(text))}</h{level}>", self.tr(text))

    def note(self, text: str, **values: Any) -> Html:
        """A translated paragraph; ``values`` fill its ``{placeholders}``."""
        said = self.tr(text).format(**values)
        return Html(f'<div class="dmslab-report"><p class="note">{escape(said)}</p></div>', said)

    def label(self, metric: str, *, prefix: str = "") -> str:
        """A metric's display name and unit for chart axes, e.g. ``Median DLP (mGy·cm)``."""
        return metric_label(metric, self.language, prefix=prefix)

    def audit(self, audit: pd.DataFrame, *, by: str = "room") -> Html:
        """The DRL audit table (:func:`dmslab.reporting._format.audit_table`)."""
        return audit_table(audit, language=self.language, by=by)

    def exams(self, frame: pd.DataFrame, *, metric: str | None, columns: Sequence[str] | None = None) -> Html:
        """An exam list with viewer links (:func:`dmslab.reporting._format.exam_table`)."""
        kw = {"columns": columns} if columns is not None else {}
        return exam_table(frame, metric=metric, language=self.language, viewer_url=self.viewer_url, **kw)

    def table(self, frame: pd.DataFrame, *, columns: Sequence[str] | None = None, metric: str | None = None,
              value_columns: Sequence[str] = ()) -> Html:
        """Any analysis table with display names and formatted numbers
        (:func:`dmslab.reporting._format.frame_table`)."""
        return frame_table(frame, language=self.language, columns=columns, metric=metric,
                           value_columns=value_columns)
