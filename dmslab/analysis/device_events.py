"""Device events next to protocol changes: a software update (or another change of what a device sends) that
falls near a detected change point is named beside it.

ESR names vendor software updates as a cause of unwanted protocol changes. The store keeps every value a device
sent (:func:`dmslab.store.equipment_history`); :func:`device_updates` gives the dates a device started sending a
new one, and :func:`with_device_events` marks each change of :func:`dmslab.analysis.changes.detect_changes`
whose date lies within ``window_days`` of an update in the same room.

>>> import pandas as pd
>>> found = pd.DataFrame({"room": ["CT1", "CT2"], "change_datetime": pd.to_datetime(["2026-03-05", "2026-03-05"])})
>>> updates = pd.DataFrame({"room": ["CT1"], "attribute": ["software_versions"], "before": ["VA40"],
...                         "after": ["VA50"], "at": pd.to_datetime(["2026-03-02"])})
>>> with_device_events(found, updates)["device_event"].tolist()
['software VA40 → VA50 on 2026-03-02 (3 d before)', '']
"""

from __future__ import annotations

import pandas as pd

from dmslab.store import TRACKED_DEVICE_ATTRIBUTES, Store, device_changes

__all__ = ["DEFAULT_WINDOW_DAYS", "device_updates", "with_device_events"]

#: A device event this many days before or after a change point is named beside it [d].
DEFAULT_WINDOW_DAYS = 14.0

_WORDS = {"software_versions": "software", "institution": "institution"}


def device_updates(store: Store) -> pd.DataFrame:
    """Every change of every tracked device attribute: ``room, device, equipment_id, attribute, before, after,
    at`` (the study date the new value was first seen), oldest first."""
    parts = [device_changes(store, attribute=a) for a in TRACKED_DEVICE_ATTRIBUTES]
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else parts[0]
    return out.sort_values("at", ignore_index=True)


def _describe(u: pd.Series, change_at: pd.Timestamp) -> str:
    days = (change_at - u["at"]).total_seconds() / 86400.0
    when = f"{abs(days):.0f} d {'before' if days >= 0 else 'after'}"
    return f"{_WORDS.get(u['attribute'], u['attribute'])} {u['before']} → {u['after']} on {u['at']:%Y-%m-%d} ({when})"


def with_device_events(changes: pd.DataFrame, updates: pd.DataFrame, *,
                       window_days: float = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """``changes`` (columns ``room, change_datetime``) with a ``device_event`` column: the updates of the same
    room within ``window_days`` of the change, nearest first, joined by "; " (empty: none)."""
    if window_days < 0:
        raise ValueError(f"window_days must be >= 0, got {window_days}")
    window = pd.Timedelta(days=window_days)
    texts = []
    for room, at in zip(changes["room"], changes["change_datetime"], strict=True):
        near = updates[(updates["room"] == room) & ((updates["at"] - at).abs() <= window)] if len(updates) else updates
        near = near.assign(gap=(near["at"] - at).abs()).sort_values("gap") if len(near) else near
        texts.append("; ".join(_describe(u, at) for _, u in near.iterrows()))
    return changes.assign(device_event=texts)
