"""A columnar copy of the dose metrics, kept by the store inside the database, for audits over 10⁷ events.

Why a copy, and not aggregates kept up to date at ingest
--------------------------------------------------------
An audit asks for medians per group, with groups (room, protocol, month, standard name…) and filters (period,
rooms, patient group) chosen at read time. Medians do not combine (the median of a group is not a function of
the medians of its parts), so aggregates kept at ingest would have to be kept for every combination of
dimensions and filter bounds: not possible. What *is* possible is to make the values cheap to read. Reading
10⁷ rows out of SQLite's row format costs ≈ 10 s for any reader (DuckDB's SQLite scanner: 9.8 s on
``bench/bench_audit.py``'s 10⁷ store; dmslab's narrow ADBC reads: 20.8 s), while the same values as Arrow
columns are a few hundred MB of contiguous buffers, read in well under a second. Measured on the bench's 10⁷
store (2 cores, busy machine): see ``docs/audit.md`` for the figures of the last run.

What the copy is
----------------
Studies are cut into chunks of :data:`CHUNK` study ids. For each chunk, table ``columnar_chunk`` holds one
Arrow IPC stream (zstd) per kind: ``study`` (id, modality, equipment, date/time, standard name, study
description, excluded, age, weight, the study-level metrics), ``ct_event`` (study id, CTDIvol, localizer) and
``proj_event`` (study id, DAP, AGD). Equipment labels (rooms) are not copied: they are joined at read time,
so renaming a room never makes the copy stale.

How it stays correct
--------------------
Database triggers (migration 0014) append the chunk of every inserted, deleted or changed row of ``study``,
``ct_event`` and ``proj_event`` (changed: only the copied columns) to ``columnar_dirty``, in the writer's own
transaction, whoever the writer is (the store's batch writer, supersession by a better dose source, manual
corrections, ``names apply``, a bulk load). :func:`refresh` re-packs the dirty chunks and deletes exactly the
``columnar_dirty`` rows it saw, so a mark written by a transaction that commits meanwhile survives (on
PostgreSQL refreshes take turns through an advisory lock). It runs when a writer calls
:meth:`dmslab.store.Store.refresh_columnar` (``dmslab ingest`` does at the end of a run). A reader never
writes: it reads packed chunks for the clean chunks and the row tables for the dirty ones, in one snapshot,
and logs how many chunks it read from rows. So a reader never sees stale numbers, only slower ones until the
next refresh.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dmslab.store._aggregate import METRICS, Metric, MetricData, equipment_labels
from dmslab.store._filters import PatientBand, StudyFilter, room_expr
from dmslab.store.schema import table

if TYPE_CHECKING:
    import pyarrow as pa

    from dmslab.store._store import Store

__all__ = ["CHUNK", "COPIED", "available", "columnar_metric_data", "dirty_chunks", "fast_source", "metric_data",
           "refresh"]

logger = logging.getLogger(__name__)

#: Study ids per chunk (≈ 10⁵ events of a CT department): a write dirties one or two chunks.
CHUNK = 32768
_STUDY_METRICS = tuple(m.column for m in METRICS.values() if m.level == "study")
#: The copied columns of each table (a change to another column does not dirty a chunk).
COPIED: dict[str, tuple[str, ...]] = {
    "study": ("id", "modality", "equipment_id", "study_datetime", "standard_name", "study_description",
              "exclusion_reason", "age_years", "weight_kg", *_STUDY_METRICS),
    "ct_event": ("study_id", "ctdivol_mgy", "acquisition_type"),
    "proj_event": ("study_id", "dap_gym2", "agd_mgy"),
}
_TEXT = ("modality", "standard_name", "study_description")
_IN = 500


def available(store: Store) -> bool:
    """Whether the store has the copy (migration 0014) and pyarrow is installed."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    with store.engine.connect() as conn:
        return sa.inspect(conn).has_table("columnar_chunk")


# ---- packing -------------------------------------------------------------------------------------------
def _chunk_rows(conn: sa.Connection, kind: str, chunks: Sequence[int]) -> pa.Table:
    """The copied rows of ``kind`` for the study id ranges of ``chunks``, as an Arrow table."""
    import pyarrow as pa

    t = table(kind)
    key = t.c.id if kind == "study" else t.c.study_id
    cond = sa.or_(*[key.between(c * CHUNK, (c + 1) * CHUNK - 1) for c in chunks]) if chunks else sa.false()
    if kind == "study":
        cols: list[sa.ColumnElement[Any]] = [
            t.c.id, t.c.modality, t.c.equipment_id, sa.type_coerce(t.c.study_datetime, sa.String).label("dt")
            if conn.dialect.name == "sqlite" else t.c.study_datetime.label("dt"), t.c.standard_name,
            t.c.study_description, t.c.exclusion_reason.is_not(None).label("excluded"), t.c.age_years,
            t.c.weight_kg, *[t.c[c] for c in _STUDY_METRICS]]
    elif kind == "ct_event":
        cols = [t.c.study_id, t.c.ctdivol_mgy, sa.func.coalesce(t.c.acquisition_type == "constant_angle",
                                                                 sa.false()).label("localizer")]
    else:
        cols = [t.c.study_id, t.c.dap_gym2, t.c.agd_mgy]
    result = conn.execute(sa.select(*cols).where(cond).order_by(key))
    names = list(result.keys())
    rows = result.fetchall()
    data = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    arrays = {n: pa.array(v, type=_arrow_type(n)) for n, v in zip(names, data, strict=True)}
    if "dt" in arrays:  # SQLite: the ISO text SQLAlchemy stores; PostgreSQL: datetimes
        arrays["dt"] = arrays["dt"].cast(pa.timestamp("us"))
    for n in _TEXT:
        if n in arrays:
            arrays[n] = arrays[n].dictionary_encode()
    return pa.table(arrays)


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name in ("id", "study_id", "equipment_id"):
        return pa.int64()
    if name in ("excluded", "localizer"):
        return pa.bool_()
    if name in _TEXT:
        return pa.string()
    if name == "dt":
        return None  # text (SQLite) or datetimes (PostgreSQL), cast after
    return pa.float64()


