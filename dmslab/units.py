"""Unit normalisation: every stored value is in its canonical unit.

The conversion table is data (``dmslab/data/units_map.csv``, one row per observed unit string with its
factor and source). Unit strings are compared after folding case and punctuation (``Gy.m2`` = ``Gym2``,
``uA.s`` = ``uAs``, ``{pulse}/s`` = ``pulse/s``); the coding scheme designator of a unit is ignored
(GE sends ``UCM`` for ``UCUM``). A unit that is not in the table is never passed through.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dmslab.errors import UnknownUnitError

__all__ = ["Conversion", "convert", "unit_key"]

_FOLD = re.compile(r"[\s.*·^{}\[\]()_]")


def unit_key(unit: str) -> str:
    """Fold a unit string for comparison.

    >>> unit_key("Gy.m2") == unit_key("Gym2") == unit_key("gy·m^2")
    True
    """
    return _FOLD.sub("", unit).lower()


@dataclass(frozen=True, slots=True)
class Conversion:
    """A converted value and, where the unit was not the canonical string, the unit it came in."""

    value: float
    fixed_from: str | None


@lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str], tuple[float, frozenset[str]]]:
    """(quantity, folded unit) -> (factor, the exact standard spellings of that unit)."""
    text = resources.files("dmslab.data").joinpath("units_map.csv").read_text(encoding="utf-8")
    out: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
    for row in csv.DictReader(text.splitlines()):
        key = (row["quantity"], unit_key(row["observed_unit"]))
        factor, spellings = out.get(key, (float(row["factor"]), frozenset()))
        if row["kind"] == "standard":
            spellings = spellings | {row["observed_unit"]}
        out[key] = (factor, spellings)
    return out


@lru_cache(maxsize=1)
def _canonical() -> dict[str, str]:
    text = resources.files("dmslab.data").joinpath("units_map.csv").read_text(encoding="utf-8")
    return {row["quantity"]: row["canonical_unit"] for row in csv.DictReader(text.splitlines())}


def __getattr__(name: str) -> dict[str, str]:
    if name == "CANONICAL_UNITS":
        return _canonical()
    raise AttributeError(name)


def convert(value: float, unit: str | None, quantity: str) -> Conversion:
    """Convert ``value`` given in ``unit`` to the canonical unit of ``quantity``.

    Parameters
    ----------
    value
        The number as stored in the object.
    unit
        The unit code value as stored (``None`` when the object gave none: the canonical unit is
        assumed and the record says ``"(missing)"``).
    quantity
        A quantity class of ``units_map.csv`` (``dose_area_product``, ``air_kerma``, ``dlp`` …).

    Raises
    ------
    UnknownUnitError
        When ``unit`` is not listed for ``quantity``.

    Examples
    --------
    >>> convert(1.034, "dGy.cm2", "dose_area_product")
    Conversion(value=1.0340000000000001e-05, fixed_from='dGy.cm2')
    >>> convert(77.27, "mGy.cm", "dlp")
    Conversion(value=77.27, fixed_from=None)
    """
    canonical = _canonical().get(quantity)
    if canonical is None:
        raise ValueError(f"unknown quantity class {quantity!r}; allowed: {sorted(_canonical())}")
    if unit is None or not unit.strip():
        return Conversion(value, "(missing)")
    entry = _table().get((quantity, unit_key(unit)))
    if entry is None:
        raise UnknownUnitError(unit, quantity)
    factor, standard = entry
    fixed = None if unit.strip() in standard else unit
    return Conversion(value * factor if factor != 1 else value, fixed)
