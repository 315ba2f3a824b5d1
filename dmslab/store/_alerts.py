"""The ``alert`` table: raise each alert once (unique ``alert_key``), mark it e-mailed, list, acknowledge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["ALERT_VALUES", "acknowledge_alert", "alerts", "mark_notified", "raise_alerts", "unsent_alerts"]

#: Columns of a candidate alert stored as they are (besides ``study_id`` and ``patient_id``).
ALERT_VALUES = ("alert_key", "rule_id", "rule_kind", "modality", "room", "standard_name", "metric", "value", "level",
                "unit", "explanation")


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT else v


def _id(v: Any) -> int | None:
    v = _none(v)
    return int(v) if v is not None else None


def raise_alerts(store: Store, candidates: pd.DataFrame, raised_at: dt.datetime) -> pd.DataFrame:
    """Store the candidates whose ``alert_key`` is not stored yet (each key once) and return them with their
    new ``id``; candidates already raised are left alone, so a re-run raises nothing twice.

    ``candidates`` holds :data:`ALERT_VALUES`, ``study_id`` and ``patient_id`` (missing values: NaN or None).
    """
    al = table("alert")
    with store.engine.begin() as conn:
        seen = {r[0] for r in conn.execute(sa.select(al.c.alert_key))}
        new = candidates[~candidates["alert_key"].isin(seen)].drop_duplicates("alert_key").copy()
        ids = []
        for r in new.to_dict("records"):
            values = {c: _none(r[c]) for c in ALERT_VALUES}
            values.update(study_id=_id(r["study_id"]), patient_id=_id(r["patient_id"]), raised_at=raised_at)
            ids.append(conn.execute(sa.insert(al).values(**values).returning(al.c.id)).scalar_one())
    new["id"] = ids
    return new


def unsent_alerts(store: Store) -> pd.DataFrame:
    """Alerts not yet e-mailed, oldest first: ``id, room, explanation, study_uid``."""
    al, st = table("alert"), table("study")
    return store.read(sa.select(al.c.id, al.c.room, al.c.explanation, st.c.study_uid)
                      .select_from(al.outerjoin(st, al.c.study_id == st.c.id))
                      .where(al.c.notified_at.is_(None)).order_by(al.c.id))


def mark_notified(store: Store, alert_ids: Sequence[int], recipients: Sequence[str], at: dt.datetime) -> None:
    """Record that the alerts ``alert_ids`` were e-mailed to ``recipients`` at ``at``."""
    al = table("alert")
    with store.engine.begin() as conn:
        conn.execute(sa.update(al).where(al.c.id.in_([int(i) for i in alert_ids]))
                     .values(notified_at=at, recipients=", ".join(recipients)))


def alerts(store: Store, *, open_only: bool = False) -> pd.DataFrame:
    """Stored alerts (newest first) with their study's ``study_uid``, ``study_datetime`` and ``protocol`` (study
    description); ``open_only``: only those not yet acknowledged."""
    al, st = table("alert"), table("study")
    q = (sa.select(al, st.c.study_uid, st.c.study_datetime, st.c.study_description.label("protocol"))
         .select_from(al.outerjoin(st, al.c.study_id == st.c.id)).order_by(al.c.raised_at.desc(), al.c.id.desc()))
    if open_only:
        q = q.where(al.c.acknowledged_at.is_(None))
    return store.read(q)


def acknowledge_alert(store: Store, alert_id: int, *, by: str, comment: str | None, at: dt.datetime) -> None:
    """Record who acknowledged alert ``alert_id``, when and why.

    Raises
    ------
    ValueError
        When there is no such alert or it was already acknowledged (nothing changes).
    """
    al = table("alert")
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(al.c.acknowledged_by, al.c.acknowledged_at).where(al.c.id == alert_id)).first()
        if row is None:
            raise ValueError(f"no alert with id {alert_id}; see `dmslab alerts list`")
        if row.acknowledged_at is not None:
            raise ValueError(f"alert {alert_id} was already acknowledged by {row.acknowledged_by} at "
                             f"{row.acknowledged_at:%Y-%m-%d %H:%M}")
        conn.execute(sa.update(al).where(al.c.id == alert_id).values(
            acknowledged_by=by, acknowledged_at=at, ack_comment=comment))
