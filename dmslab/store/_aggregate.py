"""Dose metrics read from the row tables: typed selections, narrow reads, grouped counts and SQL aggregates.

The analysis layer never writes SQL: it describes *which studies* with a :class:`~dmslab.store.StudyFilter`
and *what* with a :class:`Metric` and calls the functions here (or :func:`dmslab.store.metric_data`, the columnar
fast path of :mod:`dmslab.store._columnar`). Everything that depends on the SQL dialect lives in this module:

* month keys (SQLite stores SQLAlchemy datetimes as ISO text: ``substr`` is cheaper than ``strftime``;
  PostgreSQL ``to_char`` / ``extract``);
* narrow reads through ADBC (Arrow, columnar, in C) on PostgreSQL when ``adbc-driver-postgresql`` is
  installed, else SQLAlchemy; filter values always travel as bound parameters, never inside the SQL text;
* PostgreSQL's in-database ``percentile_cont(0.5) WITHIN GROUP`` summary (SQLite has no median aggregate);
* exam counts and the weekday × hour workload as ``GROUP BY`` in SQL on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.store._filters import StudyFilter, room_expr
from dmslab.store.schema import table

if TYPE_CHECKING:
    from dmslab.store._store import Store

__all__ = ["DIMENSIONS", "EQUIPMENT_DIMS", "METRICS", "Metric", "MetricData", "Selection", "StudyFilter", "exam_counts",
           "has_median_aggregate", "metric_values", "rows_metric_data", "sql_summary", "workload_counts"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A DRL quantity: table/column, the level it is taken at, its modality and unit."""

    name: str
    table: str
    column: str
    level: str  # "event" or "study"
    modality: str
    unit: str


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("ctdivol_mgy", "ct_event", "ctdivol_mgy", "event", "CT", "mGy"),
    Metric("dlp_mgycm", "study", "total_dlp_mgycm", "study", "CT", "mGy.cm"),
    Metric("dap_gym2", "proj_event", "dap_gym2", "event", "DX", "Gy.m2"),
    Metric("agd_mgy", "proj_event", "agd_mgy", "event", "MG", "mGy"),
    Metric("total_dap_gym2", "study", "total_dap_gym2", "study", "RF", "Gy.m2"),
    Metric("total_rp_dose_gy", "study", "total_rp_dose_gy", "study", "RF", "Gy"),
    Metric("fluoro_time_s", "study", "fluoro_time_s", "study", "RF", "s"),
)}

#: Grouping dimensions a summary can use.
DIMENSIONS = ("room", "facility", "device", "modality", "standard_name", "study_description", "protocol", "month")
#: The dimensions that belong to the equipment (joined by ``study.equipment_id``).
EQUIPMENT_DIMS = ("room", "facility", "device")


#: The name the aggregate functions gave :class:`StudyFilter` (the same class, no conversion).
Selection = StudyFilter


def _dialect(store: Store) -> str:
    return store.engine.dialect.name


def has_median_aggregate(store: Store) -> bool:
    """Whether the database computes medians itself (PostgreSQL ``percentile_cont``; SQLite has none)."""
    return _dialect(store) == "postgresql"


def equipment_dims() -> dict[str, sa.ColumnElement[Any]]:
    """The labels of the equipment dimensions (what a study without equipment shows as well)."""
    eq = table("equipment")
    return {"room": sa.func.coalesce(room_expr(), sa.literal("?")),
            "facility": sa.func.coalesce(eq.c.institution, sa.literal("facility")),
            "device": sa.func.coalesce(eq.c.manufacturer, sa.literal("")) + sa.literal(" ")
            + sa.func.coalesce(eq.c.model, sa.literal(""))}


