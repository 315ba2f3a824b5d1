"""Derived quantities (table ``derived_value``): every number dmslab computes rather than receives, with its method.

Users' top complaint about dose management systems is different numbers for the same exam without saying how.
So a derived value is never a bare column: each row names the quantity (with its canonical unit in the name, like
every column of the store), the value (``None`` when the method refused; the flags say why), the method and its
version, the reference it rests on (``basis``), the inputs it used, the assumptions it made, its uncertainty and
flags such as ``outside_fit_domain``. SSDE and effective dose (``dmslab.analysis.ssde`` /
``effective_dose``) write here; skin dose writes its peak skin dose here too, with the location and areas in
``detail`` and the dose map's file in ``artifact``.

A value is keyed by study, event (``None``: study level), quantity and method: writing the same key again
replaces the row (a newer method version or new inputs), so two methods of one quantity (ICRP 60 and ICRP 103
effective dose; scanner-reported and computed SSDE) are kept side by side.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from dmslab.store._concurrency import begin_write
from dmslab.store._filters import StudyFilter
from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["UNIT_SUFFIXES", "DerivedValue", "ct_dose_events", "delete_derived", "derived_values", "write_derived"]

#: Quantity name suffix -> canonical unit (the same convention as the store's column names).
UNIT_SUFFIXES = {"_mgy": "mGy", "_gy": "Gy", "_msv": "mSv", "_mgycm": "mGy.cm", "_gym2": "Gy.m2", "_cm": "cm",
                 "_cm2": "cm2", "_ratio": "1"}
_KEY = ("study_id", "event_uid", "quantity", "method")


def _unit_of(quantity: str) -> str | None:
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if quantity.endswith(suffix):
            return UNIT_SUFFIXES[suffix]
    return None


def _json(name: str, value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"DerivedValue.{name} must be JSON (finite numbers, strings, lists, objects): {exc}") from exc


def _plain(v: Any) -> Any:
    """numpy scalars and dates as JSON values."""
    if hasattr(v, "item"):
        return v.item()
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


@dataclass(frozen=True, slots=True)
class DerivedValue:
    """One derived quantity with its method record.

    Parameters
    ----------
    study_id
        The study (``study.id``) the value belongs to.
    event_uid
        The irradiation event, or ``None`` for a study-level value.
    quantity
        Name ending in its unit (:data:`UNIT_SUFFIXES`), e.g. ``ssde_mgy``, ``effective_dose_msv``.
    value
        In the quantity's unit; ``None`` when the method refused, and then ``flags`` must say why.
    method, method_version
        Which method and which version of its code and tables.
    basis
        The reference it rests on (report, ICRP publication, table edition).
    inputs
        The input values used (units in the key names); JSON.
    assumptions
        What the method assumed, one sentence each.
    uncertainty
        The stated uncertainty (text).
    flags
        Short keywords (``outside_fit_domain``, ``phantom_mismatch``, ``size_from_age`` ...).
    detail
        Further results of the method (JSON), e.g. a peak skin dose's location.
    artifact
        Where a larger result is stored (e.g. a dose map file).
    computed_at
        When (default: now).
    """

    study_id: int
    event_uid: str | None
    quantity: str
    value: float | None
    method: str
    method_version: str
    basis: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    assumptions: Sequence[str] = ()
    uncertainty: str | None = None
    flags: Sequence[str] = ()
    detail: Mapping[str, Any] | None = None
    artifact: str | None = None
    computed_at: dt.datetime = field(default_factory=dt.datetime.now)

    def __post_init__(self) -> None:
        if _unit_of(self.quantity) is None:
            raise ValueError(f"quantity {self.quantity!r} must end in a unit suffix, one of {sorted(UNIT_SUFFIXES)}")
        if not self.method or not self.method_version:
            raise ValueError(f"{self.quantity}: method and method_version are required (got {self.method!r}, "
                             f"{self.method_version!r})")
        if self.value is None:
            if not self.flags:
                raise ValueError(f"{self.quantity} ({self.method}): a value of None needs flags saying why")
        elif not isinstance(self.value, int | float) or not math.isfinite(self.value):
            raise ValueError(f"{self.quantity} ({self.method}): value must be a finite number or None, "
                             f"got {self.value!r}")
        if isinstance(self.assumptions, str) or isinstance(self.flags, str):
            raise TypeError("assumptions and flags are sequences of strings, not one string")
        _json("inputs", self.inputs)

    @property
    def unit(self) -> str:
        """Canonical unit of :attr:`value`."""
        return _unit_of(self.quantity) or ""

    def row(self) -> dict[str, Any]:
        """The ``derived_value`` row."""
        return {"study_id": int(self.study_id), "event_uid": self.event_uid, "quantity": self.quantity,
                "value": None if self.value is None else float(self.value), "unit": self.unit,
                "method": self.method, "method_version": self.method_version, "basis": self.basis,
                "inputs": _json("inputs", self.inputs), "assumptions": _json("assumptions", list(self.assumptions)),
                "uncertainty": self.uncertainty, "flags": "; ".join(self.flags) or None,
                "detail": None if self.detail is None else _json("detail", self.detail),
                "artifact": self.artifact, "computed_at": self.computed_at}


def _same_key(dv: sa.Table, r: Mapping[str, Any]) -> sa.ColumnElement[bool]:
    ev = dv.c.event_uid.is_(None) if r["event_uid"] is None else dv.c.event_uid == r["event_uid"]
    return sa.and_(dv.c.study_id == r["study_id"], ev, dv.c.quantity == r["quantity"], dv.c.method == r["method"])


def write_derived(store: Store, values: Iterable[DerivedValue]) -> int:
    """Store derived values in one transaction, each replacing the row of the same study, event, quantity and
    method; returns how many were written.

    Raises
    ------
    StoreReadOnlyError
        The store is open read-only.
    ValueError
        Two values of the batch have the same key.
    """
    store._writable()
    rows = [v.row() for v in values]
    keys = [tuple(r[k] for k in _KEY) for r in rows]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1}, key=str)[:3]
        raise ValueError(f"derived values with the same study, event, quantity and method in one batch: {dup}")
    if not rows:
        return 0
    dv = table("derived_value")
    with store.engine.begin() as conn:
        begin_write(conn, store.lock_timeout_s)
        for r in rows:
            conn.execute(sa.delete(dv).where(_same_key(dv, r)))
        conn.execute(dv.insert(), rows)
    return len(rows)


def delete_derived(store: Store, *, methods: Sequence[str], study_ids: Sequence[int] | None = None) -> int:
    """Remove the values of ``methods`` (of ``study_ids``, or all studies); returns how many rows went."""
    store._writable()
    dv = table("derived_value")
    q = sa.delete(dv).where(dv.c.method.in_(list(methods)))
    if study_ids is not None:
        q = q.where(dv.c.study_id.in_([int(i) for i in study_ids]))
    with store.engine.begin() as conn:
        begin_write(conn, store.lock_timeout_s)
        return int(conn.execute(q).rowcount or 0)


#: Columns of :func:`derived_values` besides the table's own.
DERIVED_STUDY_COLUMNS = ("study_uid", "study_datetime", "modality", "patient_id")


def derived_values(store: Store, where: StudyFilter = StudyFilter(), *,
                   quantities: Sequence[str] | None = None, methods: Sequence[str] | None = None,
                   study_ids: Sequence[int] | None = None, parse: bool = True) -> pd.DataFrame:
    """Derived values of the studies ``where`` selects, with their study's UID, date, modality and patient.

    ``inputs``, ``assumptions`` and ``detail`` are parsed from JSON (``parse``; else left as text), ``flags``
    is a tuple of keywords. Ordered by study, event and quantity.
    """
    dv, st = table("derived_value"), table("study")
    q = (sa.select(*[c for c in dv.c], *(st.c[c] for c in DERIVED_STUDY_COLUMNS))
         .select_from(dv.join(st, dv.c.study_id == st.c.id)).where(*where.conditions())
         .order_by(dv.c.study_id, dv.c.event_uid, dv.c.quantity, dv.c.method))
    if quantities is not None:
        q = q.where(dv.c.quantity.in_(list(quantities)))
    if methods is not None:
        q = q.where(dv.c.method.in_(list(methods)))
    if study_ids is not None:
        q = q.where(dv.c.study_id.in_([int(i) for i in study_ids]))
    df = store.read(q)
    if parse:
        for col in ("inputs", "assumptions", "detail"):
            df[col] = [json.loads(v) if isinstance(v, str) else None for v in df[col]]
    df["flags"] = [tuple(v.split("; ")) if isinstance(v, str) and v else () for v in df["flags"]]
    return df


def ct_dose_events(store: Store, where: StudyFilter = StudyFilter(), *,
                   study_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """The CT events of the selected studies with what SSDE and effective dose need, one row per event.

    Columns: ``study_id, study_uid, study_datetime, patient_id, age_years, weight_kg, height_m, event_uid,
    acquisition_type, acquisition_protocol, target_region, target_region_code, ctdivol_mgy, dlp_mgycm,
    phantom_cm, ssde_mgy, dw_cm`` (the last two as the scanner reported them). Ordered by study and event id.
    """
    st, ev = table("study"), table("ct_event")
    cols = [st.c.id.label("study_id"), st.c.study_uid, st.c.study_datetime, st.c.patient_id, st.c.age_years,
            st.c.weight_kg, st.c.height_m, *(ev.c[c] for c in (
                "event_uid", "acquisition_type", "acquisition_protocol", "target_region", "target_region_code",
                "ctdivol_mgy", "dlp_mgycm", "phantom_cm", "ssde_mgy", "dw_cm"))]
    q = (sa.select(*cols).select_from(st.join(ev, ev.c.study_id == st.c.id))
         .where(*where.conditions(), st.c.modality == "CT").order_by(st.c.id, ev.c.id))
    if study_ids is not None:
        q = q.where(st.c.id.in_([int(i) for i in study_ids]))
    return store.read(q)