def _serialize(tab: pa.Table) -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, tab.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(tab)
    return sink.getvalue()


def _deserialize(payload: bytes) -> pa.Table:
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


def dirty_chunks(conn: sa.Connection) -> set[int]:
    """The chunks changed since their last packing."""
    d = table("columnar_dirty")
    return {int(c) for (c,) in conn.execute(sa.select(d.c.chunk).distinct())}


def refresh(conn: sa.Connection) -> int:
    """Re-pack the dirty chunks inside the caller's write transaction; returns how many were packed."""
    d, ch = table("columnar_dirty"), table("columnar_chunk")
    if conn.dialect.name == "postgresql":  # refreshes take turns (see the module docstring)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('dmslab columnar refresh'))"))
    marks = conn.execute(sa.select(d.c.id, d.c.chunk)).fetchall()
    chunks = sorted({int(c) for _id, c in marks})
    for i in range(0, len(chunks), 8):
        part = chunks[i:i + 8]
        conn.execute(ch.delete().where(ch.c.chunk.in_(part)))
        rows = []
        for kind in COPIED:
            tab = _chunk_rows(conn, kind, part)
            key = tab.column("id" if kind == "study" else "study_id").to_numpy() // CHUNK
            for c in part:
                sub = tab.filter(key == c)
                if sub.num_rows:
                    rows.append({"kind": kind, "chunk": c, "n_rows": sub.num_rows, "payload": _serialize(sub)})
        if rows:
            conn.execute(ch.insert(), rows)
    ids = [int(i) for i, _c in marks]
    for i in range(0, len(ids), _IN):
        conn.execute(d.delete().where(d.c.id.in_(ids[i:i + _IN])))
    if chunks:
        logger.info("columnar copy: %d chunk(s) re-packed", len(chunks))
    return len(chunks)