def _dims(store: Store, metric: Metric | None) -> dict[str, sa.ColumnElement[Any]]:
    st = table("study")
    proto: sa.ColumnElement[Any] = st.c.study_description
    if metric is not None and metric.level == "event":
        proto = sa.func.coalesce(table(metric.table).c.acquisition_protocol, st.c.study_description)
    month = (sa.func.to_char(st.c.study_datetime, "YYYY-MM") if _dialect(store) == "postgresql"
             else sa.func.substr(st.c.study_datetime, 1, 7))
    return {**equipment_dims(), "modality": st.c.modality, "standard_name": st.c.standard_name,
            "study_description": st.c.study_description, "protocol": proto, "month": month}


def _select(metric: Metric, cols: Sequence[sa.ColumnElement[Any]], sel: StudyFilter) -> sa.Select[Any]:
    st, eq = table("study"), table("equipment")
    src = st.outerjoin(eq, st.c.equipment_id == eq.c.id)
    value = getattr(table(metric.table).c, metric.column)
    conds = [value.is_not(None), st.c.modality == metric.modality, *sel.conditions()]
    if metric.level == "event":
        ev = table(metric.table)
        src = src.join(ev, ev.c.study_id == st.c.id)
        if metric.table == "ct_event":  # localizers (constant angle) have no DRL meaning
            conds.append(_not_localizer(ev))
    return sa.select(*cols).select_from(src).where(*conds)


def _not_localizer(ev: sa.Table) -> sa.ColumnElement[bool]:
    return sa.or_(ev.c.acquisition_type.is_(None), ev.c.acquisition_type != "constant_angle")


