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


_POS_GE = r"[SI1l|5$]\d{1,4}\.\d{3}"
#: A cell that was not understood still takes its place, so one bad cell never shifts the others.
_ANY = r"\S+"
_ANY_RANGE = r"\S*\s?-\s?\S*"


def _cell(pattern: str, other: str = _ANY) -> str:
    return f"(?:{pattern}|{other})"


def _range(pos: str) -> str:
    return _cell(f"(?P<r0>{pos}) ?- ?(?P<r1>{pos})", _ANY_RANGE)


LAYOUTS: dict[str, Layout] = {
    "ge": Layout(
        "ge", ("dose report",), ("GE",),
        {"scout": "constant_angle", "helical": "spiral", "axial": "sequenced", "cine": "stationary"},
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>[A-Za-z]\S{2,})(?: |$)"),
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>\S+) " + _range(_POS_GE) + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d{2})") + " " + _cell(r"(?P<dlp>\d{1,5}\.\d{2})") + " "
                   + _cell(r"(?P<ph>\S+) (?P<phcm>16|32)", r"\S+(?: \S+)?") + "$"),
        re.compile(r"Total Exam \S{3,4}:? ?(?P<total>\d{1,6}\.\d{2})$"),
        re.compile(r"\b(?:Series|Type)\b.*\b(?:Scan|Range|Phantom)\b"),
    ),
    "siemens": Layout(
        "siemens", ("patient protocol",), ("SIEMENS",),
        {"topogram": "constant_angle", "spiral": "spiral", "sequence": "sequenced"},
        re.compile(r"^(?P<type>[A-Za-z]\S{2,}) (?P<series>\d{1,4})(?: |$)"),
        re.compile(r"^(?P<type>\S+) (?P<series>\d{1,4}) " + _range(r"\d{1,4}") + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d{2}) ?(?P<ph>[LS5|I1])?", r"\S+(?: [LS])?") + " "
                   + _cell(r"(?P<dlp>\d{1,5}\.\d)") + "$"),
        re.compile(r"Total \S{3} (?P<mas>\d{1,6}) Total \S{3} (?P<total>\d{1,6}\.\d) \S+$"),
        re.compile(r"\bScan\b.*\b(?:Range|CTDI\w*|DLP)\b"),
    ),
    "toshiba": Layout(
        "toshiba", ("dose summary",), ("TOSHIBA", "CANON"),
        {"scanogram": "constant_angle", "helical": "spiral", "volume": "sequenced"},
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>[A-Za-z]\S{2,})(?: |$)"),
        re.compile(r"^(?P<series>\d{1,4}) (?P<type>\S+) " + _range(r"\d{1,4}\.\d") + " "
                   + _cell(r"(?P<ctdi>\d{1,4}\.\d)") + " " + _cell(r"(?P<dlp>\d{1,5}\.\d{2})") + " "
                   + _cell(r"(?P<ph>\S+)") + "$"),
        re.compile(r"Total \S{3} ?: ?(?P<mas>\d{1,6}) Total \S{3} ?: ?(?P<total>\d{1,6}\.\d{2}) \S+$"),
        re.compile(r"\b(?:No|Scan)\b.*\b(?:Range|Phantom)\b"),
    ),
}


_DECIMAL_COMMA = re.compile(r"^(\d+),(\d+)$")
_INT_DOT = re.compile(r"^\d+\.$")


def normalise(line: Line) -> Line:
    """Undo two harmless OCR slips: a decimal comma (``9,02``) and a space after the point (``564. 36``)."""
    out: list[Word] = []
    for w in line:
        w = replace(w, text=_DECIMAL_COMMA.sub(r"\1.\2", w.text))
        if out and _INT_DOT.match(out[-1].text) and w.text.isdigit():
            prev = out.pop()
            w = replace(prev, text=prev.text + w.text, conf=min(prev.conf, w.conf), width=w.left + w.width - prev.left)
        out.append(w)
    return tuple(out)


def _joined(line: Line) -> tuple[str, list[tuple[int, int, float]]]:
    """The line's words joined by single spaces, and each word's (start, end, confidence)."""
    parts, spans, pos = [], [], 0
    for w in normalise(line):
        parts.append(w.text)
        spans.append((pos, pos + len(w.text), w.conf))
        pos += len(w.text) + 1
    return " ".join(parts), spans


def _readings(m: re.Match[str], spans: list[tuple[int, int, float]]) -> dict[str, Reading]:
    out = {}
    for name, text in m.groupdict().items():
        if text is None:
            continue
        s, e = m.span(name)
        confs = [c for a, b, c in spans if a < e and b > s]
        out[name] = Reading(text, min(confs) if confs else 0.0)
    return out


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
            total = _readings(m_total, spans)["total"]
            continue
        if lay.table_header.search(text):
            in_table = True
            continue
        start = lay.row_start.match(text)
        if not in_table or start is None or type_of(lay, start.group("type")) is None and not lay.row.match(text):
            continue
        full = lay.row.match(text)
        fields = _readings(full or start, spans)
        rows.append(RowReading(len(rows), text, fields, full is not None))
    return ScreenReading(vendor, tuple(rows), total, tuple(texts))
