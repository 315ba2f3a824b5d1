"""Walk an SR content tree once into light :class:`Item` nodes keyed by ``(scheme, value)``.

Everything later (CT and projection parsers) works on these nodes, never on pydicom datasets, so
the DICOM element access cost is paid once per content item.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dmslab.codes import CodeKey, code_key
from dmslab.errors import VendorQuirkWarning, warn_and_log

__all__ = ["Item", "SrDataset", "code_text", "concept_of", "numbers_from_text", "read_tree"]

logger = logging.getLogger(__name__)

_VALUE_TYPE = 0x0040A040
_CONCEPT_NAME = 0x0040A043
_CONTENT_SEQ = 0x0040A730
_MEASURED_VALUE_SEQ = 0x0040A300
_NUMERIC_VALUE = 0x0040A30A
_FLOAT_VALUE = 0x0040A161
_UNITS_SEQ = 0x004008EA
_CONCEPT_CODE = 0x0040A168
_TEXT_VALUE = 0x0040A160
_UID = 0x0040A124
_DATETIME = 0x0040A120
_DATE = 0x0040A121
_TIME = 0x0040A122
_PNAME = 0x0040A123
_CODE_VALUE = 0x00080100
_SCHEME = 0x00080102
_MEANING = 0x00080104
_LONG_CODE_VALUE = 0x00080119
_URN_CODE_VALUE = 0x00080120

_TEXT_TAGS = {"TEXT": _TEXT_VALUE, "UIDREF": _UID, "DATETIME": _DATETIME, "DATE": _DATE, "TIME": _TIME,
              "PNAME": _PNAME}


@dataclass(slots=True)
class Item:
    """One SR content item.

    ``value`` is a tuple of floats for NUM (empty when the measured value sequence is empty), a
    :class:`CodeKey` for CODE, a str for TEXT/UIDREF/DATETIME/DATE/TIME/PNAME, else ``None``.
    ``unit`` is the unit code value of a NUM; ``meaning`` the code meaning of a CODE value (kept for
    display only, never matched); ``bad_number`` holds the raw text of a NUM that could not be read.
    """

    concept: CodeKey | None
    vt: str
    value: Any = None
    unit: str | None = None
    meaning: str | None = None
    bad_number: str | None = None
    children: list[Item] = field(default_factory=list)

    def child(self, key: CodeKey) -> Item | None:
        """First direct child with concept ``key``."""
        for c in self.children:
            if c.concept == key:
                return c
        return None

    def children_of(self, key: CodeKey) -> list[Item]:
        """All direct children with concept ``key``."""
        return [c for c in self.children if c.concept == key]

    def index(self, stop: frozenset[CodeKey] = frozenset()) -> dict[CodeKey, list[Item]]:
        """All descendants by concept, depth first, not descending into containers in ``stop``."""
        out: dict[CodeKey, list[Item]] = {}
        stack = list(reversed(self.children))
        while stack:
            it = stack.pop()
            if it.concept is not None:
                out.setdefault(it.concept, []).append(it)
            if it.children and it.concept not in stop:
                stack.extend(reversed(it.children))
        return out


class SrDataset(Dataset):
    """A pydicom dataset of an SR document's header whose content tree was read already, by the lean reader
    (:func:`dmslab.ingest.rdsr._fastread.read_sr`): ``content_tree`` holds it, and the dataset itself has no
    ContentSequence. A plain subclass with one attribute: no pydicom internals are touched."""

    content_tree: Item


def _value(ds: Dataset, tag: int) -> Any:
    elem = ds.get(tag)
    return None if elem is None else elem.value


def _items(ds: Dataset, tag: int) -> list[Dataset]:
    """The items of sequence ``tag``; empty when absent, or when a damaged file gives the tag another VR."""
    elem = ds.get(tag)
    return list(elem.value) if elem is not None and elem.VR == "SQ" and elem.value else []


def _str(ds: Dataset, tag: int) -> str | None:
    """A single text value (``None`` when absent, multi-valued or not text)."""
    v = _value(ds, tag)
    return v if isinstance(v, str) else None


def code_text(value: Any, what: str) -> str | None:
    """The text of a code element; of several values (a backslash in the text: vendors write them), the first,
    with a :class:`~dmslab.errors.VendorQuirkWarning` saying so (a whole dose report is not lost over it)."""
    if isinstance(value, str) and "\\" in value:  # the lean reader keeps the raw text
        value = value.split("\\")
    if isinstance(value, (MultiValue, list, tuple)):
        values = [str(v) for v in value]
        warn_and_log(f"code element {what} holds several values {values!r}; the first is used",
                     VendorQuirkWarning, logger=logger)
        value = values[0] if values else None
    return None if value is None else str(value)


def _code(seq_item: Dataset) -> tuple[CodeKey, str | None]:
    value = _value(seq_item, _CODE_VALUE) or _value(seq_item, _LONG_CODE_VALUE) or _value(seq_item, _URN_CODE_VALUE)
    scheme = code_text(_value(seq_item, _SCHEME), "CodingSchemeDesignator")
    meaning = _value(seq_item, _MEANING)
    return code_key(scheme, code_text(value, "CodeValue")), None if meaning is None else str(meaning)


def concept_of(ds: Dataset) -> CodeKey | None:
    """The concept name of a content item or document root, or ``None`` when it has none."""
    seq = _items(ds, _CONCEPT_NAME)
    if not seq:
        return None
    return _code(seq[0])[0]


def _numbers(mv: Dataset) -> tuple[tuple[float, ...], str | None]:
    """Numbers of a measured value item; reads the raw DS bytes so invalid vendor text cannot crash."""
    fp = mv.get(_FLOAT_VALUE)
    if fp is not None and fp.value is not None:
        v = fp.value
        return (tuple(float(x) for x in v) if isinstance(v, (list, tuple)) else (float(v),)), None
    raw = mv.get_item(_NUMERIC_VALUE)
    if raw is None:
        return (), None
    data = raw.value
    if isinstance(raw, RawDataElement) or isinstance(data, bytes):
        text = data.decode("ascii", "replace") if isinstance(data, bytes) else str(data or "")
    else:
        text = "\\".join(str(x) for x in data) if isinstance(data, (list, tuple)) else str("" if data is None else data)
    return numbers_from_text(text)


def numbers_from_text(text: str) -> tuple[tuple[float, ...], str | None]:
    """Numbers of a DS value (``\\``-separated); vendor text such as ``10.50/ 15.00`` is read as two
    numbers and returned as the second element so the caller can record the fix; unreadable -> ``()``."""
    parts = [p.strip() for p in text.replace("\x00", "").split("\\") if p.strip()]
    try:
        return tuple(float(p) for p in parts), None
    except ValueError:
        pieces = [p.strip() for part in parts for p in part.split("/") if p.strip()]
        try:
            return tuple(float(p) for p in pieces), text
        except ValueError:
            return (), text


def _item(ds: Dataset) -> Item:
    vt = _str(ds, _VALUE_TYPE) or ""
    it = Item(concept_of(ds), vt)
    if vt == "NUM":
        seq = _items(ds, _MEASURED_VALUE_SEQ)
        if seq:
            mv = seq[0]
            it.value, it.bad_number = _numbers(mv)
            units = _items(mv, _UNITS_SEQ)
            if units:
                it.unit = _str(units[0], _CODE_VALUE) or None
        else:
            it.value = ()
    elif vt == "CODE":
        seq = _items(ds, _CONCEPT_CODE)
        if seq:
            it.value, it.meaning = _code(seq[0])
    elif vt in _TEXT_TAGS:
        v = _value(ds, _TEXT_TAGS[vt])
        it.value = None if v is None else str(v).strip()
    children = _items(ds, _CONTENT_SEQ)
    if children:
        it.children = [_item(c) for c in children]
    return it


def read_tree(ds: Dataset) -> Item:
    """The whole content tree of an SR document, rooted at the document's own concept.

    A dataset read by :func:`dmslab.ingest.rdsr._fastread.read_sr` carries its tree already.
    """
    if isinstance(ds, SrDataset):
        return ds.content_tree
    return _item(ds)
