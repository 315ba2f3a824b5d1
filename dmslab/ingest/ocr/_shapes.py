"""The font reader (:mod:`dmslab.ingest.ocr._font`) applied to a page's fields, and how its verdict is weighed.

Per page, the reader is calibrated (font size and blur) on the numbers tesseract found; per field, tesseract's
reads give the layout hypotheses and the box, and the reader decides each digit by its shape. A field's value
is then (:func:`decide`)

* the shape reading, when its drawing fits the page (correlation at least :data:`FIT_MIN`) and at least one
  tesseract read gives the same value (two readers that work differently agree: ``confirmed``);
* the shape reading, when it fits and every digit wins by at least :data:`SURE` over the next best digit,
  although no tesseract read agrees (it is then not ``confirmed``, and needs a second relation as a
  tesseract-only value does);
* else tesseract's vote (:func:`~dmslab.ingest.ocr._vote.vote`), as on a page without the font.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dmslab.ingest.ocr._font import FONTS, FontRead, FontReader, font_file
from dmslab.ingest.ocr._layouts import Reading, ScreenReading
from dmslab.ingest.ocr._vote import Value, vote

__all__ = ["FIT_MIN", "SURE", "PageShapes", "ShapeRead", "decide"]

logger = logging.getLogger(__name__)

#: Lowest correlation (0-1) of the drawn word with the page for the shape reading to count (measured: correct
#: readings fit 0.92-0.99; a box around the wrong ink, or a wrong layout, fits below 0.8).
FIT_MIN = 0.85
#: Lead in correlation of every digit over its runner-up at which the shape reading stands on its own.
SURE = 0.05
#: Numeric fields of a row read by shape.
NUMERIC = ("ctdi", "dlp", "r0", "r1")
#: Characters a scan position may start with on GE pages: S(uperior) or I(nferior), as tesseract misreads them.
_SIGNS = {"S": "S", "5": "S", "$": "S", "I": "I", "1": "I", "l": "I", "|": "I"}


@dataclass(frozen=True, slots=True)
class ShapeRead:
    """A field read by shape: value, text, fit (0-1) and the smallest lead of a digit over its runner-up."""

    value: float
    text: str
    fit: float
    margin: float
    #: The texts tesseract read for the field, in any pass (cell re-reads and ranges not understood included).
    seen: tuple[str, ...] = ()


class PageShapes:
    """The font reader of one page, with the scales of the prepared images whose boxes the reads give."""

    def __init__(self, reader: FontReader, scales: Sequence[float], vendor: str) -> None:
        self.reader, self.scales, self.vendor = reader, tuple(scales), vendor

    @classmethod
    def build(cls, vendor: str, grey: np.ndarray, readings: Sequence[ScreenReading],
              images: Sequence[Any]) -> PageShapes | None:
        """Calibrate the reader on the numbers of the full-page reads; ``None`` without the font or a fit."""
        path = font_file(FONTS.get(vendor, ""))
        if path is None:
            logger.info("font %s of %s pages not found: numbers rest on tesseract's reads alone", FONTS.get(vendor),
                        vendor)
            return None
        scales = [img.width / grey.shape[1] for img in images]
        page = PageShapes(FontReader(grey, path), scales, vendor)
        words = _calibration_words(page, readings)
        if page.reader.calibrate(words) is None:
            return None
        return page

    def page_box(self, box: tuple[int, int, int, int], image: int) -> tuple[int, int, int, int]:
        """``box`` in pixels of prepared image ``image`` -> pixels of the stored page."""
        f = self.scales[image]
        return round(box[0] / f), round(box[1] / f), max(1, round(box[2] / f)), max(1, round(box[3] / f))

    def _boxes(self, readings: Sequence[tuple[int, Reading]]) -> list[tuple[int, int, int, int]]:
        """Page boxes of the reads that place the field (a prepared image's read with a box), in order."""
        return [self.page_box(r.box, k) for k, r in readings if k >= 0 and r.box is not None and r.box[2] > 0]

    def _hypotheses(self, texts: Sequence[str], signed: bool) -> list[str]:
        """Layouts to try: the texts read that look like numbers; for a scan position (GE, ``signed``) with its
        side letter normalised, and when the text starts with a digit also with a side letter put in front
        (tesseract drops the ``S`` or reads ``I`` as ``1``; the shapes decide which)."""
        out = []
        for t in texts:
            if not signed:
                if _plain(t):
                    out.append(t)
                continue
            if t[:1] in _SIGNS and _plain(t[1:]):
                out.append(_SIGNS[t[0]] + t[1:])
            if t[:1].isdigit() and _plain(t):
                out.append("S" + t)
        return list(dict.fromkeys(out))

    def read(self, readings: Sequence[tuple[int, Reading]], name: str,
             number: Callable[[str], float]) -> ShapeRead | None:
        """The field ``name`` read by shape.

        Parameters
        ----------
        readings
            ``(image, reading)`` pairs: the field's reads, ``image`` being the index of the prepared image its box
            refers to (``-1``: a cell re-read, whose text alone is used). The first with a box places the word.
        name
            ``ctdi``, ``dlp``, ``r0``, ``r1`` or ``total``.
        number
            The value of a text.
        """
        signed = self.vendor == "ge" and name in ("r0", "r1")
        hyps = self._hypotheses([r.text for _, r in readings if r.text], signed)
        boxes = self._boxes(readings)
        if not hyps or not boxes:
            return None
        best: FontRead | None = None
        for box in boxes[:2]:  # the second box only when the first (a box that took in a stray mark) fails
            got = self.reader.read(box, hyps, "SI" if signed else None)
            if got is not None and (best is None or got.fit > best.fit):
                best = got
            if best is not None and best.fit >= FIT_MIN:
                break
        if best is None:
            return None
        try:
            value = number(best.text)
        except (ValueError, IndexError):
            return None
        seen = [r.text for _, r in readings if r.text]
        if signed:  # a GE position's first character is its side letter, however tesseract drew it
            seen += [_SIGNS[t[0]] + t[1:] for t in seen if t[0] in _SIGNS]
        return ShapeRead(value, best.text, best.fit, best.margin, tuple(dict.fromkeys(seen)))

    def choose(self, readings: Sequence[tuple[int, Reading]], words: Sequence[str]) -> ShapeRead | None:
        """Which of ``words`` (a closed vocabulary: the vendor's scan types, phantom names) the field shows.

        Each word is drawn whole and fitted where the reads put the field; ``value`` of the result is the index
        of the best word in ``words``, ``margin`` its lead in fit over the runner-up.
        """
        boxes = self._boxes(readings)
        if not boxes or len(words) < 2 or self.reader.size is None:
            return None
        box = boxes[0]
        fits = sorted(((self.reader.fit(word, box), i) for i, word in enumerate(words)), reverse=True)
        (best, i), (second, _) = fits[0], fits[1]
        return ShapeRead(float(i), words[i], best, best - second, tuple(r.text for _, r in readings if r.text))


def _calibration_words(page: PageShapes, readings: Sequence[ScreenReading]) -> list[tuple[tuple[int, int, int,
                                                                                                 int], str]]:
    """Numbers both full-page reads agree on (text and place), with their boxes on the page: CTDIvol and DLP of
    the rows, and the total. A number only one read saw, or saw differently, may be misread (``312`` for
    ``31.2``) and would pull the fit towards the wrong size."""
    def numbers(k: int) -> list[tuple[tuple[int, int, int, int], str]]:
        reading = readings[k]
        found = [r for row in reading.rows for name in ("ctdi", "dlp") if (r := row.fields.get(name)) is not None]
        found += [reading.total] if reading.total is not None else []
        return [(page.page_box(r.box, k), r.text) for r in found if r.box is not None and _plain(r.text)]

    first, second = numbers(0), numbers(1) if len(readings) > 1 else []
    agreed = [(b, t) for b, t in first
              if any(t == t2 and abs(b[0] - b2[0]) <= 3 and abs(b[1] - b2[1]) <= 3 for b2, t2 in second)]
    return agreed or first


def _plain(text: str) -> bool:
    """Digits with one decimal point: a number as the pages print it."""
    return text.count(".") <= 1 and text.replace(".", "").isdigit() and not text.startswith(".")


def _digits(text: str) -> str:
    """The digits and point of a number as read (a scan position whose side letter was dropped still agrees)."""
    return "".join(c for c in text if c.isdigit() or c == ".").lstrip(".")


def decide(field: str, reads: Sequence[Value | None], shape: ShapeRead | None,
           min_conf: float) -> tuple[Any, str | None, bool]:
    """The field's value, its review flag, and whether two different readers agreed on it.

    Parameters
    ----------
    field
        Name used in flags.
    reads
        Tesseract's reads of the field (as for :func:`~dmslab.ingest.ocr._vote.vote`).
    shape
        The field read by shape, ``None`` when not available.
    min_conf
        Confidence a tesseract-only value needs.
    """
    if shape is None or shape.fit < FIT_MIN:
        value, flag = vote(field, reads, min_conf)
        return value, flag, False
    digits = _digits(shape.text)
    agree = any(v is not None and (v.value == shape.value or _digits(v.text) == digits) for v in reads) or any(
        t == shape.text or _digits(t) == digits for t in shape.seen)
    if agree:
        return shape.value, None, True
    if shape.margin >= SURE:
        return shape.value, None, False
    seen = "' / '".join(v.text for v in reads if v is not None) or "nothing"
    return None, (f"ocr_review: {field} read '{shape.text}' by the font's shapes (fit {shape.fit:.2f}, lead "
                  f"{shape.margin:.3f}) but tesseract read '{seen}'"), False
