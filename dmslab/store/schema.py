"""SQL tables, built from ``data_contracts/`` plus surrogate keys and the de-duplication constraints.

Wide, flat tables (one row per study, one per irradiation event) with canonical units in column names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from dmslab.contracts import extra_tables, load_contract

__all__ = ["metadata", "table"]

_SQL_TYPES = {
    "str": sa.Text,
    "float": sa.Float,
    "int": sa.Integer,
    "datetime": sa.DateTime,
    "bool": sa.Boolean,
}
#: Columns that are searched or joined on get a bounded string type (indexable everywhere).
_KEY_COLUMNS = {"study_uid", "event_uid", "patient_key", "accession_key", "sop_instance_uid", "sha256",
                "device_observer_uid", "status", "reason", "modality", "plane"}


def _columns(name: str) -> list[sa.Column]:
    cols = []
    for c in load_contract(name).columns:
        typ = sa.String(128) if c.name in _KEY_COLUMNS else _SQL_TYPES[c.type]()
        comment = (c.doc + (f" [{c.unit}]" if c.unit else ""))[:250]
        cols.append(sa.Column(c.name, typ, nullable=not c.required, comment=comment))
    return cols


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> sa.Column:
    return sa.Column(f"{target}_id", sa.Integer, sa.ForeignKey(f"{target}.id", ondelete="CASCADE"),
                     nullable=nullable, index=index)


@lru_cache(maxsize=1)
def metadata() -> sa.MetaData:
    """The store's tables (built once)."""
    md = sa.MetaData()
    sa.Table("equipment", md, sa.Column("id", sa.Integer, primary_key=True), *_columns("equipment"))
    sa.Table("patient", md, sa.Column("id", sa.Integer, primary_key=True), *_columns("patient"),
             sa.UniqueConstraint("patient_key", name="uq_patient_key"))
    sa.Table("study", md, sa.Column("id", sa.Integer, primary_key=True), _fk("equipment", nullable=True),
             _fk("patient", nullable=True), *_columns("study"),
             sa.UniqueConstraint("study_uid", "modality", name="uq_study_uid_modality"),
             sa.Index("ix_study_datetime", "study_datetime"))
    sa.Table("ct_event", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study"), *_columns("ct_event"),
             sa.UniqueConstraint("study_id", "event_uid", name="uq_ct_event"))
    sa.Table("proj_event", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study"), *_columns("proj_event"),
             sa.UniqueConstraint("study_id", "event_uid", name="uq_proj_event"))
    sa.Table("proj_plane", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study"), *_columns("proj_plane"),
             sa.UniqueConstraint("study_id", "plane", name="uq_proj_plane"))
    sa.Table("nm_event", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study"), *_columns("nm_event"),
             sa.UniqueConstraint("study_id", "event_uid", name="uq_nm_event"))
    sa.Table("source_object", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study", nullable=True),
             *_columns("source_object"), sa.Index("ix_source_sop", "sop_instance_uid"))
    for name in extra_tables():
        _generic_table(md, name)
    _columnar_tables(md)
    return md


def _columnar_tables(md: sa.MetaData) -> None:
    """The columnar copy of the dose metrics and its change log (see :mod:`dmslab.store._columnar`)."""
    sa.Table("columnar_chunk", md, sa.Column("kind", sa.String(32), primary_key=True),
             sa.Column("chunk", sa.Integer, primary_key=True),
             sa.Column("n_rows", sa.Integer, nullable=False, comment="Rows in the payload"),
             sa.Column("payload", sa.LargeBinary, nullable=False, comment="Arrow IPC stream (zstd)"))
    sa.Table("columnar_dirty", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("chunk", sa.Integer, nullable=False, comment="Chunk changed since it was packed"),
             sa.Index("ix_columnar_dirty_chunk", "chunk"))


def _generic_table(md: sa.MetaData, name: str) -> sa.Table:
    """A table described entirely by its contract (parents, unique constraints and indexes included)."""
    c = load_contract(name)
    keys = [_fk(p) for p in c.parents] + [_fk(p, nullable=True) for p in c.optional_parents]
    extras: list[Any] = [sa.UniqueConstraint(*u, name=f"uq_{name}_{'_'.join(u)}"[:60]) for u in c.unique]
    extras += [sa.Index(f"ix_{name}_{'_'.join(i)}"[:60], *i) for i in c.indexes]
    return sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True), *keys, *_columns(name), *extras)


def table(name: str) -> sa.Table:
    """One table of :func:`metadata` by name."""
    return metadata().tables[name]
