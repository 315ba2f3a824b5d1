"""Vendor layouts of CT dose summary screens: find the table in OCR lines and cut rows into raw readings.

Each layout knows the page title, the row pattern (which words and number formats a row holds) and the
totals line. Nothing here converts values: a :class:`Reading` keeps the text as read and its confidence.
Number patterns demand the decimals the vendor prints, so a lost decimal point never parses as a number.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from dmslab.ingest.ocr._engine import Line, Word

__all__ = ["LAYOUTS", "Layout", "Reading", "RowReading", "ScreenReading", "detect_vendor", "read_layout"]


@dataclass(frozen=True, slots=True)
class Reading:
    """Text of one field as read, with the lowest confidence (0-100) of the words it spans."""

    text: str
    conf: float
    #: ``(left, top, width, height)`` of the words it spans, in pixels of the image read (``None`` if unknown).
    box: tuple[int, int, int, int] | None = None
    #: Characters the box holds, when measured on a fixed-width page (:mod:`dmslab.ingest.ocr._mono`).
    chars: int | None = None


@dataclass(frozen=True, slots=True)
class RowReading:
    """One table row: raw field readings (``series``, ``type``, ``r0``, ``r1``, ``ctdi``, ``dlp``, ``ph``)."""

    index: int
    text: str
    fields: dict[str, Reading]
    complete: bool


@dataclass(frozen=True, slots=True)
class ScreenReading:
    """Everything read from one page in one OCR pass."""

    vendor: str
    rows: tuple[RowReading, ...]
    total: Reading | None
    lines: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Layout:
    """How one vendor prints its dose page."""

    vendor: str
    titles: tuple[str, ...]
    manufacturers: tuple[str, ...]
    types: dict[str, str]
    row_start: re.Pattern[str]
    row: re.Pattern[str]
    total: re.Pattern[str]
    table_header: re.Pattern[str]
    #: Printed in a fixed-width font (character boxes are cut in equal parts).
    monospace: bool = False
    #: Digits that tesseract reads in place of others in this vendor's font, alike in every read (GE's dotted
    #: zero comes out as ``6`` or ``8``): a number showing one needs a second relation to be stored.
    confusable: str = ""
    #: Phantom words as printed, with the phantom diameter (cm) each stands for.
    phantoms: tuple[tuple[str, int], ...] = (("Head", 16), ("Body", 32))


_POS_GE = r"[SI1l|5$]\d{1,4}\.\d{3}"
#: A cell that was not understood still takes its place, so one bad cell never shifts the others.
#: A not-understood cell is kept as ``<name>_raw`` so its place on the image is known for a re-read.
_ANY = r"\S+"
_ANY_RANGE = r"\S*\s?-\s?\S*"


def _cell(pattern: str, other: str = _ANY, raw: str | None = None) -> str:
    return f"(?:{pattern}|(?P<{raw}_raw>{other}))" if raw else f"(?:{pattern}|{other})"


def _range(pos: str) -> str:
    return _cell(f"(?P<r0>{pos}) ?- ?(?P<r1>{pos})", _ANY_RANGE, "range")


LAYOUTS: dict[str, Layout] = {
    "ge": Layout(
        "ge", ("dose report",), ("GE",),
        {"scout": "constant_angle", "helical": "spiral", "axial": "sequenced", "cine": "stationary"},
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>[A-Za-z]\S{2,})(?: |$)"),
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>\S+) " + _range(_POS_GE) + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d{2})", raw="ctdi") + " "
                   + _cell(r"(?P<dlp>\d{1,5}\.\d{2})", raw="dlp") + " "
                   + _cell(r"(?P<ph>\S+) (?P<phcm>16|32)", r"\S+(?: \S+)?") + "$"),
        re.compile(r"Total Exam \S{3,4}:? ?(?P<total>\d{1,6}\.\d{2})$"),
        re.compile(r"\b(?:Series|Type)\b.*\b(?:Scan|Range|Phantom)\b"),
        monospace=True, confusable="68",
    ),
    "siemens": Layout(
        "siemens", ("patient protocol",), ("SIEMENS",),
        {"topogram": "constant_angle", "spiral": "spiral", "sequence": "sequenced"},
        re.compile(r"^(?P<type>[A-Za-z]\S{2,}) (?P<series>\d{1,4})(?: |$)"),
        re.compile(r"^(?P<type>\S+) (?P<series>\d{1,4}) " + _range(r"\d{1,4}") + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d{2}) ?(?P<ph>[LS5|I1])?", r"\S+(?: [LS])?", "ctdi") + " "
                   + _cell(r"(?P<dlp>\d{1,5}\.\d)", raw="dlp") + "$"),
        re.compile(r"Total \S{3} (?P<mas>\d{1,6}) Total \S{3} (?P<total>\d{1,6}\.\d) \S+$"),
        re.compile(r"\bScan\b.*\b(?:Range|CTDI\w*|DLP)\b"),
        phantoms=(("S", 16), ("L", 32)),
    ),
    "toshiba": Layout(
        "toshiba", ("dose summary",), ("TOSHIBA", "CANON"),
        {"scanogram": "constant_angle", "helical": "spiral", "volume": "sequenced"},
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>[A-Za-z]\S{2,})(?: |$)"),
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>\S+) " + _range(r"\d{1,4}\.\d") + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d)", raw="ctdi") + " "
                   + _cell(r"(?P<dlp>\d{1,5}\.\d{2})", raw="dlp") + " " + _cell(r"(?P<ph>\S+)") + "$"),
        re.compile(r"Total \S{3} ?: ?(?P<mas>\d{1,6}) Total \S{3} ?: ?(?P<total>\d{1,6}\.\d{2}) \S+$"),
        re.compile(r"\b(?:No|Scan)\b.*\b(?:Range|Phantom)\b"),
    ),
}


_DECIMAL_COMMA = re.compile(r"^(\d+),(\d+)$")
_INT_DOT = re.compile(r"^\d+\.$")
_DOT_INT = re.compile(r"^\.\d+$")


def normalise(line: Line) -> Line:
    """Undo harmless OCR slips: a decimal comma (``9,02``), a space after or before the point (``564. 36``,
    ``488 .52``), or both (``188 . 82``)."""
    out: list[Word] = []
    for w in line:
        w = replace(w, text=_DECIMAL_COMMA.sub(r"\1.\2", w.text))
        if out and (_INT_DOT.match(out[-1].text) and w.text.isdigit()
                    or out[-1].text.isdigit() and (_DOT_INT.match(w.text) or w.text == ".")):
            prev = out.pop()
            w = replace(prev, text=prev.text + w.text, conf=min(prev.conf, w.conf), width=w.left + w.width - prev.left)
        out.append(w)
    return tuple(out)


def _joined(line: Line) -> tuple[str, list[tuple[int, int, Word]]]:
    """The line's words joined by single spaces, and each word's (start, end, word)."""
    parts, spans, pos = [], [], 0
    for w in normalise(line):
        parts.append(w.text)
        spans.append((pos, pos + len(w.text), w))
        pos += len(w.text) + 1
    return " ".join(parts), spans


def _union(words: list[Word]) -> tuple[int, int, int, int] | None:
    if not words:
        return None
    left, top = min(w.left for w in words), min(w.top for w in words)
    right, bottom = max(w.left + w.width for w in words), max(w.top + w.height for w in words)
    return left, top, right - left, bottom - top


#: Advance widths of characters relative to a digit (DejaVu Sans; digits, capitals and lower case taken as 1).
_CHAR_WIDTH = {".": 0.5, ",": 0.5, "-": 0.57, " ": 0.5, "I": 0.46, "l": 0.43, "i": 0.43, "|": 0.53, ":": 0.53,
               "L": 0.88}


def sub_word(w: Word, start: int, end: int, *, monospace: bool = False) -> Word:
    """The part of word ``w`` holding its characters ``start:end``, its box cut in proportion to character widths.

    >>> part = sub_word(Word("S8.5-I2.5", 90.0, 100, 0, 80, 20), 5, 9)
    >>> part.text, part.left, part.width
    ('I2.5', 146, 34)
    """
    widths = [1.0 if monospace else _CHAR_WIDTH.get(c, 1.0) for c in w.text]
    scale = w.width / max(sum(widths), 1e-9)
    x0 = w.left + round(sum(widths[:start]) * scale)
    x1 = w.left + round(sum(widths[:end]) * scale)
    return Word(w.text[start:end], w.conf, x0, w.top, max(x1 - x0, 1), w.height)


def _readings(m: re.Match[str], spans: list[tuple[int, int, Word]], mono: bool = False) -> dict[str, Reading]:
    out = {}
    for name, text in m.groupdict().items():
        if text is None:
            continue
        s, e = m.span(name)
        words = [w for a, b, w in spans if a < e and b > s]
        out[name] = Reading(text, min(w.conf for w in words) if words else 0.0, _box(spans, s, e, mono))
        if name == "range_raw" and "-" in text:  # where each end of a not-understood range lies, for a re-read
            cut = s + text.index("-")
            out["r0_raw"] = Reading(text[:cut - s], 0.0, _box(spans, s, cut, mono))
            out["r1_raw"] = Reading(text[cut - s + 1:], 0.0, _box(spans, cut + 1, e, mono))
    return out


def _box(spans: list[tuple[int, int, Word]], s: int, e: int, mono: bool) -> tuple[int, int, int, int] | None:
    """The box of characters ``s:e`` of the joined line text."""
    return _union([sub_word(w, max(s, a) - a, min(e, b) - a, monospace=mono) for a, b, w in spans if a < e and b > s])


def detect_vendor(lines: list[Line], manufacturer: str | None) -> str | None:
    """The layout whose page title appears in the first lines, else the one matching the Manufacturer."""
    head = " ".join(" ".join(w.text for w in ln) for ln in lines[:4]).lower()
    for lay in LAYOUTS.values():
        if any(t in head for t in lay.titles):
            return lay.vendor
    man = (manufacturer or "").upper()
    for lay in LAYOUTS.values():
        if any(m in man for m in lay.manufacturers):
            return lay.vendor
    return None


def type_of(layout: Layout, word: str) -> str | None:
    """The dmslab acquisition type of a printed type word (close OCR misspellings allowed)."""
    match = difflib.get_close_matches(word.lower(), list(layout.types), n=1, cutoff=0.75)
    return layout.types[match[0]] if match else None


#: Letters tesseract reads for a lone series digit at the start of a row (``i Scout``).
_DIGIT_SLIPS = {"i": "1", "I": "1", "l": "1", "|": "1", "O": "0", "o": "0"}


def _series_slip(line: Line, lay: Layout) -> Line:
    """``line`` with a lone letter where the series number stands read as the digit it resembles, when that
    makes the line a row of a scan type the layout knows; else ``line`` unchanged."""
    for pos in (0, 1):
        if len(line) > pos and line[pos].text in _DIGIT_SLIPS:
            fixed = (*line[:pos], replace(line[pos], text=_DIGIT_SLIPS[line[pos].text]), *line[pos + 1:])
            start = lay.row_start.match(_joined(fixed)[0])
            if start is not None and type_of(lay, start.group("type")) is not None:
                return fixed
    return line


def read_layout(lines: list[Line], vendor: str) -> ScreenReading:
    """Cut the OCR lines of a page into table rows and the total, per the vendor's layout."""
    lay = LAYOUTS[vendor]
    rows: list[RowReading] = []
    total: Reading | None = None
    in_table = False
    texts = []
    for line in lines:
        text, spans = _joined(line)
        texts.append(text)
        m_total = lay.total.search(text)
        if m_total and total is None:
            total = _readings(m_total, spans, lay.monospace)["total"]
            continue
        if lay.table_header.search(text):
            in_table = True
            continue
        if in_table and not lay.row_start.match(text):
            line = _series_slip(line, lay)
            text, spans = _joined(line)
        start = lay.row_start.match(text)
        if not in_table or start is None or type_of(lay, start.group("type")) is None and not lay.row.match(text):
            continue
        full = lay.row.match(text)
        fields = _readings(full or start, spans, lay.monospace)
        rows.append(RowReading(len(rows), text, fields, full is not None))
    return ScreenReading(vendor, tuple(rows), total, tuple(texts))
