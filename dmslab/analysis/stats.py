"""Dose statistics (the ESR tables): n, median, mean, min, max, SD per group; exam counts; workload; monthly medians.

Where the work happens
----------------------
This module holds no SQL: the studies are described by :class:`Filters` (the store's own
:class:`dmslab.store.StudyFilter`) and read through the store's query functions (:mod:`dmslab.store._aggregate`,
:mod:`dmslab.store._columnar`). The engines of :func:`summaries`:

* ``"copy"``: the store's **columnar copy** (Arrow chunks kept in the database, re-packed after writes; changed
  chunks read from the row tables, so never stale) gives the selected studies and values as arrays, grouped
  here on one int code with pandas' cython group-by. The 10⁷-event audit of ``bench/bench_audit.py``: see
  ``docs/audit.md`` for the measured seconds next to DuckDB and the whole-table pandas path.
* ``"columnar"``: the same grouping over narrow reads of the row tables (through ADBC/Arrow when
  ``adbc-driver-sqlite`` / ``adbc-driver-postgresql`` is installed). Reading 10⁷ rows out of SQLite's row
  format costs ≈ 10-20 s whoever reads them (issue 12): why the copy exists.
* ``"sql"``: PostgreSQL computes everything in the database (``percentile_cont``); on SQLite (no median
  aggregate; a window-function median costs ≈ 30× the read, ≈ 47 s for 10⁷ rows, issue 6) the database
  filters and joins, pandas groups.

Counts (exam counts, workload) are ``GROUP BY`` in the database on both backends.

Metrics and the level they are compared at (ICRP 135, UK NDRL table semantics): ``ctdivol_mgy`` per CT
sequence (localizers excluded), ``dlp_mgycm`` per CT exam, ``dap_gym2`` per DX exposure, ``agd_mgy`` per MG
view, ``total_dap_gym2`` / ``total_rp_dose_gy`` / ``fluoro_time_s`` per RF/XA exam.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dmslab.store import (
    DIMENSIONS,
    EQUIPMENT_DIMS,
    METRICS,
    Metric,
    MetricData,
    Store,
    StudyFilter,
    fast_source,
    has_median_aggregate,
    metric_data,
    sql_summary,
)
from dmslab.store import exam_counts as _exam_counts
from dmslab.store import metric_values as _metric_values
from dmslab.store import workload_counts as _workload_counts

__all__ = ["DIMENSIONS", "ENGINES", "METRICS", "Filters", "Metric", "distribution", "exam_counts", "metric_values",
           "monthly_medians", "percentile_of_medians", "summaries", "summary", "workload"]

logger = logging.getLogger(__name__)

#: The engines of :func:`summaries` (see the module docstring).
ENGINES = ("auto", "copy", "columnar", "sql")


#: Which studies to include: the store's one typed filter (:class:`dmslab.store.StudyFilter`, the same class).
Filters = StudyFilter


def _check(metric: str, by: Sequence[str]) -> Metric:
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} not in {sorted(METRICS)}")
    bad = [b for b in by if b not in DIMENSIONS]
    if bad:
        raise ValueError(f"dimensions {bad} not in {DIMENSIONS}")
    return METRICS[metric]


def metric_values(store: Store, metric: str, *, by: Sequence[str] = ("room", "standard_name"),
                  filters: Filters = StudyFilter(), extra: Sequence[str] = (),
                  above: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The narrow rows ``by + value`` (plus ``extra`` study columns such as ``study_uid``) of one metric;
    ``above`` (standard name → level): only the values above their standard name's level (in the database)."""
    return _metric_values(store, _check(metric, by), by=by, selection=filters, extra=extra, above=above)


def _group_stats(codes: np.ndarray, values: np.ndarray, levels: np.ndarray | None) -> pd.DataFrame:
    """n, median, mean, min, max, SD per integer group code (pandas' cython group-by on one int key, ≈ 1.5 s
    for 10⁷ values, 4× faster than a numpy lexsort); ``n_above`` counts values above ``levels`` (aligned with
    ``values``; NaN = no level)."""
    frame = pd.DataFrame({"code": codes, "value": values})
    if levels is not None:
        frame["above"] = (values > levels).astype(np.int64)
    g = frame.groupby("code", sort=True)
    out = g["value"].agg(n="size", median="median", mean="mean", min="min", max="max", sd="std")
    if levels is not None:
        out["n_above"] = g["above"].sum()
    return out.reset_index()