# ---- reading -------------------------------------------------------------------------------------------
def _begin_snapshot(conn: sa.Connection) -> None:
    """One snapshot for every read of this connection (SQLite deferred BEGIN; PostgreSQL repeatable read)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def _read_kinds(conn: sa.Connection, columns: Mapping[str, Sequence[str]]) -> dict[str, pd.DataFrame]:
    """The ``columns`` of each kind, packed chunks for the clean chunks and row tables for the dirty ones."""
    import pyarrow as pa

    kinds = list(columns)
    ch = table("columnar_chunk")
    dirty = sorted(dirty_chunks(conn))
    parts: dict[str, list[pa.Table]] = {k: [] for k in kinds}
    query = sa.select(ch.c.kind, ch.c.chunk, ch.c.payload).where(ch.c.kind.in_(kinds)).order_by(ch.c.chunk)
    n_clean = 0
    for kind, chunk, payload in conn.execute(query):
        if chunk not in dirty:
            parts[kind].append(_deserialize(payload).select(list(columns[kind])))
            n_clean += kind == "study"
    if dirty:
        logger.info("columnar copy: %d chunk(s) changed since the last refresh are read from the row tables "
                    "(%d read packed); Store.refresh_columnar() re-packs them", len(dirty), n_clean)
        for kind in kinds:
            parts[kind].append(_chunk_rows(conn, kind, dirty).select(list(columns[kind])))
    out = {}
    for kind, tabs in parts.items():
        tabs = [t for t in tabs if t.num_rows] or tabs[-1:] or [_chunk_rows(conn, kind, []).select(list(columns[kind]))]
        out[kind] = pa.concat_tables(tabs, promote_options="permissive").to_pandas()
    return out


def _mask(st: pd.DataFrame, sel: StudyFilter, modalities: Sequence[str], rooms: np.ndarray | None) -> np.ndarray:
    """The SQL conditions of :meth:`StudyFilter.conditions` on the copied study columns."""
    keep = st["modality"].isin(list(modalities)).to_numpy().copy()
    if not sel.include_non_patient:
        keep &= ~st["excluded"].to_numpy(dtype=bool)
    when = st["dt"]
    if sel.start is not None:
        keep &= (when >= pd.Timestamp(sel.start)).to_numpy()
    if sel.end is not None:
        keep &= (when < pd.Timestamp(sel.end)).to_numpy()
    if sel.modality:
        keep &= (st["modality"] == sel.modality).to_numpy()
    if rooms is not None:
        keep &= st["equipment_id"].isin(rooms).to_numpy()
    if sel.standard_names:
        keep &= st["standard_name"].isin(list(sel.standard_names)).to_numpy()
    if (band := sel.band) is not None:
        keep &= _patient_group(st, band)
    return keep


def _patient_group(st: pd.DataFrame, band: PatientBand) -> np.ndarray:
    """SQL's null semantics: an unknown age counts as adult, never as paediatric; an unknown weight never."""
    age, weight = st["age_years"].to_numpy(dtype=float), st["weight_kg"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        if band.adult:
            return np.isnan(age) | (age >= 18)
        keep = age < 18
        for col, bounds in ((age, band.age), (weight, band.weight)):
            if bounds is not None:
                keep &= (col >= bounds[0]) & (col < bounds[1])
    return keep


def _room_ids(conn: sa.Connection, rooms: tuple[str, ...] | None) -> np.ndarray | None:
    if not rooms:
        return None
    eq = table("equipment")
    ids = conn.execute(sa.select(eq.c.id).where(room_expr().in_(list(rooms)))).scalars().all()
    return np.asarray(ids, dtype=np.int64)


_KEY_COLUMN = {"modality": "modality", "standard_name": "standard_name", "study_description": "study_description",
               "protocol": "study_description"}


def _columns(metrics: Sequence[Metric], keys: Sequence[str], sel: StudyFilter) -> dict[str, list[str]]:
    """The copied columns a query needs (fewer columns: less memory)."""
    study = ["id", "modality", "equipment_id", "dt", "excluded", *{_KEY_COLUMN[k] for k in keys}]
    if sel.standard_names:
        study.append("standard_name")
    if sel.patient_group:
        study += ["age_years", "weight_kg"]
    study += [m.column for m in metrics if m.level == "study"]
    out = {"study": list(dict.fromkeys(study))}
    for m in metrics:
        if m.level == "event":
            out.setdefault(m.table, ["study_id", *(["localizer"] if m.table == "ct_event" else [])]).append(m.column)
    return out


def columnar_metric_data(store: Store, metrics: Sequence[Metric], keys: Sequence[str],
                         selection: StudyFilter) -> MetricData:
    """:class:`MetricData` from the copy (dirty chunks from the row tables), as :func:`rows_metric_data`."""
    with store.engine.connect() as conn:
        _begin_snapshot(conn)
        frames = _read_kinds(conn, _columns(metrics, keys, selection))
        rooms = _room_ids(conn, selection.rooms)
        conn.rollback()
    st = frames["study"]
    st = st[_mask(st, selection, sorted({m.modality for m in metrics}), rooms)]
    when = st["dt"]
    studies = pd.DataFrame({
        "_sid": st["id"].to_numpy(dtype=np.int64), "_modality": st["modality"].to_numpy(dtype=object),
        "_eq": st["equipment_id"].to_numpy(),
        "_month": (when.dt.year * 100 + when.dt.month).fillna(0).to_numpy(dtype=np.int64),
        **{k: st[_KEY_COLUMN[k]].to_numpy() for k in keys},
        **{m.name: st[m.column].to_numpy(dtype=float) for m in metrics if m.level == "study"}})
    events = {}
    for m in metrics:
        if m.level != "event":
            continue
        ev = frames[m.table]
        ok = ev[m.column].notna().to_numpy().copy()
        if "localizer" in ev:
            ok &= ~ev["localizer"].to_numpy(dtype=bool)
        events[m.name] = (ev["study_id"].to_numpy(dtype=np.int64)[ok], ev[m.column].to_numpy(dtype=float)[ok])
    equipment, none = equipment_labels(store)
    return MetricData(studies, events, equipment, none, "columnar copy")


def fast_source(store: Store) -> str | None:
    """The fastest array source of this store: ``"copy"`` (the columnar copy), ``"rows"`` (narrow Arrow reads
    of the row tables: an ADBC driver is installed) or ``None`` (neither: let the database group)."""
    from dmslab.store._aggregate import adbc

    if available(store):
        return "copy"
    conn = adbc(store)
    if conn is None:
        return None
    conn.close()
    return "rows"


def metric_data(store: Store, metrics: Sequence[Metric], keys: Sequence[str], selection: StudyFilter, *,
                source: str = "auto") -> MetricData:
    """The studies and metric values of ``selection``: ``source="copy"`` the columnar copy (its dirty chunks
    from the row tables), ``"rows"`` the row tables (through Arrow when ADBC is installed), ``"auto"`` the
    copy when the store has it and pyarrow is installed, else the rows."""
    from dmslab.store._aggregate import rows_metric_data

    if source not in ("auto", "copy", "rows"):
        raise ValueError(f"source {source!r} not in ('auto', 'copy', 'rows')")
    if source == "copy" or (source == "auto" and available(store)):
        return columnar_metric_data(store, metrics, keys, selection)
    return rows_metric_data(store, metrics, keys, selection)
