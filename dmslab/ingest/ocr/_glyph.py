"""Shape check of the digits ``6`` and ``8`` on fixed-width pages (GE), whose zero carries a dot inside.

At low resolution tesseract reads GE's dotted zero as ``6`` or ``8``, alike in every read, so a number read
with either digit cannot be trusted on the reads alone. The glyph itself still tells them apart: a zero is an
oval ring (closed at the top right, where a ``6`` is open; full width at mid-height, where an ``8`` has its
waist). Each ``6`` or ``8`` of a number read on the page is cut out of the page image (the font is fixed-width,
so character ``i`` of an ``n``-character word sits in the ``i``-th of ``n`` equal slots), and compared by
normalised correlation with the three glyphs rendered in DejaVu Sans Mono (ring plus dot for the zero).

:func:`check_digits` gives, per ``6``/``8`` of the text, ``"0"`` (a dotted zero), the digit itself (shape
confirmed), or ``None`` (too close to call, or no font to compare with).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from dmslab.ingest.ocr._engine import Box
from dmslab.ingest.ocr._layouts import RowReading, ScreenReading
from dmslab.ingest.ocr._vote import Value

__all__ = ["MARGIN", "char_slots", "check_digits", "classify_glyph", "fix_reading", "fix_totals", "glyph_scores",
           "resolve", "shape_fix"]

logger = logging.getLogger(__name__)

#: Digits the check decides between.
_DIGITS = ("0", "6", "8")
#: Normalised size (width, height) in pixels glyphs are compared at.
_SIZE = (12, 18)
#: Lowest lead in correlation (0-1) of the best template over the next one for a decision.
MARGIN = 0.1
#: Lowest correlation (0-1) of the best template for a ``6`` or ``8``.
_MIN_CORR = 0.75
#: Lowest correlation and lead of the zero template for a zero: a degraded dotted zero matches its template less
#: well than a 6 or 8 does theirs (its dot blurs into the ring), but a 6 or 8 never comes out closer to the zero.
_ZERO_CORR, _ZERO_MARGIN = 0.4, 0.12
#: Font searched for by file name (PIL looks in the system font folders).
_FONT = "DejaVuSansMono.ttf"


def _normalise(dark: np.ndarray) -> np.ndarray | None:
    """``dark`` (ink high) cropped to its ink box, resized to :data:`_SIZE`, zero mean and unit norm."""
    from PIL import Image

    if dark.size == 0 or float(dark.max()) - float(dark.min()) < 40:
        return None
    ink = dark > 0.5 * (float(dark.max()) + float(dark.min()))
    ys, xs = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if ys.size < 5 or xs.size < 3:
        return None
    part = dark[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1].astype(np.float32)
    img = Image.fromarray(part, mode="F").resize(_SIZE, Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float64)
    arr = arr - arr.mean()
    norm = float(np.linalg.norm(arr))
    return arr / norm if norm > 0 else None


@lru_cache(maxsize=1)
def _templates() -> dict[str, np.ndarray] | None:
    """The digits of :data:`_DIGITS` rendered large in DejaVu Sans Mono and normalised, or ``None`` without it."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype(_FONT, 64)
    except OSError:
        logger.info("font %s not found: the shape check of 6 and 8 on GE pages is off", _FONT)
        return None
    out: dict[str, np.ndarray] = {}
    for digit in _DIGITS:
        img = Image.new("L", (80, 100), 0)
        ImageDraw.Draw(img).text((10, 10), digit, font=font, fill=255)
        norm = _normalise(np.asarray(img, dtype=np.float64))
        if norm is None:
            return None
        out[digit] = norm
    return out


def glyph_scores(glyph: np.ndarray) -> dict[str, float] | None:
    """Correlation (-1 to 1) of one character's image with each template, ``None`` if there is no glyph.

    Parameters
    ----------
    glyph
        Greyscale pixels (0-255, dark ink on a light page) around one character.
    """
    templates = _templates()
    norm = _normalise(255.0 - np.asarray(glyph, dtype=np.float64))
    if templates is None or norm is None:
        return None
    return {d: float(np.sum(norm * t)) for d, t in templates.items()}


def classify_glyph(glyph: np.ndarray, margin: float = MARGIN) -> str | None:
    """``"0"``, ``"6"`` or ``"8"`` when the shape clearly says so, else ``None``.

    Parameters
    ----------
    glyph
        Greyscale pixels (0-255, dark ink on a light page) around one character.
    margin
        Lowest lead in correlation of the best template over the second best.
    """
    scores = glyph_scores(glyph)
    if scores is None:
        return None
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if best == "0":
        return best if top >= _ZERO_CORR and top - second >= max(margin, _ZERO_MARGIN) else None
    return best if top >= _MIN_CORR and top - second >= margin else None