def _key_codes(data: MetricData, k: str) -> tuple[np.ndarray, np.ndarray]:
    """Int codes (one per study) and sorted labels of dimension ``k``: equipment dimensions through the
    equipment table, months as yyyymm ints, the few text keys factorized."""
    studies = data.studies
    if k in EQUIPMENT_DIMS:
        eq = data.equipment
        vals = pd.concat([eq[k], pd.Series([data.no_equipment[k]])], ignore_index=True).fillna("?")
        kc, uniq = pd.factorize(vals, sort=True)
        lut = np.full(int(max(eq["id"].max() if len(eq) else 0, 0)) + 2, kc[-1], dtype=np.int64)
        lut[eq["id"].to_numpy(dtype=np.int64)] = kc[:-1]
        eq_ids = pd.Series(studies["_eq"]).fillna(-1).to_numpy(dtype=np.int64)
        return lut[eq_ids], np.asarray(uniq, dtype=object)
    if k == "month":
        kc, uniq = pd.factorize(pd.Series(studies["_month"]).fillna(0).to_numpy(dtype=np.int64), sort=True)
        return kc, np.array([f"{u // 100:04d}-{u % 100:02d}" if u else None for u in uniq], dtype=object)
    kc, uniq = pd.factorize(studies[k], sort=True, use_na_sentinel=False)
    return kc, np.asarray(uniq, dtype=object)


def _study_groups(data: MetricData, by: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """An int group code per study and the group labels (indexed by code)."""
    parts = [_key_codes(data, k) for k in by]
    if not len(data.studies):
        return np.zeros(0, dtype=np.int64), pd.DataFrame(columns=list(by))
    shape = tuple(len(lab) for _c, lab in parts)
    n = len(data.studies)
    group = (np.ravel_multi_index(tuple(c for c, _l in parts), shape).astype(np.int64) if by
             else np.zeros(n, np.int64))
    used = np.unique(group)
    idx = np.unravel_index(used, shape) if by else ()
    groups = pd.DataFrame({k: parts[i][1][idx[i]] for i, k in enumerate(by)}, index=pd.Index(used, name="code"))
    return group, groups


def _rows_of(data: MetricData, met: Metric) -> tuple[np.ndarray, np.ndarray]:
    """(study row, value) of one metric over the selected studies of ``data``."""
    studies = data.studies
    of_modality = (studies["_modality"] == met.modality).to_numpy()
    if met.level == "study":
        vals = studies[met.name].to_numpy(dtype=float)
        keep = ~np.isnan(vals) & of_modality
        return np.flatnonzero(keep), vals[keep]
    sids = studies["_sid"].to_numpy(dtype=np.int64)
    ev_sid, values = data.events[met.name]
    lut = np.full(int(sids.max()) + 2 if len(sids) else 1, -1, dtype=np.int64)
    lut[sids] = np.arange(len(sids))
    lut[sids[~of_modality]] = -1
    rows = lut[np.clip(ev_sid, 0, len(lut) - 1)]
    keep = (rows >= 0) & (ev_sid < len(lut))
    return rows[keep], values[keep]


def _grouped(store: Store, metrics: Sequence[str], by: Sequence[str], filters: Filters,
             drl: Mapping[str, Mapping[str, float]], source: str) -> dict[str, pd.DataFrame]:
    """Read the studies once and each metric's values as arrays (``source``: copy or rows); group on one int
    code."""
    mets = [METRICS[m] for m in metrics]
    keys = [k for k in by if k not in (*EQUIPMENT_DIMS, "month")]
    if drl and "standard_name" not in keys:
        keys.append("standard_name")
    data = metric_data(store, mets, keys, filters, source=source)
    group, groups = _study_groups(data, by)
    out = {}
    for met in mets:
        rows, values = _rows_of(data, met)
        levels = None
        if met.name in drl:
            levels = pd.Series(data.studies["standard_name"]).map(dict(drl[met.name])).to_numpy(dtype=float)[rows]
        res = _group_stats(group[rows], values, levels).set_index("code")
        out[met.name] = groups.join(res, how="inner").sort_values(list(by)).reset_index(drop=True)
    return out


def _summarise_pandas(df: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=[*by, "n", "median", "mean", "min", "max", "sd"])
    g = df.groupby(list(by), dropna=False, sort=True)["value"]
    return g.agg(n="size", median="median", mean="mean", min="min", max="max", sd="std").reset_index()


def _sql_summary(store: Store, metric: str, by: Sequence[str], filters: Filters,
                 drl: Mapping[str, float] | None) -> pd.DataFrame:
    """In the database: PostgreSQL percentile_cont; SQLite (no median aggregate) a narrow read + pandas."""
    if has_median_aggregate(store):
        return sql_summary(store, METRICS[metric], by, filters, drl)
    extra = ["standard_name"] if drl is not None and "standard_name" not in by else []
    df = metric_values(store, metric, by=[*by, *extra], filters=filters)
    out = _summarise_pandas(df, by)
    if drl is not None:
        lvl_s = df["standard_name"].map(dict(drl))
        above = df.assign(a=(df["value"] > lvl_s).astype(int)).groupby(list(by), dropna=False)["a"].sum()
        out = out.merge(above.rename("n_above").reset_index(), on=list(by), how="left")
    return out


def _engine(store: Store, engine: str, per_event_protocol: bool) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r} not in {ENGINES}")
    if per_event_protocol:  # the copies hold no per-event protocol
        return "sql"
    if engine != "auto":
        return engine
    return {"copy": "copy", "rows": "columnar", None: "sql"}[fast_source(store)]


