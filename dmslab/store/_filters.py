"""The one typed filter of the store's queries (:class:`StudyFilter`: period, modality, rooms, standard names,
patient group, non-patient studies) and the one parser of patient groups (:func:`patient_band`)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dmslab.errors import FilterError
from dmslab.store.schema import table

__all__ = ["PatientBand", "StudyFilter", "patient_band", "period_bound", "room_expr"]


@dataclass(frozen=True, slots=True)
class PatientBand:
    """A patient group: ``adult`` (age >= 18 a or unknown) or a paediatric band of age [a) or weight [kg),
    lower bound inclusive."""

    adult: bool
    age: tuple[float, float] | None = None
    weight: tuple[float, float] | None = None


_BAND = re.compile(r"^paediatric (age|weight) (?:(<|>)\s*([\d.]+)|([\d.]+)\s*-\s*([\d.]+)) ?(\w+)")


def patient_band(group: str) -> PatientBand:
    """Parse a patient group label of the DRL tables (``adult``, ``paediatric age 1-5 years``,
    ``paediatric weight <5 kg``...); the one parser of patient groups (the DRL tables' rows and the filters).

    >>> patient_band("paediatric age 3-12 months")
    PatientBand(adult=False, age=(0.25, 1.0), weight=None)

    Raises
    ------
    FilterError
        (a ValueError) For a label that is neither.
    """
    g = group.strip().lower()
    if g.startswith("adult"):
        return PatientBand(True)
    m = _BAND.match(g)
    if not m:
        raise FilterError(f"patient group {group!r}: expected 'adult' or 'paediatric age|weight A-B unit' "
                          "(e.g. 'paediatric age 1-5 years', 'paediatric weight <5 kg')")
    kind, op, one, lo, hi, unit = m.groups()
    if op == "<":
        rng = (0.0, float(one))
    elif op == ">":
        rng = (float(one), 18.0 if kind == "age" else 1000.0)
    else:
        rng = (float(lo), float(hi))
    if kind == "age":
        scale = 1 / 12 if unit.startswith("month") else 1.0
        return PatientBand(False, age=(rng[0] * scale, rng[1] * scale))
    return PatientBand(False, weight=rng)


def period_bound(value: object, name: str = "period bound") -> dt.datetime | None:
    """A period bound as a naive datetime: ``None`` or ``""`` is open, a datetime is itself, a date is its
    midnight, text is ISO 8601 (``2026-01-31``, ``2026-01-31T08:00``, ``20260131``). The one parser of period
    bounds: the store's filters, the notebooks' parameters and the command line all use it.

    >>> period_bound("2026-01-31"), period_bound("")
    (datetime.datetime(2026, 1, 31, 0, 0), None)

    Raises
    ------
    dmslab.errors.FilterError
        For text that is not an ISO date, or that carries a time zone (stored times are the equipment's local
        time), naming ``name`` and what to give.
    TypeError
        For a value that is neither a date, a datetime nor text.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise FilterError(f"{name} {value!r} is not an ISO date or date/time such as 2026-01-31") from exc
    else:
        raise TypeError(f"{name} must be a datetime, a date or ISO text, got {type(value).__name__}")
    if when.tzinfo is not None:
        raise FilterError(f"{name} {value!r} has a time zone; give the local date/time as the equipment "
                          "records it, such as 2026-01-31T08:00")
    return when


def _names(name: str, value: Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):  # tuple("CT1") would be ("C", "T", "1")
        raise TypeError(f"{name} must be a sequence of names such as ({value!r},), not one string")
    return tuple(value)


def room_expr() -> sa.ColumnElement[Any]:
    """The room of a study's equipment as every query shows and filters it: ``equipment.room``, else the
    station name, else the display name (``None`` without equipment)."""
    eq = table("equipment")
    return sa.func.coalesce(eq.c.room, eq.c.station_name, eq.c.display_name)


@dataclass(frozen=True, slots=True)
class StudyFilter:
    """Which studies a query includes: the one typed filter of every store query (study rows, exams, alert
    metrics, metric values, summaries, counts, the columnar copy) and of the analysis layer
    (``dmslab.analysis.stats.Filters`` is this class).

    Parameters
    ----------
    start, end
        ``start <= study_datetime < end`` (end exclusive); datetimes, dates or ISO text (stored as datetimes),
        ``None``: open.
    modality
        One modality (``CT``, ``DX``, ``MG``, ``RF``, ``NM``); ``None``: all.
    rooms
        Only these rooms (:func:`room_expr`: ``equipment.room``, else the station name); ``None`` or empty: all.
    standard_names
        Only studies with one of these standard names; ``None`` or empty: all.
    patient_group
        ``None`` (all), ``"adult"`` (age >= 18 a, or age unknown) or a paediatric band such as
        ``"paediatric age 1-5 years"`` / ``"paediatric weight 15-30 kg"``, parsed by :func:`patient_band`
        (:attr:`band`).
    include_non_patient
        Also studies that are not patient exams (``study.exclusion_reason`` set at ingest: Quality Control
        Image, phantom or QA names of the ``not_patient_patterns`` setting).

    Raises
    ------
    FilterError
        (a ValueError) For a period that ends before it starts, a bound that is not a date, or a patient group
        that cannot be parsed.
    TypeError
        For a bound of another type, or one string given as ``rooms`` / ``standard_names``.

    Examples
    --------
    >>> f = StudyFilter(start="2026-01-01", end="2026-02-01", rooms=["CT1"], patient_group="adult")
    >>> f.start, f.rooms, f.band
    (datetime.datetime(2026, 1, 1, 0, 0), ('CT1',), PatientBand(adult=True, age=None, weight=None))
    """

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    modality: str | None = None
    rooms: tuple[str, ...] | None = None
    standard_names: tuple[str, ...] | None = None
    patient_group: str | None = None
    include_non_patient: bool = False

    def __post_init__(self) -> None:
        start, end = period_bound(self.start, "start"), period_bound(self.end, "end")
        if start is not None and end is not None and end < start:
            raise FilterError(f"period end {end} is before its start {start}: give the first day of the period "
                              "as start and the first day after it as end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "rooms", _names("rooms", self.rooms))
        object.__setattr__(self, "standard_names", _names("standard_names", self.standard_names))
        if self.patient_group:
            patient_band(self.patient_group)

    @property
    def band(self) -> PatientBand | None:
        """The patient group's bounds (:func:`patient_band`), ``None`` for every patient."""
        return patient_band(self.patient_group) if self.patient_group else None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions on ``study`` (the room through :func:`room_expr`: ``equipment`` must be
        joined, an outer join keeps studies without equipment)."""
        st = table("study")
        out: list[sa.ColumnElement[bool]] = []
        if not self.include_non_patient:
            out.append(st.c.exclusion_reason.is_(None))
        if self.start is not None:
            out.append(st.c.study_datetime >= self.start)
        if self.end is not None:
            out.append(st.c.study_datetime < self.end)
        if self.modality:
            out.append(st.c.modality == self.modality)
        if self.rooms:
            out.append(room_expr().in_(list(self.rooms)))
        if self.standard_names:
            out.append(st.c.standard_name.in_(list(self.standard_names)))
        if (band := self.band) is not None:
            out += _band_conditions(band)
        return out


def _band_conditions(b: PatientBand) -> list[sa.ColumnElement[bool]]:
    """SQL's null semantics: an unknown age counts as adult, never as paediatric; an unknown weight never."""
    st = table("study")
    if b.adult:
        return [sa.or_(st.c.age_years.is_(None), st.c.age_years >= 18)]
    out = [st.c.age_years < 18]
    if b.age is not None:
        out += [st.c.age_years >= b.age[0], st.c.age_years < b.age[1]]
    if b.weight is not None:
        out += [st.c.weight_kg >= b.weight[0], st.c.weight_kg < b.weight[1]]
    return out
