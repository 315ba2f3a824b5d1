"""SQL tables, built from ``data_contracts/`` plus surrogate keys and the de-duplication constraints.

Wide, flat tables (one row per study, one per irradiation event) with canonical units in column names.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from dmslab.contracts import extra_tables, load_contract

__all__ = ["DERIVED_COMMENTS", "metadata", "table"]

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
             sa.Index("ix_study_datetime", "study_datetime"),
             sa.Index("ix_study_device_last", "equipment_id", "modality", "study_datetime",
                      "exclusion_reason"))
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
    _derived_table(md)
    return md


#: Comments of the ``derived_value`` columns (shared with migration 0016).
DERIVED_COMMENTS = {
    "event_uid": "Irradiation Event UID of the event the value belongs to; null for a study-level value",
    "quantity": "What was derived, named with its canonical unit (ssde_mgy, effective_dose_msv, "
                "peak_skin_dose_gy, dw_cm ...)",
    "value": "The derived value in unit; null when the method refused (flags say why)",
    "unit": "Canonical unit of value (matches the quantity's suffix)",
    "method": "Method name (e.g. aapm204_deff, dlp_k_factor); a value is replaced only by the same method",
    "method_version": "Version of the method's code and tables that produced the value",
    "basis": "Reference the method rests on (e.g. 'AAPM Report 204 (2011)', 'ICRP 60 via EUR 16262 / AAPM 96')",
    "inputs": "JSON object: the input values used, with units in the key names",
    "assumptions": "JSON array of sentences: what the method assumed (reference person, phantom, size source)",
    "uncertainty": "Stated uncertainty of the value (text, e.g. '+-40 % (reference person)')",
    "flags": "'; '-separated flags, e.g. outside_fit_domain, phantom_mismatch, size_from_age",
    "detail": "JSON object: further results of the method (e.g. peak skin dose location, areas above 2/3/5 Gy)",
    "artifact": "Where a larger result is stored (e.g. the skin-dose map), relative to the site home; or null",
    "computed_at": "When the value was computed (local time)",
}


def _derived_table(md: sa.MetaData) -> None:
    """Derived quantities with their method record (see :mod:`dmslab.store._derived`)."""
    c = DERIVED_COMMENTS
    sa.Table("derived_value", md, sa.Column("id", sa.Integer, primary_key=True), _fk("study"),
             sa.Column("event_uid", sa.String(128), nullable=True, comment=c["event_uid"]),
             sa.Column("quantity", sa.String(64), nullable=False, comment=c["quantity"]),
             sa.Column("value", sa.Float, nullable=True, comment=c["value"]),
             sa.Column("unit", sa.String(32), nullable=False, comment=c["unit"]),
             sa.Column("method", sa.String(64), nullable=False, comment=c["method"]),
             sa.Column("method_version", sa.String(32), nullable=False, comment=c["method_version"]),
             sa.Column("basis", sa.Text, nullable=True, comment=c["basis"]),
             sa.Column("inputs", sa.Text, nullable=False, comment=c["inputs"]),
             sa.Column("assumptions", sa.Text, nullable=False, comment=c["assumptions"]),
             sa.Column("uncertainty", sa.Text, nullable=True, comment=c["uncertainty"]),
             sa.Column("flags", sa.Text, nullable=True, comment=c["flags"]),
             sa.Column("detail", sa.Text, nullable=True, comment=c["detail"]),
             sa.Column("artifact", sa.Text, nullable=True, comment=c["artifact"]),
             sa.Column("computed_at", sa.DateTime, nullable=False, comment=c["computed_at"]),
             sa.Index("ix_derived_value_study_quantity", "study_id", "quantity"))


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
