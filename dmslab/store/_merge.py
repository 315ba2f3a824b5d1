"""How several dose objects of one study combine into one study row.

Rule (documented for MPEs in the README): let E_old be the events already stored for the study and
E_new the events of the incoming object.
- E_new ⊇ E_old (first object, or a cumulative report such as Siemens "Multi"): the incoming totals replace.
- E_new ∩ E_old = ∅ (a continuation, such as Siemens "Continued"): totals add up.
- E_new ⊆ E_old (an older partial report arriving late): stored totals stay.
- partial overlap: additive totals are recomputed as stored + the new events' own sums, and the study is
  flagged so an MPE can look.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ADDITIVE_TOTALS", "merge_totals"]

ADDITIVE_TOTALS = ("total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy", "fluoro_time_s", "agd_left_mgy",
                   "agd_right_mgy", "n_events_reported")


def _add(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def merge_totals(old: dict[str, Any], new: dict[str, Any], old_events: set[str], new_events: set[str],
                 new_event_sums: dict[str, float], *, keys: tuple[str, ...] = ADDITIVE_TOTALS,
                 ) -> tuple[dict[str, Any], str | None]:
    """Totals (``keys``) of the merged study or plane and, for a partial overlap, a flag explaining the merge."""
    if new_events >= old_events:
        return {k: new.get(k) for k in keys}, None
    if not (new_events & old_events):
        return {k: _add(old.get(k), new.get(k)) for k in keys}, None
    if new_events <= old_events:
        return {k: old.get(k) for k in keys}, None
    merged = {k: old.get(k) for k in keys}
    for k, v in new_event_sums.items():
        merged[k] = _add(merged.get(k), v)
    return merged, "totals: objects overlap partially; additive totals = stored + new events"
