"""Vendor quirks that are not unit spellings: one declarative table, looked up by id.

Unit spellings and unit errors are rows of ``data/units_map.csv`` with ``kind=quirk`` (applied in
:func:`dmslab.units.convert`). Everything else a vendor does differently — retired codes, illegal
multi-values, missing template identifiers, odd scheme designators — is a row of
``data/vendor_quirks.csv`` with what, the fix, a source and an edition. Code that applies a fix calls
:func:`note`, which checks the id exists and returns the text recorded in the record's ``unit_fixes``
(``"quirk numeric-slash-list: kvp"``), so every applied fix is traceable to its table row.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Quirk", "note", "quirk", "quirks"]


@dataclass(frozen=True, slots=True)
class Quirk:
    """One row of the vendor quirk table."""

    quirk_id: str
    kind: str
    manufacturer: str
    model: str
    what: str
    fix: str
    source: str
    edition: str


@cache
def quirks() -> dict[str, Quirk]:
    """All quirks by id."""
    text = resources.files("dmslab.data").joinpath("vendor_quirks.csv").read_text(encoding="utf-8")
    return {row["quirk_id"]: Quirk(**row) for row in csv.DictReader(text.splitlines())}


def quirk(quirk_id: str) -> Quirk:
    """The quirk ``quirk_id``; KeyError naming the known ids when it is not in the table."""
    try:
        return quirks()[quirk_id]
    except KeyError:
        raise KeyError(f"no vendor quirk {quirk_id!r}; known: {sorted(quirks())}") from None


def note(quirk_id: str, field: str = "") -> str:
    """The text recorded on a record when quirk ``quirk_id`` was applied to ``field``.

    >>> note("numeric-slash-list", "kvp")
    'quirk numeric-slash-list: kvp'
    """
    quirk(quirk_id)
    return f"quirk {quirk_id}: {field}" if field else f"quirk {quirk_id}"
