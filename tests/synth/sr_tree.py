"""Independent helpers to walk the SR content tree of a dataset read back with pydicom.

Deliberately not sharing code with ``dmslab.synth``: the tests check the generator with these.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from pydicom.dataset import Dataset

__all__ = ["code", "children", "walk", "num", "child_num", "nums", "child_code", "event_uid"]


# --- independent SR tree helpers --------------------------------------------------------------
def code(ds: Dataset, attr: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    item = getattr(ds, attr)[0]
    return str(item.CodingSchemeDesignator), str(item.CodeValue)


def children(ds: Dataset, value: str | None = None) -> list[Dataset]:
    """Content items directly below ``ds`` (optionally only those with concept code ``value``)."""
    items = list(getattr(ds, "ContentSequence", []))
    return items if value is None else [i for i in items if code(i)[1] == value]


def walk(ds: Dataset) -> Iterator[Dataset]:
    for item in children(ds):
        yield item
        yield from walk(item)


def num(item: Dataset) -> Decimal:
    return Decimal(str(item.MeasuredValueSequence[0].NumericValue))


def child_num(ds: Dataset, value: str) -> Decimal | None:
    found = children(ds, value)
    assert len(found) <= 1
    return num(found[0]) if found else None


def nums(ds: Dataset) -> dict[str, Decimal]:
    """Numeric children of ``ds`` by concept code value (each code at most once)."""
    out: dict[str, Decimal] = {}
    for item in children(ds):
        if item.ValueType == "NUM":
            value = code(item)[1]
            assert value not in out
            out[value] = num(item)
    return out


def child_code(ds: Dataset, value: str) -> tuple[str, str] | None:
    found = children(ds, value)
    return code(found[0], "ConceptCodeSequence") if found else None


def event_uid(event: Dataset) -> str:
    return str(children(event, "113769")[0].UID)
