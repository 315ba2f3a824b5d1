"""Load the data contracts (``data_contracts/*.toml``) and check values against them.

The contracts are the single description of every table: column names, types, canonical units and
plausibility ranges. Ingest uses :func:`check_values` to flag implausible values; the store builds its
tables from :func:`load_contract`.
"""

from __future__ import annotations

import datetime as _dt
import math
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["CORE_TABLES", "Column", "Contract", "check_values", "contracts_dir", "extra_tables",
           "load_contract"]

#: The core tables; further tables are any other ``data_contracts/*.toml`` (see :func:`extra_tables`).
CORE_TABLES = ("equipment", "patient", "study", "ct_event", "proj_event", "proj_plane", "nm_event", "source_object")
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "float": (float, int),
    "int": (int,),
    "datetime": (_dt.datetime,),
    "bool": (bool,),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a contract."""

    name: str
    type: str
    doc: str
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Contract:
    """A table contract: its name, what one row is, its columns in order, and (for tables beyond the core)
    how the store keys it: ``parents`` (tables it references by ``<parent>_id``; ``optional_parents`` may be
    null), ``unique`` and ``indexes`` (lists of column lists)."""

    name: str
    one_row_per: str
    columns: tuple[Column, ...]
    parents: tuple[str, ...] = ()
    optional_parents: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError when there is none)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def contracts_dir() -> Path:
    """Where the contract files are: inside an installed wheel, else the repository's ``data_contracts/``."""
    packaged = Path(str(resources.files("dmslab"))) / "_contracts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "data_contracts"


def extra_tables() -> tuple[str, ...]:
    """Tables beyond the core ones: every other contract file, in name order."""
    return tuple(sorted(p.stem for p in contracts_dir().glob("*.toml") if p.stem not in CORE_TABLES))


def __getattr__(name: str) -> tuple[str, ...]:
    if name == "TABLES":  # all tables: core first, then extras
        return CORE_TABLES + extra_tables()
    raise AttributeError(name)


@cache
def load_contract(table: str) -> Contract:
    """Load and validate the contract of ``table`` (one of :data:`TABLES`)."""
    path = contracts_dir() / f"{table}.toml"
    if not path.is_file():
        raise ValueError(f"unknown table {table!r}; allowed: {CORE_TABLES + extra_tables()}")
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    cols = []
    for name, spec in raw["columns"].items():
        if spec["type"] not in _TYPES:
            raise ValueError(f"{table}.{name}: type {spec['type']!r} not in {sorted(_TYPES)}")
        cols.append(Column(name=name, **spec))
    t = raw["table"]
    return Contract(t["name"], t["one_row_per"], tuple(cols), tuple(t.get("parents", ())),
                    tuple(t.get("optional_parents", ())), tuple(tuple(u) for u in t.get("unique", ())),
                    tuple(tuple(i) for i in t.get("indexes", ())))


def _problem(col: Column, value: Any) -> str | None:
    if value is None:
        return "required value missing" if col.required else None
    if not isinstance(value, _TYPES[col.type]) or (col.type != "bool" and isinstance(value, bool)):
        return f"type {type(value).__name__}, expected {col.type}"
    if col.type in ("float", "int"):
        assert isinstance(value, (int, float))
        if isinstance(value, float) and not math.isfinite(value):
            return "not a finite number"
        unit = f" {col.unit}" if col.unit else ""
        if col.min is not None and value < col.min:
            return f"below plausible minimum {col.min:g}{unit}"
        if col.max is not None and value > col.max:
            return f"above plausible maximum {col.max:g}{unit}"
    return None


def check_values(table: str, values: dict[str, Any]) -> tuple[str, ...]:
    """Check ``values`` (column name -> value) against the contract of ``table``.

    Returns
    -------
    tuple of str
        One ``"column=value: reason"`` entry per problem; empty when everything is plausible.
        Columns not in ``values`` are not checked.

    Examples
    --------
    >>> check_values("ct_event", {"event_uid": "1.2", "ctdivol_mgy": 5000.0})
    ('ctdivol_mgy=5000.0: above plausible maximum 1000 mGy',)
    """
    contract = load_contract(table)
    out = []
    for col in contract.columns:
        if col.name in values:
            problem = _problem(col, values[col.name])
            if problem:
                out.append(f"{col.name}={values[col.name]!r}: {problem}")
    return tuple(out)
