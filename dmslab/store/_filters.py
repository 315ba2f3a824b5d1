"""Typed filters of the store's study queries: period, modality, rooms, patient group, non-patient studies."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.store.schema import table

__all__ = ["PatientBand", "StudyFilter", "patient_band"]


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
    ValueError
        For a label that is neither.
    """
    g = group.strip().lower()
    if g.startswith("adult"):
        return PatientBand(True)
    m = _BAND.match(g)
    if not m:
        raise ValueError(f"patient group {group!r}: expected 'adult' or 'paediatric age|weight A-B unit'")
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


def _when(value: Any) -> dt.datetime | None:
    return None if value is None or value == "" else pd.Timestamp(value).to_pydatetime()


@dataclass(frozen=True, slots=True)
class StudyFilter:
    """Which studies a query includes.

    Parameters
    ----------
    period_start, period_end
        ``period_start <= study_datetime < period_end`` (end exclusive); datetimes or ISO strings, ``None``: open.
    modality
        One modality (``CT``, ``DX``, ``MG``, ``RF``, ``NM``); ``None``: all.
    rooms
        Only these rooms (``equipment.room``, else the station name); ``None`` or empty: all.
    patient_group
        ``None`` (all), ``"adult"`` or a paediatric band (see :func:`patient_band`).
    include_non_patient
        Also studies that are not patient exams (``study.exclusion_reason``: QA, phantoms).

    Raises
    ------
    ValueError
        For a period that ends before it starts or a patient group that cannot be parsed.
    """

    period_start: dt.datetime | str | None = None
    period_end: dt.datetime | str | None = None
    modality: str | None = None
    rooms: tuple[str, ...] | None = None
    patient_group: str | None = None
    include_non_patient: bool = False

    def __post_init__(self) -> None:
        start, end = _when(self.period_start), _when(self.period_end)
        if start is not None and end is not None and end < start:
            raise ValueError(f"period_end {end} is before period_start {start}")
        if self.patient_group:
            patient_band(self.patient_group)
        if self.rooms is not None and not isinstance(self.rooms, tuple):
            object.__setattr__(self, "rooms", tuple(self.rooms))

    def conditions(self, room: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions on ``study`` (``room``: the room expression of the query's equipment join)."""
        st = table("study")
        out: list[sa.ColumnElement[bool]] = []
        if not self.include_non_patient:
            out.append(st.c.exclusion_reason.is_(None))
        if (start := _when(self.period_start)) is not None:
            out.append(st.c.study_datetime >= start)
        if (end := _when(self.period_end)) is not None:
            out.append(st.c.study_datetime < end)
        if self.modality:
            out.append(st.c.modality == self.modality)
        if self.rooms:
            out.append(room.in_(list(self.rooms)))
        if self.patient_group:
            out += _band_conditions(patient_band(self.patient_group))
        return out


def _band_conditions(b: PatientBand) -> list[sa.ColumnElement[bool]]:
    st = table("study")
    if b.adult:
        return [sa.or_(st.c.age_years.is_(None), st.c.age_years >= 18)]
    out = [st.c.age_years < 18]
    if b.age is not None:
        out += [st.c.age_years >= b.age[0], st.c.age_years < b.age[1]]
    if b.weight is not None:
        out += [st.c.weight_kg >= b.weight[0], st.c.weight_kg < b.weight[1]]
    return out
