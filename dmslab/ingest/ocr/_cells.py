"""Second reading of the numbers: each numeric cell cropped from the page and re-read with only its characters.

A full-page read finds the table and where every cell lies (word boxes) but reads numbers next to letters
poorly: ``S8.628-I267.632`` gets confidence 0, ``4.60L`` merges two columns, ``5.4`` loses its point.
Cropping each cell and reading it again with a whitelist of the characters that cell can hold (digits and
the point; the position letters of GE ranges; the phantom letter of Siemens) gives a second, largely
independent read with meaningful confidences. The cell text is parsed with the cell's own strict pattern,
so a lost point or an extra character gives no value rather than a wrong one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dmslab.ingest.ocr._engine import Box, CellWord, crop_cell, read_cells
from dmslab.ingest.ocr._layouts import Reading, RowReading, ScreenReading

__all__ = ["CELLS", "Cell", "cell_box", "parse_cell", "reread_cells"]

_DIGITS = "0123456789."
#: Cells lower than this (pixels of the prepared image) hold no number (a dash, a speck).
_MIN_HEIGHT = 10


@dataclass(frozen=True, slots=True)
class Cell:
    """One numeric cell of a vendor's table: the fields it holds, its characters and its strict pattern."""

    name: str
    fields: tuple[str, ...]
    whitelist: str
    pattern: re.Pattern[str]
    #: Starts with a side letter (GE ``S``/``I``) whose confidence does not count.
    side_letter: bool = False


def _num(name: str, ints: int, decimals: int) -> str:
    return rf"(?P<{name}>\d{{1,{ints}}}\.\d{{{decimals}}})"


def _cells(pos: str, pos_chars: str, ctdi: str, dlp_dec: int, phantom: bool = False) -> tuple[Cell, ...]:
    # Each end of the scan range on its own (a stray half hyphen at the cut is allowed), then CTDIvol, DLP and
    # (Siemens) the phantom letter printed after CTDIvol.
    ends = tuple(Cell(n, (n,), pos_chars + "-", re.compile(f"^-?{pos.format(n)}-?$"), side_letter=pos_chars[0] == "S")
                 for n in ("r0", "r1"))
    cells = (*ends, Cell("ctdi", ("ctdi",), _DIGITS, re.compile(f"^{ctdi}$")),
             Cell("dlp", ("dlp",), _DIGITS, re.compile(f"^{_num('dlp', 5, dlp_dec)}$")))
    if pos_chars[0] == "S":  # GE: each position also read as its side letter and its number apart
        cells = (*cells, *(Cell(f"{n}_{part}", (f"{n}_{part}",), chars, re.compile(f"^(?P<{n}_{part}>{pattern})$"))
                           for n in ("r0", "r1") for part, chars, pattern in
                           (("sign", "SI", "[SI]"), ("num", _DIGITS, r"\d{1,4}\.\d{3}"))))
    if not phantom:
        return cells
    # The phantom letter alone is too small a crop to read; read it with the CTDIvol it follows.
    number = ctdi.replace("?P<ctdi>", "")
    return (*cells, Cell("ctdi_ph", ("ctdi", "ph"), _DIGITS + "SL", re.compile(rf"^{number} ?(?P<ph>[SL])$")))


#: vendor -> the numeric cells of a table row.
CELLS: dict[str, tuple[Cell, ...]] = {
    "ge": _cells(r"(?P<{}>[SI15]\d{{1,4}}\.\d{{3}})", "SI" + _DIGITS, _num("ctdi", 4, 2), 2),
    "siemens": _cells(r"(?P<{}>\d{{1,4}})", "0123456789", _num("ctdi", 4, 2), 1, phantom=True),
    "toshiba": _cells(r"(?P<{}>\d{{1,4}}\.\d)", _DIGITS, _num("ctdi", 4, 1), 2),
}
#: vendor -> decimals of the printed total DLP.
_TOTAL_DECIMALS = {"ge": 2, "siemens": 1, "toshiba": 2}


def _cell_readings(fields: dict[str, Reading], cell: Cell) -> list[Reading]:
    names = [n for n in cell.fields if n in fields] or [f"{cell.name}_raw"]  # the not-understood text, if any
    return [fields[n] for n in names if n in fields]


