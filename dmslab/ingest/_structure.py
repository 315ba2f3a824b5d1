"""A byte-level completeness check of DICOM files, for truncation pydicom reads past silently.

pydicom stops quietly at end-of-file inside an undefined-length sequence, so a truncated RDSR would
parse as a shorter, valid-looking report. :func:`truncation` walks the element structure (tags, VRs,
lengths, item and sequence delimiters) without decoding values and says where the file ends early.
Little-endian transfer syntaxes (implicit and explicit VR) are checked; others are not (``None``).
"""

from __future__ import annotations

from struct import unpack_from

from dmslab.errors import DmslabError

__all__ = ["truncation"]

_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"})
_ITEM, _ITEM_END, _SEQ_END = 0xE000, 0xE00D, 0xE0DD
_CHECKED = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}


class _Truncated(DmslabError):
    """The element structure ends early (internal: becomes the ``truncation`` message)."""


class _Walker:
    def __init__(self, buf: bytes, explicit: bool) -> None:
        self.buf = buf
        self.n = len(buf)
        self.explicit = explicit

    def need(self, pos: int, size: int) -> None:
        if pos + size > self.n:
            raise _Truncated(f"file ends at byte {self.n}, inside an element starting near byte {pos}")

    def header(self, pos: int) -> tuple[int, int, bytes | None, int, int]:
        """(group, element, VR or None, value length, position of the value)."""
        self.need(pos, 8)
        group, elem = unpack_from("<HH", self.buf, pos)
        if group == 0xFFFE:
            return group, elem, None, unpack_from("<L", self.buf, pos + 4)[0], pos + 8
        explicit = self.explicit or group == 0x0002
        if explicit:
            vr = self.buf[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                self.need(pos, 12)
                return group, elem, vr, unpack_from("<L", self.buf, pos + 8)[0], pos + 12
            return group, elem, vr, unpack_from("<H", self.buf, pos + 6)[0], pos + 8
        return group, elem, None, unpack_from("<L", self.buf, pos + 4)[0], pos + 8

    def dataset(self, pos: int, end: int | None) -> int:
        """Walk elements until ``end`` (defined length) or an item delimiter (undefined length)."""
        limit = self.n if end is None else end
        while pos < limit:
            group, elem, vr, length, pos = self.header(pos)
            if group == 0xFFFE and elem == _ITEM_END:
                if end is not None:
                    raise _Truncated(f"unexpected item delimiter at byte {pos - 8}")
                return pos
            if length == _UNDEFINED:
                pos = self.sequence(pos, None)
            elif vr == b"SQ":
                self.need(pos, length)
                pos = self.sequence(pos, pos + length)
            else:
                self.need(pos, length)
                pos += length
        if end is None and limit == self.n and pos >= self.n and self._nested:
            raise _Truncated(f"file ends at byte {self.n} before an item delimiter")
        return pos

    _nested = False

    def sequence(self, pos: int, end: int | None) -> int:
        while end is None or pos < end:
            group, elem, _vr, length, pos = self.header(pos)
            if group != 0xFFFE:
                raise _Truncated(f"expected a sequence item at byte {pos - 8}")
            if elem == _SEQ_END:
                return pos
            if elem != _ITEM:
                raise _Truncated(f"unexpected tag (FFFE,{elem:04X}) in a sequence at byte {pos - 8}")
            if length == _UNDEFINED:
                outer, self._nested = self._nested, True
                pos = self.dataset(pos, None)
                self._nested = outer
            else:
                self.need(pos, length)
                pos = self.dataset(pos, pos + length) if length else pos
        if end is not None and pos != end:
            raise _Truncated(f"sequence overruns its length at byte {pos}")
        return pos


def truncation(data: bytes, transfer_syntax: str | None) -> str | None:
    """Why ``data`` is structurally incomplete, or ``None`` when it is complete (or not checkable)."""
    if transfer_syntax not in _CHECKED:
        return None
    start = 132 if data[128:132] == b"DICM" else 0
    walker = _Walker(data, _CHECKED[transfer_syntax])
    try:
        walker.dataset(start, None)
    except _Truncated as exc:
        return str(exc)
    return None
