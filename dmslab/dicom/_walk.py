"""The one DICOM element walker: tags, VRs, lengths, items and delimiters of little-endian encoded bytes.

Three readers of outside bytes use it: the lean SR reader (:mod:`dmslab.ingest.rdsr._fastread`, which keeps the
values), the structure check (:mod:`dmslab.ingest._structure`, which only needs the walk to succeed) and the
receiver's SOP UID scan (:mod:`dmslab.net._part10`, first elements only). Values are never decoded here; a walk
either succeeds or raises :class:`~dmslab.errors.DicomStructureError` with a reason and the byte offset.

Encodings: implicit VR little endian and explicit VR little endian (PS3.5 §7.1); group 0002 is always explicit,
items and delimiters (group FFFE) never carry a VR. In implicit VR, a defined-length element is a sequence when the
data dictionary says SQ. Why a hand walk rather than pydicom's reader: it builds no element objects, which for an
SR document of thousands of content items is most of the ingest time (measured with ``bench/bench_ingest.py``:
lean reader vs ``dcmread`` + walk, printed side by side).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from dmslab.errors import DicomStructureError

__all__ = ["ITEM", "ITEM_END", "LONG_VRS", "SEQ_END", "UNDEFINED", "VRS", "VrInfo", "Walker", "first_elements",
           "is_sq_tag"]

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


class VrInfo(NamedTuple):
    """What the walk and the value check need to know of a VR (PS3.5 Table 6.2-1 and §7.1.2)."""

    long: bool  #: explicit VR: 2 reserved bytes and a 4-byte length (else a 2-byte length)
    size: int  #: bytes per binary value (0: text or opaque bytes)
    text: bool  #: character string whose decoding by pydicom cannot fail (no number to parse)


#: Every VR of PS3.5 Table 6.2-1.
VRS: dict[bytes, VrInfo] = {
    b"AE": VrInfo(False, 0, True), b"AS": VrInfo(False, 0, True), b"AT": VrInfo(False, 4, False),
    b"CS": VrInfo(False, 0, True), b"DA": VrInfo(False, 0, True), b"DS": VrInfo(False, 0, False),
    b"DT": VrInfo(False, 0, True), b"FD": VrInfo(False, 8, False), b"FL": VrInfo(False, 4, False),
    b"IS": VrInfo(False, 0, False), b"LO": VrInfo(False, 0, True), b"LT": VrInfo(False, 0, True),
    b"OB": VrInfo(True, 0, False), b"OD": VrInfo(True, 8, False), b"OF": VrInfo(True, 4, False),
    b"OL": VrInfo(True, 4, False), b"OV": VrInfo(True, 8, False), b"OW": VrInfo(True, 2, False),
    b"PN": VrInfo(False, 0, True), b"SH": VrInfo(False, 0, True), b"SL": VrInfo(False, 4, False),
    b"SQ": VrInfo(True, 0, False), b"SS": VrInfo(False, 2, False), b"ST": VrInfo(False, 0, True),
    b"SV": VrInfo(True, 8, False), b"TM": VrInfo(False, 0, True), b"UC": VrInfo(True, 0, True),
    b"UI": VrInfo(False, 0, True), b"UL": VrInfo(False, 4, False), b"UN": VrInfo(True, 0, False),
    b"UR": VrInfo(True, 0, True), b"US": VrInfo(False, 2, False), b"UT": VrInfo(True, 0, True),
    b"UV": VrInfo(True, 8, False),
}
LONG_VRS = frozenset(vr for vr, info in VRS.items() if info.long)

_IMPLICIT_HEADER = struct.Struct("<HHL").unpack_from  # group, element, 4-byte length
_EXPLICIT_HEADER = struct.Struct("<HH2sH").unpack_from  # group, element, VR, 2-byte length
_LENGTH = struct.Struct("<L").unpack_from


@lru_cache(maxsize=4096)
def is_sq_tag(tag: int) -> bool:
    """Whether the data dictionary gives ``tag`` the VR SQ (how implicit VR tells a sequence of defined length)."""
    from pydicom.datadict import dictionary_VR  # pydicom is loaded by every caller already; not at import

    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


#: A walked value: the raw bytes, or the items of a sequence (dicts of the same form).
Value = Any


class Walker:
    """Walks one buffer in one encoding.

    Parameters
    ----------
    buf
        The encoded bytes (a whole Part 10 file, or a dataset without preamble).
    implicit
        True for implicit VR little endian (group 0002 is read as explicit VR all the same).
    keep
        Keep the values (``tag -> bytes``); False walks the structure only (the item dicts stay empty).
    """

    __slots__ = ("buf", "implicit", "keep", "n")

    def __init__(self, buf: bytes, *, implicit: bool, keep: bool = True) -> None:
        self.buf = buf
        self.n = len(buf)
        self.implicit = implicit
        self.keep = keep

    def header(self, pos: int) -> tuple[int, bytes | None, int, int]:
        """``(tag, VR or None, value length, value position)`` of the element starting at ``pos``."""
        buf = self.buf
        if pos + 8 > self.n:
            raise DicomStructureError("truncated", pos, f"file ends at byte {self.n}, inside an element header")
        group, elem, vr, length = _EXPLICIT_HEADER(buf, pos)
        if group == 0xFFFE or self.implicit and group != 0x0002:
            return group << 16 | elem, None, _LENGTH(buf, pos + 4)[0], pos + 8
        if vr in LONG_VRS:
            if pos + 12 > self.n:
                raise DicomStructureError("truncated", pos, f"file ends at byte {self.n}, inside an element header")
            return group << 16 | elem, vr, _LENGTH(buf, pos + 8)[0], pos + 12
        return group << 16 | elem, vr, length, pos + 8

    def is_sequence(self, tag: int, vr: bytes | None, length: int) -> bool:
        """SQ, UN of undefined length (explicit VR), or in implicit VR undefined length or a dictionary SQ."""
        if vr is not None:
            return vr == b"SQ" or (vr == b"UN" and length == UNDEFINED)
        return length == UNDEFINED or is_sq_tag(tag)

    def value(self, tag: int, vr: bytes | None, length: int, pos: int) -> tuple[Value, int]:
        """The value at ``pos`` (bytes, or the item dicts of a sequence) and the position after it."""
        if self.is_sequence(tag, vr, length):
            return self.sequence(pos, length)
        if length == UNDEFINED:
            raise DicomStructureError("undefined_length", pos, f"undefined length of a non-sequence {tag:08X}")
        end = pos + length
        if end > self.n:
            raise DicomStructureError("truncated", pos, f"file ends at byte {self.n}, inside the value of {tag:08X}")
        return (self.buf[pos:end] if self.keep else None), end

    def dataset(self, pos: int, end: int | None) -> tuple[dict[int, Value], int]:  # noqa: C901, PLR0912 (inlined hot loop)
        """The elements of an item: up to ``end`` (defined length) or its item delimiter (``end`` None).

        The hot loop of every SR read: :meth:`header` and :meth:`value` inlined for the plain (non-sequence)
        element, which is most of them; anything else goes through :meth:`value`."""
        out: dict[int, Value] = {}
        buf, n, implicit, keep = self.buf, self.n, self.implicit, self.keep
        limit = n if end is None else end
        while pos < limit:
            if pos + 8 > n:
                raise DicomStructureError("truncated", pos, f"file ends at byte {n}, inside an element header")
            group, elem, vr, length = _EXPLICIT_HEADER(buf, pos)
            tag = group << 16 | elem
            if group == 0xFFFE or implicit and group != 0x0002:
                vr, length, pos = None, _LENGTH(buf, pos + 4)[0], pos + 8
                if tag == ITEM_END:
                    if end is not None:
                        raise DicomStructureError("bad_delimiter", pos - 8, "item delimiter inside an item of "
                                                  "defined length")
                    return out, pos
                plain = length != UNDEFINED and not is_sq_tag(tag)
            elif vr in LONG_VRS:
                if pos + 12 > n:
                    raise DicomStructureError("truncated", pos, f"file ends at byte {n}, inside an element header")
                length, pos = _LENGTH(buf, pos + 8)[0], pos + 12
                plain = vr != b"SQ" and length != UNDEFINED
            else:
                pos += 8
                plain = True
            if plain:
                stop = pos + length
                if stop > n:
                    raise DicomStructureError("truncated", pos, f"file ends at byte {n}, inside the value of "
                                              f"{tag:08X}")
                if keep:
                    out[tag] = buf[pos:stop]
                pos = stop
                continue
            value, pos = self.value(tag, vr, length, pos)
            if keep:
                out[tag] = value
        if end is None:
            raise DicomStructureError("truncated", pos, f"file ends at byte {n} before an item delimiter")
        if pos != end:
            raise DicomStructureError("overrun", pos, f"an element overruns its item, which ends at byte {end}")
        return out, pos

    def sequence(self, pos: int, length: int) -> tuple[list[dict[int, Value]], int]:
        """The items of a sequence whose value starts at ``pos``, and the position after it (and its delimiter)."""
        items: list[dict[int, Value]] = []
        end = None if length == UNDEFINED else pos + length
        if end is not None and end > self.n:
            raise DicomStructureError("truncated", pos, f"file ends at byte {self.n}, inside a sequence")
        while end is None or pos < end:
            tag, _vr, item_len, pos = self.header(pos)
            if tag == SEQ_END:
                return items, pos
            if tag != ITEM:
                raise DicomStructureError("bad_item", pos - 8, f"expected a sequence item, found {tag:08X}")
            if item_len == UNDEFINED:
                item, pos = self.dataset(pos, None)
            elif pos + item_len > self.n:
                raise DicomStructureError("truncated", pos, f"file ends at byte {self.n}, inside an item")
            else:
                item, pos = self.dataset(pos, pos + item_len)
            items.append(item)
        if pos != end:
            raise DicomStructureError("overrun", pos, f"an item overruns its sequence, which ends at byte {end}")
        return items, pos

    def top_level(self, pos: int) -> Iterator[tuple[int, bytes | None, int, int, Value, int]]:
        """The elements of the top-level dataset to the end of the buffer: ``(tag, VR, length, value position,
        value, next position)``. A delimiter out of place is an error, like any other structural surprise."""
        while pos < self.n:
            tag, vr, length, vpos = self.header(pos)
            if tag >> 16 == 0xFFFE:
                raise DicomStructureError("bad_delimiter", pos, f"({tag >> 16:04X},{tag & 0xFFFF:04X}) at top level")
            value, pos = self.value(tag, vr, length, vpos)
            yield tag, vr, length, vpos, value, pos


def first_elements(buf: bytes, *, implicit: bool, last: int) -> dict[int, bytes]:
    """The top-level values of tags up to ``last`` at the start of an encoded dataset (no preamble), read without
    walking past ``last``; sequences among them are walked and left out. Raises DicomStructureError."""
    walker = Walker(buf, implicit=implicit)
    found: dict[int, bytes] = {}
    pos = 0
    while pos < walker.n:
        tag, vr, length, vpos = walker.header(pos)
        if tag > last:
            break
        if tag >> 16 == 0xFFFE:
            raise DicomStructureError("bad_delimiter", pos, f"({tag >> 16:04X},{tag & 0xFFFF:04X}) at top level")
        value, pos = walker.value(tag, vr, length, vpos)
        if isinstance(value, bytes):
            found[tag] = value
    return found