def char_slots(box: Box, n: int) -> list[Box]:
    """Boxes of the ``n`` characters of a word printed in a fixed-width font, ``box`` being its ink box.

    The ink box is about ``n - 0.15`` character advances wide (the side bearings of the end characters).
    """
    left, top, width, height = box
    adv = width / max(n - 0.15, 0.85)
    return [(round(left + (i - 0.05) * adv), top, max(1, round(adv)), height) for i in range(n)]


def _tight(img: Any, box: Box) -> Box:
    """``box`` narrowed to the columns holding ink (a scan-range end cut at the hyphen keeps the gap before it)."""
    left, top, width, height = box
    ink = np.asarray(img.crop((left, top, left + width, top + height)).convert("L")) < 170
    xs = np.flatnonzero(ink.sum(axis=0) >= 2)
    if xs.size == 0:
        return box
    return left + int(xs[0]), top, int(xs[-1] - xs[0]) + 1, height


def check_digits(img: Any, box: Box, text: str, margin: float = MARGIN) -> dict[int, str | None]:
    """The shape verdict for each ``6`` and ``8`` of ``text`` read in ``box`` of ``img``.

    Parameters
    ----------
    img
        The page image the box is in (PIL, dark text on a light page).
    box
        ``(left, top, width, height)`` of the word's ink, pixels of ``img``.
    text
        The word as read; its length must be the number of characters in the box.

    Returns
    -------
    dict
        Position in ``text`` -> ``"0"`` (a dotted zero), ``"6"`` / ``"8"`` (shape of the digit read
        confirmed; an ``8`` found to be a ``6`` or the reverse counts as unconfirmed), or ``None``.
    """
    found = classify_at(img, box, len(text), [i for i, ch in enumerate(text) if ch in "68"], margin)
    return {i: v if v in ("0", text[i]) else None for i, v in found.items()}


def classify_at(img: Any, box: Box, n: int, positions: Sequence[int], margin: float = MARGIN) -> dict[int, str | None]:
    """:func:`classify_glyph` of the characters at ``positions`` of the ``n``-character word in ``box``."""
    slots = char_slots(_tight(img, box), n)
    out: dict[int, str | None] = {}
    for i in positions:
        left, top, width, height = slots[i]
        pad, side = max(1, height // 8), max(1, width // 3)
        window = np.asarray(img.crop((left - side, top - pad, left + width + side, top + height + pad)).convert("L"))
        out[i] = classify_glyph(_isolate(window, side, side + width), margin)
    return out


def _isolate(window: np.ndarray, x0: int, x1: int) -> np.ndarray:
    """``window`` with only the ink of the glyph between columns ``x0`` and ``x1`` kept (the rest made page).

    Kept are the connected blobs of ink whose centre column lies in ``[x0, x1)`` and that are at most 1.3 times
    that wide (a rule under the line is not), so that neither a neighbour's edge nor a line skews the glyph's
    box. Without :mod:`scipy.ndimage`, the columns ``[x0, x1)`` as they are.
    """
    try:
        from scipy import ndimage
    except ImportError:
        return window[:, x0:x1]
    dark = 255.0 - window.astype(np.float64)
    ink = dark > 0.5 * (float(dark.max()) + float(dark.min()))
    labels, count = ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))
    keep = np.zeros_like(ink)
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        ys, xs = sl
        centre = 0.5 * (xs.start + xs.stop - 1)
        if x0 <= centre < x1 and xs.stop - xs.start <= 1.3 * (x1 - x0):
            keep[ys, xs] |= labels[ys, xs] == k
    if not keep.any():
        return window[:, x0:x1]
    near = ndimage.binary_dilation(keep, iterations=2)  # the glyph's grey edge along with its ink
    return np.where(near, window, 255).astype(np.uint8)