def metric_values(store: Store, metric: Metric, *, by: Sequence[str], selection: StudyFilter = StudyFilter(),
                  extra: Sequence[str] = (), above: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The narrow rows ``by + extra + [value]`` of one metric (``extra``: study columns such as ``study_uid``).

    ``above`` (standard name → level) keeps only the values above their standard name's level, in the database:
    the exams above a DRL are a few rows out of 10^6, and reading them all costs a second there."""
    dims = _dims(store, metric)
    value = getattr(table(metric.table).c, metric.column)
    st = table("study")
    cols = [dims[b].label(b) for b in by] + [getattr(st.c, e).label(e) for e in extra] + [value.label("value")]
    query = _select(metric, cols, selection)
    if above is not None:
        levels = {k: float(v) for k, v in above.items() if v == v}  # NaN: no level, nothing is above it
        if not levels:
            query = query.where(sa.false())
        else:
            level = sa.case({k: sa.literal(v) for k, v in levels.items()}, value=st.c.standard_name)
            query = query.where(st.c.standard_name.in_(list(levels)), value > level)
    return read_fast(store, query)


def adbc(store: Store) -> Any | None:
    """An ADBC (Arrow) connection to a PostgreSQL store when ``adbc-driver-postgresql`` is installed, else ``None``.

    Not for SQLite: ``adbc-driver-sqlite`` links its own copy of SQLite, and two SQLite libraries in one
    process on one WAL database break each other's POSIX locks: measured, an ADBC read after the first ADBC
    connection closed no longer saw rows pysqlite had committed (stale numbers, then "disk I/O error"). The
    fast path on SQLite is the columnar copy (:mod:`dmslab.store._columnar`).
    """
    url = store.engine.url
    try:
        if _dialect(store) == "postgresql":
            import adbc_driver_postgresql.dbapi as pg_adbc

            return pg_adbc.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    except ImportError:
        return None
    return None


def read_fast(store: Store, query: sa.Select[Any]) -> pd.DataFrame:
    """Read a SELECT through ADBC/Arrow when available (columnar, in C, no Python row tuples), else SQLAlchemy."""
    conn = adbc(store)
    if conn is None:
        return store.read(query)
    sql, params = bound(store, query)
    with conn, conn.cursor() as cur:
        cur.execute(sql, params or None)
        return cur.fetch_arrow_table().to_pandas()


def bound(store: Store, query: sa.Select[Any]) -> tuple[str, list[Any]]:
    """``query`` as SQL text with positional placeholders for the ADBC driver (``?`` for SQLite, ``$n`` for
    PostgreSQL) and its values in placeholder order: filter values travel as bound parameters, never inside the
    SQL text. Values go through the store dialect's bind processors (SQLite datetimes become the ISO text
    SQLAlchemy stores, so comparisons match the slow path's)."""
    paramstyle = "numeric_dollar" if _dialect(store) == "postgresql" else "qmark"
    kind: Any = type(store.engine.dialect)  # the store's driver dialect, with the ADBC driver's placeholders
    dialect: sa.Dialect = kind(paramstyle=paramstyle)
    compiled = query.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = []
    for name in compiled.positiontup or ():  # $n: the n-th name; ?: in text order
        bind = compiled.binds.get(name)
        if bind is None:  # an IN (...) list: b_1 expanded to b_1_1, b_1_2…
            bind = compiled.binds[name.rsplit("_", 1)[0]]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        value = compiled.params[name]
        values.append(process(value) if process is not None else value)
    return str(compiled), values


def _month_int(store: Store) -> sa.ColumnElement[Any]:
    t = table("study").c.study_datetime
    if _dialect(store) == "postgresql":
        return sa.cast(sa.extract("year", t) * 100 + sa.extract("month", t), sa.Integer)
    return sa.cast(sa.func.substr(t, 1, 4).op("||")(sa.func.substr(t, 6, 2)), sa.Integer)


@dataclass(frozen=True, slots=True)
class MetricData:
    """What the columnar statistics need, one row per selected study.

    ``studies``: ``_sid``, ``_modality``, ``_eq`` (equipment id, NaN/-1 without), ``_month`` (yyyymm, 0 without a
    date), the requested text keys and the study-level metric values. ``events``: per event-level metric
    (study id, value) of its non-null values (CT localizers excluded). ``equipment``: ``id`` and the labels of
    :data:`EQUIPMENT_DIMS`; ``no_equipment``: those labels for a study without equipment. ``source`` says where
    the rows came from (``"rows"`` or ``"columnar copy"``).
    """

    studies: pd.DataFrame
    events: Mapping[str, tuple[np.ndarray, np.ndarray]]
    equipment: pd.DataFrame
    no_equipment: Mapping[str, str]
    source: str


def equipment_labels(store: Store) -> tuple[pd.DataFrame, dict[str, str]]:
    """Equipment ids with their dimension labels, and the labels of a study without equipment."""
    st, eq = table("study"), table("equipment")
    dims = equipment_dims()
    equipment = store.read(sa.select(eq.c.id, *[dims[k].label(k) for k in EQUIPMENT_DIMS]))
    null_eq = store.read(sa.select(*[dims[k].label(k) for k in EQUIPMENT_DIMS]).select_from(
        st.outerjoin(eq, sa.false())).limit(1))
    none = {k: (str(null_eq[k].iloc[0]) if len(null_eq) and null_eq[k].iloc[0] is not None else "?")
            for k in EQUIPMENT_DIMS}
    return equipment, none


def rows_metric_data(store: Store, metrics: Sequence[Metric], keys: Sequence[str],
                     selection: StudyFilter) -> MetricData:
    """:class:`MetricData` read from the row tables (narrow reads, through Arrow when ADBC is installed)."""
    st, eq = table("study"), table("equipment")
    dims = _dims(store, None)
    cols = [st.c.id.label("_sid"), st.c.modality.label("_modality"), st.c.equipment_id.label("_eq"),
            _month_int(store).label("_month"), *[dims[k].label(k) for k in keys],
            *[getattr(st.c, m.column).label(m.name) for m in metrics if m.level == "study"]]
    q = (sa.select(*cols).select_from(st.outerjoin(eq, st.c.equipment_id == eq.c.id))
         .where(st.c.modality.in_(sorted({m.modality for m in metrics})), *selection.conditions()))
    studies = read_fast(store, q)
    sids = studies["_sid"].to_numpy(dtype=np.int64)
    events = {m.name: _event_values(store, m, sids) for m in metrics if m.level == "event"}
    equipment, none = equipment_labels(store)
    return MetricData(studies, events, equipment, none, "rows")


def _event_values(store: Store, met: Metric, sids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(study id, value) of a metric's events for the studies ``sids`` (narrow Arrow read, id range in SQL)."""
    ev = table(met.table)
    value = getattr(ev.c, met.column)
    conds = [value.is_not(None)]
    if met.table == "ct_event":
        conds.append(_not_localizer(ev))
    if len(sids):
        conds.append(ev.c.study_id.between(int(sids.min()), int(sids.max())))
    df = read_fast(store, sa.select(ev.c.study_id, value.label("value")).where(*conds))
    return df["study_id"].to_numpy(dtype=np.int64), df["value"].to_numpy(dtype=float)


def sql_summary(store: Store, metric: Metric, by: Sequence[str], selection: StudyFilter,
                levels: Mapping[str, float] | None) -> pd.DataFrame:
    """PostgreSQL: n, median (``percentile_cont``), mean, min, max, SD per group in the database; ``n_above``
    (values above the level of their standard name) when ``levels`` is given."""
    if not has_median_aggregate(store):
        raise ValueError("sql_summary needs PostgreSQL (SQLite has no median aggregate): use metric_values")
    dims = _dims(store, metric)
    v = getattr(table(metric.table).c, metric.column)
    aggs = [sa.func.count(v).label("n"), sa.func.percentile_cont(0.5).within_group(v).label("median"),
            sa.func.avg(v).label("mean"), sa.func.min(v).label("min"), sa.func.max(v).label("max"),
            sa.func.stddev_samp(v).label("sd")]
    if levels is not None:
        lvl: sa.ColumnElement[Any] = (sa.case(dict(levels), value=table("study").c.standard_name, else_=None)
                                      if levels else sa.cast(sa.null(), sa.Float))
        aggs.append(sa.func.sum(sa.case((v > lvl, 1), else_=0)).label("n_above"))
    keys = [dims[b].label(b) for b in by]
    out = store.read(_select(metric, [*keys, *aggs], selection).group_by(*keys).order_by(*keys))
    return out.astype({c: float for c in ("median", "mean", "min", "max", "sd")})


def exam_counts(store: Store, *, by: Sequence[str], selection: StudyFilter = StudyFilter()) -> pd.DataFrame:
    """Number of studies per group (SQL ``GROUP BY``), column ``n_exams``."""
    st, eq = table("study"), table("equipment")
    dims = _dims(store, None)
    keys = [dims[b].label(b) for b in by]
    q = (sa.select(*keys, sa.func.count(st.c.id).label("n_exams"))
         .select_from(st.outerjoin(eq, st.c.equipment_id == eq.c.id))
         .where(*selection.conditions()).group_by(*keys).order_by(*keys))
    return store.read(q)


def workload_counts(store: Store, *, selection: StudyFilter = StudyFilter()) -> pd.DataFrame:
    """Studies per ISO weekday (1 = Monday … 7 = Sunday) × hour (0-23): ``weekday, hour, n_exams``."""
    st, eq = table("study"), table("equipment")
    t = st.c.study_datetime
    wd: sa.ColumnElement[Any]
    hr: sa.ColumnElement[Any]
    if _dialect(store) == "postgresql":
        wd = sa.cast(sa.extract("isodow", t), sa.Integer)
        hr = sa.cast(sa.extract("hour", t), sa.Integer)
    else:  # %w: 0 = Sunday
        wd = (sa.cast(sa.func.strftime("%w", t), sa.Integer) + 6) % 7 + 1
        hr = sa.cast(sa.func.strftime("%H", t), sa.Integer)
    q: sa.Select[Any] = (sa.select(wd.label("weekday"), hr.label("hour"), sa.func.count(st.c.id).label("n_exams"))
                         .select_from(st.outerjoin(eq, st.c.equipment_id == eq.c.id))
                         .where(t.is_not(None), *selection.conditions()).group_by(wd, hr).order_by(wd, hr))
    return store.read(q).astype({"weekday": int, "hour": int, "n_exams": int})