def summaries(store: Store, metrics: Sequence[str], *, by: Sequence[str] = ("room", "standard_name"),
              filters: Filters = StudyFilter(), drl: Mapping[str, Mapping[str, float]] | None = None,
              engine: str = "auto") -> dict[str, pd.DataFrame]:
    """n, median, mean, min, max, SD (sample) of each metric per group; ``n_above`` for metrics in ``drl``.

    Parameters
    ----------
    metrics
        Names from :data:`METRICS` (values in their canonical unit, e.g. mGy, mGy·cm, Gy·m²).
    by
        Grouping dimensions from :data:`DIMENSIONS`.
    filters
        Which studies.
    drl
        Metric → (standard name → level): adds ``n_above``, the number of values above the level (single
        exams/exposures above a DRL; the DRL itself is about the median).
    engine
        One of :data:`ENGINES` (see the module docstring): ``"copy"`` the store's columnar copy, ``"columnar"``
        narrow reads of the row tables grouped here, ``"sql"`` in the database; ``"auto"``: the copy when the
        store has it, else columnar when an ADBC driver is installed, else sql. A per-event ``protocol``
        dimension always goes to sql.

    Returns
    -------
    dict of DataFrame
        Per metric: ``by + [n, median, mean, min, max, sd]`` (+ ``n_above``), sorted by ``by``.
    """
    mets = [_check(m, by) for m in metrics]
    drl = drl or {}
    engine = _engine(store, engine, "protocol" in by and any(m.level == "event" for m in mets))
    if engine in ("copy", "columnar"):
        return _grouped(store, list(metrics), by, filters, drl, "copy" if engine == "copy" else "rows")
    return {m: _sql_summary(store, m, by, filters, drl.get(m)) for m in metrics}


def summary(store: Store, metric: str, *, by: Sequence[str] = ("room", "standard_name"),
            filters: Filters = StudyFilter(), drl: Mapping[str, float] | None = None,
            engine: str = "auto") -> pd.DataFrame:
    """One metric of :func:`summaries` (``drl`` is standard name → level for this metric)."""
    return summaries(store, [metric], by=by, filters=filters, drl={metric: drl} if drl is not None else None,
                     engine=engine)[metric]


