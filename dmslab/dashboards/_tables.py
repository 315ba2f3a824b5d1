"""Display helpers shared by the dashboards of this branch: tables without index or hidden key columns, floats
with four significant digits (never ``0.705000``), an empty selection as its sentence."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dmslab.dashboards.overview import NoExams

__all__ = ["HIDDEN", "shown"]

#: Columns a view keeps for the drill-down but never shows.
HIDDEN = ("exam",)


def shown(table: pd.DataFrame | NoExams) -> Any:
    """``table`` for display: no index, no :data:`HIDDEN` column, dates as ``YYYY-MM-DD HH:MM``, floats with
    4 significant digits, missing values as "–" (a :class:`NoExams` as it is)."""
    if isinstance(table, NoExams):
        return table
    out = table.drop(columns=[c for c in HIDDEN if c in table.columns])
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M")
    floats = {c: "{:.4g}" for c in out.columns if pd.api.types.is_float_dtype(out[c])}
    return out.style.hide(axis="index").format(floats, na_rep="–")
