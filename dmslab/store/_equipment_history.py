"""Each device's history: every value it sent for the attributes that change over its life (software versions,
institution), with the first and last study it was seen on, and the changes as events on its timeline.

The equipment row holds the identity (manufacturer, model, station, serial, device observer UID) and the current
value of each attribute, i.e. the one seen on the latest study; this table keeps every value. ESR names vendor
software updates as a cause of unwanted protocol changes: :func:`device_changes` gives the dates at which a device
started sending a new value, for the protocol-change detection to compare its change points with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from dmslab.records import EquipmentRecord
from dmslab.store._aggregate import equipment_dims
from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["TRACKED", "device_changes", "equipment_history", "record_device_values"]

#: The equipment attributes whose every value is kept (the identifying fields make a new device instead).
TRACKED = ("software_versions", "institution")

_Key = tuple[int, str, str]


def _span(values: list[tuple[dt.datetime | None, int]]) -> tuple[dt.datetime | None, dt.datetime | None, int]:
    dated = [w for w, _ in values if w is not None]
    return (min(dated) if dated else None, max(dated) if dated else None, sum(n for _, n in values))


def record_device_values(conn: sa.Connection, seen: Sequence[tuple[int, EquipmentRecord, dt.datetime | None]]) -> None:
    """Add what a batch's objects said about their devices (equipment id, the record, the study's date/time):
    new values get a row, known ones widen their first/last seen; each device's row then shows the value of its
    latest study. Runs inside the batch's transaction, with the devices locked by the batch writer."""
    batch: dict[_Key, list[tuple[dt.datetime | None, int]]] = {}
    for eq_id, eq, when in seen:
        for attr in TRACKED:
            value = getattr(eq, attr)
            if value:
                batch.setdefault((eq_id, attr, value), []).append((when, 1))
    if not batch:
        return
    h = table("equipment_history")
    ids = sorted({k[0] for k in batch})
    stored = {(r.equipment_id, r.attribute, r.value): r for r in conn.execute(
        sa.select(h).where(h.c.equipment_id.in_(ids)))}
    for key, values in batch.items():
        old = stored.get(key)
        if old is None:
            first, last, n = _span(values)
            conn.execute(h.insert().values(equipment_id=key[0], attribute=key[1], value=key[2], first_seen=first,
                                           last_seen=last, n_objects=n))
        else:
            first, last, n = _span([*values, (old.first_seen, 0), (old.last_seen, old.n_objects)])
            conn.execute(h.update().where(h.c.id == old.id).values(first_seen=first, last_seen=last, n_objects=n))
    _current(conn, ids)


def _current(conn: sa.Connection, ids: list[int]) -> None:
    """Each device's attribute = the value of its latest dated study (undated values only when nothing is dated)."""
    h, eq = table("equipment_history"), table("equipment")
    rows = conn.execute(sa.select(h.c.equipment_id, h.c.attribute, h.c.value, h.c.last_seen)
                        .where(h.c.equipment_id.in_(ids))).all()
    best: dict[tuple[int, str], tuple[Any, str]] = {}
    for eq_id, attr, value, last in rows:
        rank = (last is not None, last or dt.datetime.min)
        if (eq_id, attr) not in best or rank > best[(eq_id, attr)][0]:
            best[(eq_id, attr)] = (rank, value)
    for (eq_id, attr), (_rank, value) in best.items():
        conn.execute(eq.update().where(eq.c.id == eq_id, eq.c[attr].is_distinct_from(value)).values({attr: value}))


def equipment_history(store: Store, *, attribute: str | None = None) -> pd.DataFrame:
    """Every value of every device: ``room, device, equipment_id, attribute, value, first_seen, last_seen,
    n_objects``, per device in the order the values were first seen."""
    h, eq = table("equipment_history"), table("equipment")
    dims = equipment_dims()
    q = (sa.select(dims["room"].label("room"), dims["device"].label("device"), h.c.equipment_id, h.c.attribute,
                   h.c.value, h.c.first_seen, h.c.last_seen, h.c.n_objects)
         .select_from(h.join(eq, h.c.equipment_id == eq.c.id))
         .order_by(h.c.equipment_id, h.c.attribute, h.c.first_seen, h.c.value))
    if attribute is not None:
        if attribute not in TRACKED:
            raise ValueError(f"attribute {attribute!r} not in {TRACKED}")
        q = q.where(h.c.attribute == attribute)
    out = store.read(q)
    for c in ("first_seen", "last_seen"):
        out[c] = pd.to_datetime(out[c])
    return out


def device_changes(store: Store, *, attribute: str = "software_versions") -> pd.DataFrame:
    """The events of the devices' timelines: ``room, device, equipment_id, attribute, before, after, at`` — a
    device started sending ``after`` on its study of ``at`` (the first value a device sent is not a change)."""
    hist = equipment_history(store, attribute=attribute).dropna(subset=["first_seen"])
    rows = []
    for _eq_id, g in hist.groupby("equipment_id", sort=True):
        g = g.sort_values("first_seen")
        for prev, cur in zip(g.iloc[:-1].itertuples(), g.iloc[1:].itertuples(), strict=True):
            rows.append({"room": cur.room, "device": cur.device, "equipment_id": int(cur.equipment_id),
                         "attribute": attribute, "before": prev.value, "after": cur.value, "at": cur.first_seen})
    cols = ["room", "device", "equipment_id", "attribute", "before", "after", "at"]
    return pd.DataFrame(rows, columns=cols)
