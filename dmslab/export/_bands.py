"""Ages in bands for exports: ``age_years`` replaced by the label of its band."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["age_band_labels", "apply_age_bands"]


def _fmt(x: float) -> str:
    return f"{x:g}"


def age_band_labels(bounds: Sequence[float]) -> tuple[str, ...]:
    """The labels of the bands starting at ``bounds`` (years, ascending): ``[a, b)`` is ``"a-b"``, the last
    ``"a+"``; empty bounds: no bands.

    >>> age_band_labels([0, 1, 5, 18])
    ('0-1', '1-5', '5-18', '18+')

    Raises
    ------
    ValueError
        When the bounds do not strictly ascend or one is negative.
    """
    b = [float(x) for x in bounds]
    if any(x < 0 for x in b) or any(y <= x for x, y in zip(b, b[1:], strict=False)):
        raise ValueError(f"age bands {list(bounds)} must be ascending lower bounds in years, e.g. 0,1,5,10,15,18")
    return tuple(f"{_fmt(x)}-{_fmt(y)}" for x, y in zip(b, b[1:], strict=False)) + ((f"{_fmt(b[-1])}+",) if b else ())


def apply_age_bands(chunk: pd.DataFrame, bounds: Sequence[float], labels: Sequence[str]) -> pd.DataFrame:
    """``chunk`` with ``age_years`` replaced, in place of it, by ``age_band`` (empty below the first bound or
    unknown)."""
    ages = pd.to_numeric(chunk["age_years"], errors="coerce").to_numpy(dtype=float)
    idx = np.searchsorted(np.asarray(bounds, dtype=float), ages, side="right") - 1
    band = np.where(np.isnan(ages) | (idx < 0), None, np.asarray(labels, dtype=object)[np.clip(idx, 0, None)])
    out = chunk.copy()
    pos = out.columns.get_loc("age_years")
    out = out.drop(columns="age_years")
    out.insert(pos, "age_band", band)
    return out