def resolve(img: Any, read: Any, reads: Sequence[Value | None], min_conf: float,
            number: Callable[[str], float]) -> float | None:
    """The value of reads that disagree only on which of ``0``, ``6`` and ``8`` some characters are, settled by
    the glyphs' shapes; ``None`` when they differ otherwise or a shape is not clear.

    Parameters
    ----------
    img
        Image of the first full-page read.
    read
        That read's :class:`~dmslab.ingest.ocr._layouts.Reading` of the field (with its box).
    reads
        The values of all reads of the field, as voted on.
    min_conf
        Confidence (0-100) one read giving the settled value must reach.
    number
        The value of a text.
    """
    valid = [v for v in reads if v is not None and v.value is not None]
    if read is None or read.box is None or len(valid) < 2:
        return None
    base: str = read.text
    if any(len(v.text) != len(base) or any(a != b and not {a, b} <= set("068") for a, b in zip(v.text, base,
                                                                                           strict=True))
           for v in valid):
        return None
    doubt = sorted({i for v in valid for i, (a, b) in enumerate(zip(v.text, base, strict=True)) if a != b}
                   | {i for i, c in enumerate(base) if c in "68"})
    found = classify_at(img, read.box, len(base), doubt)
    if not doubt or any(found[i] is None for i in doubt):
        return None
    text = "".join(found.get(i) or c for i, c in enumerate(base))
    try:
        value = number(text)
    except ValueError:
        return None
    support = [v.conf for v in valid if v.value == value]
    return value if support and max(support) >= min_conf else None


def fix_reading(img: Any, reading: Any) -> str | None:
    """The text of ``reading`` (a :class:`~dmslab.ingest.ocr._layouts.Reading` of ``img``) with each dotted
    zero read ``6`` or ``8`` put right, when the shape of every ``6`` and ``8`` in it was decided; else ``None``
    (also when it holds neither digit or has no box)."""
    if reading is None or reading.box is None or not any(c in "68" for c in reading.text):
        return None
    verdicts = check_digits(img, reading.box, reading.text)
    if any(v is None for v in verdicts.values()):
        return None
    return "".join(verdicts.get(i) or c for i, c in enumerate(reading.text))


def shape_fix(values: dict[str, Any], row: RowReading | None, number: Callable[[str, str], float], img: Any,
              settled: set[str]) -> None:
    """Put right in ``values`` the dotted zeros the reads took for ``6`` or ``8``, from the glyphs' shapes.

    Only a value read as ``row`` (the first full-page read, whose boxes are in ``img``) shows it is looked at;
    the names of the values whose every ``6`` and ``8`` was decided go in ``values["_shape_ok"]``.

    Parameters
    ----------
    values
        Voted values of the row (``ctdivol_mgy``, ``dlp_mgycm``, ``scan_length_mm`` with ``_length_ends``, the
        two ends as text); changed in place.
    row
        The row as the first full-page read saw it.
    number
        ``number(text, field)``: the value of a field's text (``ctdi``, ``dlp``, ``r0``, ``r1``).
    img
        The image of that read; ``None`` (not a fixed-width page) to look at nothing.
    settled
        Fields already settled by the shapes (:func:`resolve`), put in ``values["_shape_ok"]`` as they are.
    """
    ok: set[str] = set(settled)
    if img is None or row is None:
        values["_shape_ok"] = ok
        return
    for name, field in (("ctdi", "ctdivol_mgy"), ("dlp", "dlp_mgycm")):
        read = row.fields.get(name)
        if values.get(field) is not None and read is not None and _parses_to(read.text, name, values[field], number):
            fixed = fix_reading(img, read)
            if fixed is not None:
                values[field] = number(fixed, name)
                ok.add(field)
    if values.get("scan_length_mm") is not None and values.get("_length_ends"):
        ends = [float(e) for e in str(values["_length_ends"]).split()]
        decided = 0
        for k, name in enumerate(("r0", "r1")):
            read = row.fields.get(name)
            if read is None or not _parses_to(read.text, name, ends[k], number):
                continue
            fixed = fix_reading(img, read) if any(c in "68" for c in read.text) else read.text
            if fixed is not None:
                ends[k] = number(fixed, name)
                decided += 1
        if decided == 2:
            values["scan_length_mm"] = round(abs(ends[1] - ends[0]), 3)
            values["_length_ends"] = f"{ends[0]} {ends[1]}"
            ok.add("scan_length_mm")
    values["_shape_ok"] = ok


def _parses_to(text: str, name: str, value: float, number: Callable[[str, str], float]) -> bool:
    try:
        return number(text, name) == value
    except (ValueError, IndexError):
        return False


def fix_totals(readings: tuple[ScreenReading, ...], img: Any) -> tuple[ScreenReading, ...]:
    """The readings with a total DLP read as the first full-page read shows it put right by its glyphs' shapes."""
    first = readings[0].total
    fixed = fix_reading(img, first)
    if first is None or fixed is None or fixed == first.text:
        return readings
    return tuple(replace(r, total=replace(r.total, text=fixed)) if r.total is not None and r.total.text == first.text
                 else r for r in readings)
