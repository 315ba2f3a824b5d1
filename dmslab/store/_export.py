"""Streamed event rows for exports: one row per irradiation event (or administration) with its study, patient and
equipment, in chunks of bounded size, so that an export of any length holds one chunk in memory.

What goes out is decided here, in one place: the identifier columns (:data:`IDENTIFIER_COLUMNS`: UIDs and keyed
pseudonyms, the birth year) only when the caller asks; instead every row carries ``exam``, a number that groups the
events of one exam within this export and means nothing outside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dmslab.contracts import load_contract
from dmslab.errors import FilterError
from dmslab.store._filters import StudyFilter, room_expr
from dmslab.store._store import Store
from dmslab.store.schema import table

__all__ = ["EVENT_TABLES", "IDENTIFIER_COLUMNS", "ExportColumn", "export_columns", "export_count", "export_rows"]

#: The event table of each modality.
EVENT_TABLES = {"CT": "ct_event", "DX": "proj_event", "MG": "proj_event", "RF": "proj_event", "NM": "nm_event"}
#: Columns that identify a patient, an exam or an object (directly, through a pseudonym, or as a quasi-identifier).
IDENTIFIER_COLUMNS = frozenset({"study_uid", "accession_key", "patient_key", "event_uid", "sop_instance_uid",
                                "birth_year", "device_observer_uid", "serial"})
_STUDY = ("study_uid", "accession_key", "study_datetime", "modality", "study_description", "requested_procedure",
          "procedure_code", "standard_name", "age_years", "height_m", "weight_kg")
_PATIENT = ("patient_key", "sex", "birth_year")
_EQUIPMENT = ("manufacturer", "model", "station_name", "institution", "serial", "device_observer_uid")
#: The pandas type of each contract type (nullable integers and booleans: a chunk's nulls never change a type).
_DTYPES = {"str": "object", "float": "float64", "int": "Int64", "datetime": "datetime64[us]", "bool": "boolean"}
_NOT_EXPORTED = frozenset({"flags", "unit_fixes", "exclusion_reason", "source_kind", "n_events", "n_events_reported"})


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """One exported column: its ``name``, the canonical ``unit`` (``None`` for text and counts), the table it
    comes from and its contract's description."""

    name: str
    unit: str | None
    source: str
    doc: str
    type: str = "str"


def export_columns(modality: str, *, identifiers: bool = False) -> tuple[ExportColumn, ...]:
    """The columns of an export of ``modality`` in file order: ``exam``, ``room``, study, patient, equipment and
    event columns (identifiers only with ``identifiers``).

    >>> [c.name for c in export_columns("CT")][:4]
    ['exam', 'room', 'study_datetime', 'modality']
    >>> next(c.unit for c in export_columns("CT") if c.name == "dlp_mgycm")
    'mGy.cm'
    """
    kind = _event_table(modality)
    out = [ExportColumn("exam", None, "export", "Exam number within this export (groups the events of one exam)",
                        "int"),
           ExportColumn("room", None, "equipment", "Room: equipment room, else station name, else display name")]
    for tab, names in (("study", _STUDY), ("patient", _PATIENT), ("equipment", _EQUIPMENT)):
        contract = load_contract(tab)
        for n in names:
            if identifiers or n not in IDENTIFIER_COLUMNS:
                c = contract.column(n)
                out.append(ExportColumn(n, c.unit, tab, c.doc, c.type))
    for c in load_contract(kind).columns:
        if (identifiers or c.name not in IDENTIFIER_COLUMNS) and c.name not in _NOT_EXPORTED:
            out.append(ExportColumn(c.name, c.unit, kind, c.doc, c.type))
    return tuple(out)


def _event_table(modality: str) -> str:
    try:
        return EVENT_TABLES[modality]
    except KeyError:
        raise ValueError(f"no export for modality {modality!r}: choose one of {', '.join(EVENT_TABLES)}") from None


def _joined(modality: str) -> tuple[sa.FromClause, sa.Table]:
    st, pt, eq = table("study"), table("patient"), table("equipment")
    ev = table(_event_table(modality))
    return (ev.join(st, ev.c.study_id == st.c.id).outerjoin(pt, st.c.patient_id == pt.c.id)
            .outerjoin(eq, st.c.equipment_id == eq.c.id)), ev


def export_count(store: Store, modality: str, where: StudyFilter = StudyFilter()) -> tuple[int, int]:
    """(exams, events) that :func:`export_rows` yields for the same arguments."""
    st = table("study")
    joined, ev = _joined(modality)
    q = (sa.select(sa.func.count(sa.distinct(st.c.id)), sa.func.count(ev.c.id)).select_from(joined)
         .where(st.c.modality == modality, *where.conditions()))
    with store.engine.connect() as conn:
        exams, events = conn.execute(q).one()
    return int(exams), int(events)


def export_rows(store: Store, modality: str, where: StudyFilter = StudyFilter(), *, identifiers: bool = False,
                chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """The events of the ``modality`` studies that ``where`` selects, ordered by study and event, in DataFrames
    of at most ``chunk_rows`` rows with the columns of :func:`export_columns` (the database streams them: memory
    stays at one chunk whatever the length).
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if where.modality and where.modality != modality:
        raise FilterError(f"the filter selects {where.modality} studies but the export is of {modality}")
    columns = export_columns(modality, identifiers=identifiers)
    st, pt, eq = table("study"), table("patient"), table("equipment")
    joined, ev = _joined(modality)
    source = {"study": st, "patient": pt, "equipment": eq, ev.name: ev}
    select: list[Any] = [st.c.id.label("_study_id"), room_expr().label("room")]
    select += [source[c.source].c[c.name].label(c.name) for c in columns if c.source not in ("export",)
               and c.name != "room"]
    query = (sa.select(*select).select_from(joined)
             .where(st.c.modality == modality, *where.conditions())
             .order_by(st.c.study_datetime, st.c.id, ev.c.id))
    names = [c.name for c in columns]
    dtypes = {c.name: _DTYPES[c.type] for c in columns}
    exam, last = 0, None
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
        for part in result.partitions(chunk_rows):
            keys = list(result.keys())  # columns from the rows transposed: pandas' row-wise path is 10x slower
            df = pd.DataFrame(dict(zip(keys, (list(c) for c in zip(*part, strict=True)), strict=True)), columns=keys)
            sid = df.pop("_study_id")
            new = (sid != sid.shift()).astype(int)
            if last is not None and len(sid) and sid.iloc[0] == last:
                new.iloc[0] = 0
            df.insert(0, "exam", exam + new.cumsum())
            exam, last = int(df["exam"].iloc[-1]), sid.iloc[-1]
            yield df[names].astype(dtypes)  # the same types in every chunk, whatever its nulls