def cell_box(fields: dict[str, Reading], cell: Cell) -> Box | None:
    """The box around a cell's fields as found by a full-page read (or its text there, if not understood)."""
    boxes = [b for r in _cell_readings(fields, cell) if (b := r.box) is not None]
    if not boxes:
        return None
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def parse_cell(cell: Cell, words: list[CellWord], chars: int | None = None) -> dict[str, Reading]:
    """The fields of a cell from its re-read words, each with the lowest confidence of the words it spans.

    A GE scan position (``S8.628``) is rated by its characters after the side letter instead: tesseract's word
    confidence of such a mixed word is near 0 even when right, and the side letter itself is checked by the
    pattern (and on fixed-width pages by the character count). With ``chars`` (measured on a fixed-width
    page), a one-field cell must read exactly that many characters.

    >>> ctdi = CELLS["toshiba"][2]
    >>> parse_cell(ctdi, [("5.4", 91.0, (95.0, 96.0, 97.0))])
    {'ctdi': Reading(text='5.4', conf=91.0, box=None, chars=None)}
    >>> parse_cell(ctdi, [("54", 95.0, (95.0, 95.0))])  # a lost point gives nothing, not 54
    {}
    >>> parse_cell(CELLS["ge"][0], [("S8.628-", 0.0, (40.0, 90.0, 95.0, 99.0, 99.0, 99.0, 80.0))])["r0"]
    Reading(text='S8.628', conf=90.0, box=None, chars=None)
    >>> parse_cell(CELLS["ge"][0], [("S8.628", 90.0, (90.0,) * 6)], chars=7)  # 7 characters measured on the page
    {}
    """
    text = " ".join(t for t, _, _ in words)
    m = cell.pattern.match(text)
    if m is None:
        return {}
    if chars is not None and len(cell.fields) == 1 and len(m.group(cell.fields[0]) or "") != chars:
        return {}
    spans: list[tuple[int, int, float]] = []
    char_conf: list[float] = []
    pos = 0
    for t, conf, cs in words:
        spans.append((pos, pos + len(t), conf))
        char_conf.extend((*cs, 100.0))  # the space after the word
        pos += len(t) + 1
    out = {}
    for name, value in m.groupdict().items():
        if value is not None:
            s, e = m.span(name)
            if cell.side_letter:
                conf = min(char_conf[s + 1:e], default=0.0)
            else:
                conf = min((c for a, b, c in spans if a < e and b > s), default=0.0)
            out[name] = Reading(value, conf)
    return out


def _total_cell(vendor: str) -> Cell:
    return Cell("total", ("total",), _DIGITS, re.compile(f"^{_num('total', 6, _TOTAL_DECIMALS[vendor])}$"))


def _join_side_letters(fields: dict[str, Reading]) -> None:
    """A scan position from its side letter and number read apart, where it was not read whole."""
    for end in ("r0", "r1"):
        sign, num = fields.get(f"{end}_sign"), fields.get(f"{end}_num")
        if end not in fields and sign is not None and num is not None:  # the letter does not rate the number
            fields[end] = Reading(sign.text + num.text, num.conf)


def reread_cells(pages: list[tuple[Any, ScreenReading]]) -> list[ScreenReading]:
    """Re-read every numeric cell (and the total) of full-page reads from the images they were read on.

    Parameters
    ----------
    pages
        ``(prepared image, its full-page reading)`` pairs; all their cells are read in one tesseract run per
        whitelist.

    Returns
    -------
    list
        Per page, a reading with rows in the order of its ``rows`` (same ``index``) holding only the fields the
        cell re-reads gave (marked complete, so they are interpreted), and the re-read total.
    """
    jobs: list[tuple[int, int, Cell, Any, int | None]] = []  # (page, row index or -1, cell, crop, characters)
    for p, (img, reading) in enumerate(pages):
        targets = [(row.index, cell, row.fields) for row in reading.rows for cell in CELLS[reading.vendor]]
        if reading.total is not None:
            targets.append((-1, _total_cell(reading.vendor), {"total": reading.total}))
        for index, cell, fields in targets:
            box = cell_box(fields, cell)
            if box is not None and box[3] >= _MIN_HEIGHT and (box[2] >= box[3] or cell.name.endswith("_sign")):
                # (a cell narrower than high is a lone dash, unless it is a side letter)
                chars = next((r.chars for r in _cell_readings(fields, cell) if r.chars is not None), None)
                jobs.append((p, index, cell, crop_cell(img, box), chars))
    found: dict[tuple[int, int], dict[str, Reading]] = {}
    for whitelist in sorted({j[2].whitelist for j in jobs}):
        group = [j for j in jobs if j[2].whitelist == whitelist]
        for (p, i, c, _, n), read in zip(group, read_cells([j[3] for j in group], whitelist), strict=True):
            found.setdefault((p, i), {}).update(parse_cell(c, read, n))
    for fields in found.values():
        _join_side_letters(fields)
    return [ScreenReading(reading.vendor, tuple(RowReading(r.index, "", found.get((p, r.index), {}), True)
                                                for r in reading.rows), found.get((p, -1), {}).get("total"))
            for p, (_, reading) in enumerate(pages)]
