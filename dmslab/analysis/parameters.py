"""The notebook parameter vocabulary in code: filters from the parameters, and the period a report covers.

Every notebook in ``notebooks/`` names its inputs the same way (``notebooks/README.md``): ``database_url``,
``period_start`` and ``period_end`` (ISO dates, end exclusive, empty for "from the first study" / "up to the
last"), ``modality`` (empty for every one), ``rooms`` (empty for every room), ``drl_set``, ``patient_group``
and named thresholds. ``dmslab audit`` takes the same filters as options.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from dmslab.analysis.stats import Filters
from dmslab.store import period_bound

__all__ = ["day", "describe_period", "in_period", "notebook_filters"]


def day(text: str | dt.date | None) -> dt.datetime | None:
    """An ISO date (or datetime) parameter as a datetime, ``None`` when empty (:func:`dmslab.store.period_bound`).

    >>> day("2026-01-31"), day("")
    (datetime.datetime(2026, 1, 31, 0, 0), None)

    Raises
    ------
    dmslab.errors.FilterError
        (a ``ValueError``) for text that is not an ISO date, naming it.
    """
    return period_bound(text, "date")


def notebook_filters(*, period_start: str = "", period_end: str = "", modality: str = "",
                     rooms: Sequence[str] = (), patient_group: str | None = "adult",
                     include_non_patient: bool = False) -> Filters:
    """The :class:`~dmslab.analysis.stats.Filters` of a notebook's parameters (empty values: no restriction).

    >>> f = notebook_filters(period_start="2026-01-01", period_end="2026-02-01", modality="CT", rooms=["CT1"])
    >>> f.start, f.end, f.modality, f.rooms, f.patient_group
    (datetime.datetime(2026, 1, 1, 0, 0), datetime.datetime(2026, 2, 1, 0, 0), 'CT', ('CT1',), 'adult')
    """
    start, end = day(period_start), day(period_end)
    if start is not None and end is not None and end <= start:
        raise ValueError(f"period_end {period_end!r} must be after period_start {period_start!r} (end exclusive)")
    return Filters(start=start, end=end, modality=modality or None, rooms=tuple(rooms) or None,
                   patient_group=patient_group or None, include_non_patient=include_non_patient)


def describe_period(filters: Filters) -> str:
    """The period of ``filters`` as a report states it.

    >>> describe_period(notebook_filters(period_start="2026-01-01", period_end="2026-02-01"))
    '2026-01-01 to 2026-02-01 (exclusive)'
    >>> describe_period(Filters())
    'every study in the store'
    """
    if filters.start is None and filters.end is None:
        return "every study in the store"
    first = f"{filters.start:%Y-%m-%d}" if filters.start else "the first study"
    last = f"{filters.end:%Y-%m-%d} (exclusive)" if filters.end else "the last study"
    return f"{first} to {last}"


def in_period(df: pd.DataFrame, filters: Filters, *, column: str = "study_datetime") -> pd.DataFrame:
    """The rows of ``df`` in the period and rooms of ``filters`` (``column`` holds the study time, ``room`` the
    room), for frames read without those filters."""
    keep = pd.Series(True, index=df.index)
    times = pd.to_datetime(df[column], format="ISO8601")
    if filters.start is not None:
        keep &= times >= pd.Timestamp(filters.start)
    if filters.end is not None:
        keep &= times < pd.Timestamp(filters.end)
    if filters.rooms:
        keep &= df["room"].isin(list(filters.rooms))
    return df[keep]
