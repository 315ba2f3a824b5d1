"""Fixed-width pages (GE): the character count of a scan-range end, measured on the image, checks its reading.

GE prints scan positions as a side letter and a number, ``S8.628-I267.632``, in a fixed-width font.
Tesseract confuses the letter ``I`` with the digit ``1`` and sometimes adds or drops one (``I1267.632``,
``267.632``); every such slip changes the number of characters. On a fixed-width page that number can be
measured: the character pitch comes from the numbers of the same page whose reading is not in doubt
(CTDIvol, DLP, series, total), and the hyphen between the two ends is found as the ink that lies only in the
middle band of the line. A reading of an end whose length differs from the measured count is dropped, and the
cell re-reads (:mod:`dmslab.ingest.ocr._cells`) crop each end exactly and must match the count too.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from dmslab.ingest.ocr._engine import Box
from dmslab.ingest.ocr._layouts import Reading, RowReading, ScreenReading

__all__ = ["char_count", "check_ranges", "find_hyphen", "pitch", "split_side_letter"]

#: Fields whose reading is trusted for measuring the pitch: (name, all characters are digits or the point).
_PITCH_FIELDS = ("ctdi", "dlp", "series")


def pitch(reading: ScreenReading) -> tuple[float, float] | None:
    """Character advance and ink margin (pixels) such that a word of n characters is ``n * adv - margin`` wide.

    Fitted by least squares to the widths of the numbers read in the table rows and the total; ``None`` when
    fewer than two such numbers were read.
    """
    pts = [(len(r.text), r.box[2]) for row in reading.rows for n in _PITCH_FIELDS
           if (r := row.fields.get(n)) is not None and r.box is not None]
    if reading.total is not None and reading.total.box is not None:
        pts.append((len(reading.total.text), reading.total.box[2]))
    if len(pts) < 2:
        return None
    ns = np.array([p[0] for p in pts], dtype=np.float64)
    ws = np.array([p[1] for p in pts], dtype=np.float64)
    if len(set(ns.tolist())) >= 2:
        (adv, margin), *_ = np.linalg.lstsq(np.vstack([ns, -np.ones_like(ns)]).T, ws, rcond=None)
    else:
        adv = float(np.mean(ws / (ns - 0.15)))
        margin = 0.15 * adv
    return (float(adv), float(margin)) if adv > 0 else None


def char_count(width: float, adv: float, margin: float) -> int | None:
    """Characters in a box ``width`` pixels wide, or ``None`` when the width falls between two counts.

    Tight ink boxes run a little wider than ``n * adv - margin`` at the cut next to a hyphen, so the estimate
    sits 0.2-0.5 above the true count; a fraction outside 0.05-0.75 is too close to call.

    >>> char_count(8 * 18.0 - 4.0 + 6.0, 18.0, 4.0), char_count(8 * 18.0 - 4.0 + 15.0, 18.0, 4.0)
    (8, None)
    """
    est = (width + margin) / adv
    k = math.floor(est)
    return k if 0.05 <= est - k <= 0.75 else None


def find_hyphen(img: Any, box: Box, adv: float) -> tuple[int, int] | None:
    """The columns ``[start, end)`` (pixels of ``img``) of the hyphen in ``box``, or ``None`` if not clear.

    The hyphen is the one run of columns whose ink lies only in the middle 30-70 % of the line height, about
    a third to a half of a character wide, with blank columns on both sides (the bar of a ``4`` touches its stem).
    """
    left, top, width, height = box
    # A thin hyphen comes out light grey after blur and JPEG: count anything clearly darker than the page as ink.
    ink: np.ndarray = np.asarray(img.crop((left, top, left + width, top + height)).convert("L")) < 170
    rows = np.arange(ink.shape[0])
    mid = (rows > 0.3 * height) & (rows < 0.7 * height)
    only_mid: np.ndarray = np.asarray(ink.any(axis=0) & ~ink[~mid].any(axis=0))
    runs, start = [], None
    flags = [bool(v) for v in only_mid.tolist()] + [False]
    for x, flag in enumerate(flags):
        if flag and start is None:
            start = x
        elif not flag and start is not None:
            runs.append((start, x))
            start = None
    blank: np.ndarray = np.asarray(~ink.any(axis=0))
    runs = [r for r in runs if 0.15 * adv <= r[1] - r[0] <= 0.9 * adv  # a glyph of its own: blank on both sides
            and 0 < r[0] and r[1] < width and blank[r[0] - 1] and blank[r[1]]]
    if len(runs) != 1:
        return None
    return left + runs[0][0], left + runs[0][1]


def _range_box(fields: dict[str, Reading]) -> Box | None:
    boxes = [b for n in ("r0", "r1", "range_raw") if (r := fields.get(n)) is not None and (b := r.box) is not None]
    if not boxes:
        return None
    left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
    right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return left, top, right - left, bottom - top


def _check_row(img: Any, row: RowReading, adv: float, margin: float) -> RowReading:
    box = _range_box(row.fields)
    if box is None or box[3] < 10 or box[2] < 4 * adv:
        return row
    hyphen = find_hyphen(img, box, adv)
    if hyphen is None:
        return row
    left, top, width, height = box
    ends = {"r0": (left, top, hyphen[0] - left, height), "r1": (hyphen[1], top, left + width - hyphen[1], height)}
    fields = dict(row.fields)
    for name, end in ends.items():
        n = char_count(end[2], adv, margin)
        if n is None or not 5 <= n <= 9:  # a side letter, 1-4 digits, the point and 3 decimals
            continue
        read = fields.pop(name, None)
        if read is not None and len(read.text) == n:
            fields[name] = replace(read, box=end, chars=n)
        else:  # misread length: keep only where the end is, for the cell re-read
            fields[f"{name}_raw"] = Reading(read.text if read else "", 0.0, end, n)
        split = split_side_letter(img, end, adv)
        if split is not None:  # the side letter and the number, for re-reading apart
            fields[f"{name}_sign"] = Reading("", 0.0, split[0], 1)
            fields[f"{name}_num"] = Reading("", 0.0, split[1], n - 1)
    return replace(row, fields=fields)


def split_side_letter(img: Any, box: Box, adv: float) -> tuple[Box, Box] | None:
    """Boxes of the side letter and of the number of a scan position such as ``S25.382``.

    Tesseract often drops a leading ``S`` or reads ``I`` as ``1`` or ``I1``; read apart, the letter (whitelist
    ``SI``) and the number (digits) are both read well. The cut is the lightest column between half a
    character and 1.2 characters after the first ink.
    """
    left, top, width, height = box
    ink: np.ndarray = np.asarray(img.crop((left, top, left + width, top + height)).convert("L")) < 170
    per_col = ink.sum(axis=0)
    xs = np.flatnonzero(per_col >= 2)
    if xs.size == 0:
        return None
    first, last = int(xs[0]), int(xs[-1]) + 1
    lo, hi = first + int(0.5 * adv), min(first + int(1.2 * adv), last - 1)
    if hi <= lo:
        return None
    cut = lo + int(np.argmin(per_col[lo:hi]))
    return (left + first, top, cut - first, height), (left + cut + 1, top, last - cut - 1, height)


def check_ranges(img: Any, reading: ScreenReading) -> ScreenReading:
    """``reading`` with each scan-range end cut at the hyphen, its character count set, and dropped when the
    reading's length differs from it (fixed-width layouts only; other readings are returned as they are)."""
    fit = pitch(reading)
    if fit is None:
        return reading
    return replace(reading, rows=tuple(_check_row(img, row, *fit) for row in reading.rows))
