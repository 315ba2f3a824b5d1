"""Building blocks for SR content items made with pydicom in the ingest tests (one copy for every test file)."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item (value, scheme designator, meaning)."""
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def item(vt: str, concept: tuple[str, str, str], rel: str = "CONTAINS", **kw: Any) -> Dataset:
    """A content item of value type ``vt`` named ``concept`` (value, scheme, meaning), other attributes from ``kw``."""
    it = Dataset()
    it.RelationshipType, it.ValueType = rel, vt
    it.ConceptNameCodeSequence = [code(*concept)]
    for k, v in kw.items():
        setattr(it, k, v)
    return it