def _box(codes: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Per int group code: n, q1, median, q3 (linear interpolation, NumPy's and pandas' default) and the whiskers
    ``low``/``high``: the extreme values within 1.5 IQR of the box, as Vega-Lite's boxplot draws them. One sort
    of (code, value); no Python loop over groups."""
    order = np.lexsort((values, codes))
    c, v = codes[order], values[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.zeros(0, np.int64)
    n = np.diff(np.r_[starts, len(c)])

    def q(p: float) -> np.ndarray:
        pos = starts + p * (n - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts + n - 1)
        return v[lo] + (pos - lo) * (v[hi] - v[lo])

    q1, med, q3 = q(0.25), q(0.5), q(0.75)
    fence = np.repeat(1.5 * (q3 - q1), n)
    inside = (v >= np.repeat(q1, n) - fence) & (v <= np.repeat(q3, n) + fence)
    g = pd.DataFrame({"code": c[inside], "v": v[inside]}).groupby("code")["v"]
    out = pd.DataFrame({"n": n, "q1": q1, "median": med, "q3": q3}, index=pd.Index(c[starts], name="code"))
    return out.assign(low=g.min(), high=g.max())


def distribution(store: Store, metric: str, *, by: Sequence[str] = ("room",),
                 filters: Filters = StudyFilter(), engine: str = "auto") -> pd.DataFrame:
    """The box plot of ``metric`` per group: ``by + [n, q1, median, q3, low, high]`` (whiskers at the extreme
    values within 1.5 IQR of the box), sorted by ``by``. On the columnar engines the values stay arrays (at 10^6
    events a DataFrame of every value plus a pandas group-by cost 3-4 s; this is one sort); ``engine`` as in
    :func:`summaries`."""
    met = _check(metric, by)
    engine = _engine(store, engine, "protocol" in by and met.level == "event")
    if engine in ("copy", "columnar"):
        keys = [k for k in by if k not in (*EQUIPMENT_DIMS, "month")]
        data = metric_data(store, [met], keys, filters, source="copy" if engine == "copy" else "rows")
        group, groups = _study_groups(data, by)
        rows, values = _rows_of(data, met)
        res = _box(group[rows], values)
    else:
        df = metric_values(store, metric, by=by, filters=filters)
        codes, uniq = pd.MultiIndex.from_frame(df[list(by)].astype(object)).factorize()
        groups = pd.DataFrame(list(uniq), columns=list(by)) if len(uniq) else pd.DataFrame(columns=list(by))
        res = _box(codes.astype(np.int64), df["value"].to_numpy(dtype=float))
    return groups.join(res, how="inner").sort_values(list(by)).reset_index(drop=True)


def monthly_medians(store: Store, metric: str, *, by: Sequence[str] = ("room", "standard_name"),
                    filters: Filters = StudyFilter(), engine: str = "auto") -> pd.DataFrame:
    """Time series of monthly medians (``month`` = ``YYYY-MM``) of ``metric`` per group, with n."""
    out = summary(store, metric, by=[*by, "month"], filters=filters, engine=engine)
    return out[[*by, "month", "n", "median"]]


def exam_counts(store: Store, *, by: Sequence[str] = ("modality", "room", "standard_name"),
                filters: Filters = StudyFilter()) -> pd.DataFrame:
    """Number of studies per group (SQL ``GROUP BY``), column ``n_exams``.

    Examples
    --------
    >>> from dmslab.analysis._examples import example_store
    >>> from dmslab.analysis.parameters import notebook_filters
    >>> store = example_store()
    >>> exam_counts(store, by=["room", "standard_name"])
      room           standard_name  n_exams
    0  CT1  CT Head wo IV Contrast       11
    >>> exam_counts(store, by=["room"], filters=notebook_filters(period_start="2026-01-10", rooms=["CT1"]))
      room  n_exams
    0  CT1        6
    >>> store.close()
    """
    _check("dlp_mgycm", by)
    return _exam_counts(store, by=by, selection=filters)


def workload(store: Store, *, filters: Filters = StudyFilter()) -> pd.DataFrame:
    """Exams per ISO weekday (1 = Monday … 7 = Sunday) × hour of day (0-23), counted in the database.

    Returns
    -------
    DataFrame
        ``weekday, weekday_name, hour, n_exams`` (only non-empty cells).
    """
    out = _workload_counts(store, selection=filters)
    names = dict(enumerate(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], start=1))
    out.insert(1, "weekday_name", out["weekday"].map(names))
    return out


def percentile_of_medians(medians: pd.Series, q: float = 75.0) -> float:
    """The ``q``-th percentile (linear interpolation) of group medians: ICRP 135 DRL derivation."""
    return float(np.percentile(medians.dropna().to_numpy(dtype=float), q))
