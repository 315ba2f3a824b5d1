"""Control-chart data of the series in which :func:`dmslab.analysis.changes.detect_changes` found a change."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["chart_frame"]


def chart_frame(exams: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Long frame for control charts of the series with a change: one row per exam and metric.

    Columns ``series`` (room · protocol · metric), ``study_datetime``, ``value``, ``segment_median`` (median
    of the exam's segment between detected changes) and ``changed`` (True at the first changed exam).
    """
    parts = []
    for (room, protocol, metric), ch in changes.groupby(["room", "protocol", "metric"], sort=True):
        g = exams[(exams["room"] == room) & (exams["protocol"] == protocol)].dropna(subset=[metric])
        if g[metric].dtype.kind == "f":
            g = g[g[metric] > 0]  # as in detect_changes: positions are counted over these exams
        segment = np.searchsorted(np.sort(ch["change_exam"].to_numpy()), np.arange(len(g)), side="right")
        df = pd.DataFrame({"series": f"{room} · {protocol} · {metric}",
                           "study_datetime": g["study_datetime"].to_numpy(), "value": g[metric].to_numpy(),
                           "segment": segment})
        df["segment_median"] = df.groupby("segment")["value"].transform("median") if df["value"].dtype.kind == "f" \
            else df.groupby("segment")["value"].transform(lambda v: v.mode().iloc[0])
        df["changed"] = np.isin(np.arange(len(g)), ch["change_exam"].to_numpy())
        parts.append(df)
    cols = ["series", "study_datetime", "value", "segment", "segment_median", "changed"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
