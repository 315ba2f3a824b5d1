"""Reading a number by its shape in the screen's own font: the second, independent reader of a dose page.

A console draws its dose page with one font at one size, at whole-pixel positions, so a word on the page is
(up to blur, noise and JPEG damage) the font's rendering of its text. Given what tesseract read, the words'
layout is known (how many characters, where the decimal point is; the digits of both DejaVu fonts all have the
same advance), and each digit can be decided by drawing the word with each of the ten digits in its place and
keeping the one whose drawing correlates best with the page: analysis by synthesis, as screen-scraping readers
of known fonts do. Unlike tesseract it has no language model and no trouble with GE's dotted zero.

The font is an assumption about the console and is stated per page style (:data:`FONTS`). On a console that
draws another font the drawings do not fit the page (correlation about 0.7 against 0.92-0.99 for the right
font), the reader abstains, and the page's numbers rest on tesseract's reads alone, as without the font file:
more go to review, none is stored wrong.

:meth:`FontReader.read` returns the text, how well the drawn word fits the page (normalised correlation, 0-1)
and the smallest lead of a character over its runner-up, so the caller can demand both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["FONTS", "FontRead", "FontReader", "font_file"]

logger = logging.getLogger(__name__)

#: Vendor style -> file name of the font its dose page is drawn in (found in the system font folders).
FONTS = {"ge": "DejaVuSansMono.ttf", "siemens": "DejaVuSans.ttf", "toshiba": "DejaVuSans.ttf"}
#: Pixels the drawn word is slid by, each way, around where tesseract's box puts it.
_SEARCH = (4, 8)
#: Font sizes (pixels per em) tried when the page is calibrated.
_SIZES = range(8, 48)
#: Gaussian blur (pixels) applied to the drawings, tried when the page is calibrated.
_BLURS = (0.0, 0.6, 1.0, 1.4)
#: Lead in correlation under which a character's decision is a close call, looked at again.
_CLOSE = 0.05
#: Sub-pixel starts (pixels) tried for each word.
_PHASES = tuple(k / 8 for k in range(8))
DIGITS = "0123456789"


@dataclass(frozen=True, slots=True)
class FontRead:
    """A word read by shape: its text, the fit of its drawing (0-1) and the smallest per-character lead."""

    text: str
    fit: float
    margin: float


@lru_cache(maxsize=8)
def font_file(name: str) -> str | None:
    """Path of the font file ``name`` (PIL searches the system font folders), ``None`` when absent."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(name, 12)
    except OSError:
        return None
    return str(font.path)


@lru_cache(maxsize=64)
def _font(path: str, size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _gauss(arr: np.ndarray, sigma: float) -> np.ndarray:
    """``arr`` blurred by a Gaussian of ``sigma`` pixels (separable, edges padded with zeros)."""
    if sigma <= 0:
        return arr
    r = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(arr, r)
    rows = sum(w * padded[:, i:i + arr.shape[1]] for i, w in enumerate(k))
    return sum(w * rows[i:i + arr.shape[0], :] for i, w in enumerate(k))


def _box_sum(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sum of every ``h`` x ``w`` window of ``arr`` (shape ``(rows - h + 1, cols - w + 1)``)."""
    c = np.zeros((arr.shape[0] + 1, arr.shape[1] + 1))
    c[1:, 1:] = arr.cumsum(axis=0).cumsum(axis=1)
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


class FontReader:
    """Reads words of one page by drawing them in the page's font.

    Parameters
    ----------
    grey
        The page, 8-bit greyscale, at its stored size (either polarity).
    font_path
        TrueType file of the page's font.
    """

    def __init__(self, grey: np.ndarray, font_path: str) -> None:
        ink = grey.astype(np.float64)
        self.ink = ink if np.median(grey) < 128 else 255.0 - ink  # ink high, whatever the page's polarity
        self.path = font_path
        self.size: int | None = None
        self.blur = 0.0

    # -- drawing -------------------------------------------------------------------------------------------
    def _draw(self, text: str, size: int, phase: float = 0.0) -> np.ndarray:
        """``text`` drawn at ``size`` starting ``phase`` (0-1) pixels right of a whole pixel: a canvas one line
        high and the word's advance wide (ink high). Consoles draw a line of text as one string, so a word in
        it (a scan range's end) starts at a fraction of a pixel; each glyph's pixels depend on that fraction."""
        return _draw(self.path, size, text, self.blur, phase)

    def _fit(self, text: str, size: int, box: tuple[int, int, int, int], search: tuple[int, int] = _SEARCH,
             phases: Sequence[float] = _PHASES) -> tuple[float, int, int, float]:
        """Best (correlation, top, left, phase) of ``text`` drawn at ``size`` near ``box``."""
        best = (-1.0, 0, 0, 0.0)
        for phase in phases:
            c, y, x = self._place(self._draw(text, size, phase), box, search)
            if c > best[0]:
                best = (c, y, x, phase)
        return best

    # -- fitting -------------------------------------------------------------------------------------------
    def _place(self, canvas: np.ndarray, box: tuple[int, int, int, int], search: tuple[int, int] = _SEARCH
               ) -> tuple[float, int, int]:
        """Best (correlation, top, left) of ``canvas`` on the page near ``box`` (page pixels), sliding it by up to
        ``search`` = (rows, columns) pixels each way from where the box's top left corner puts its ink, and
        across the whole box where the box is larger than the drawn word."""
        peak = float(canvas.max())
        if peak <= 0:
            return -1.0, 0, 0
        ys, xs = np.nonzero(canvas > 0.25 * peak)
        sy, sx = search
        # a box larger than the word (it took in a stray mark) widens the search to all of it
        sy += max(0, box[3] - int(ys.max() - ys.min() + 1))
        sx += max(0, box[2] - int(xs.max() - xs.min() + 1))
        top0 = box[1] - int(ys.min()) - search[0]
        left0 = box[0] - int(xs.min()) - search[1]
        h, w = canvas.shape
        y0, x0 = max(top0, 0), max(left0, 0)
        part = self.ink[y0:top0 + h + search[0] + sy + 1, x0:left0 + w + search[1] + sx + 1]
        if part.shape[0] < h or part.shape[1] < w:
            return -1.0, 0, 0
        wins = np.lib.stride_tricks.sliding_window_view(part, (h, w))
        t = canvas - canvas.mean()
        tn = float(np.sqrt((t * t).sum()))
        n = h * w
        sums, sq = _box_sum(part, h, w), _box_sum(part * part, h, w)  # window sums by integral images
        dot = np.einsum("ijkl,kl->ij", wins, t)
        var = np.maximum(sq - sums * sums / n, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = np.where(var > 0, dot / (np.sqrt(var) * tn), 0.0)
        iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)
        return float(corr[iy, ix]), y0 + int(iy), x0 + int(ix)

    def calibrate(self, words: Sequence[tuple[tuple[int, int, int, int], str]]) -> int | None:
        """Find the page's font size and blur from words whose text is trusted (``(box, text)``, page pixels).

        Returns the size, or ``None`` when no size fits any word (then :meth:`read` decides nothing).
        """
        words = [(b, t) for b, t in words if b[3] > 2 and t][:6]
        if not words:
            return None
        # digits are about 0.73 em high; a box may hold more than the digits (a stray mark), so search down to
        # half the height the boxes suggest
        heights = [b[3] for b, _ in words]
        lo = max(_SIZES.start, int(0.5 * min(heights) / 0.73))
        hi = min(_SIZES.stop, int(np.ceil(float(np.median(heights)) / 0.6)) + 1)

        def fit(size: int, blur: float, phases: Sequence[float]) -> float:
            self.blur = blur
            return float(np.median([self._fit(t, size, b, search=(3, 8), phases=phases)[0] for b, t in words]))

        coarse = {size: fit(size, 0.6, (0.0, 0.5)) for size in range(lo, hi)}  # the size first, roughly
        if not coarse:
            self.blur = 0.0
            return None
        near = max(coarse, key=lambda k: coarse[k])
        fits = {(size, blur): fit(size, blur, _PHASES[::2]) for size in range(max(lo, near - 1), min(hi, near + 2))
                for blur in _BLURS}
        (size, blur), best = max(fits.items(), key=lambda kv: kv[1])
        self.size, self.blur = size, blur
        logger.debug("font %s calibrated: size %d px, blur %.1f, fit %.3f", self.path, size, blur, best)
        return size

    def fit(self, text: str, box: tuple[int, int, int, int]) -> float:
        """How well ``text``, drawn at the page's size, fits the page near ``box`` (correlation; -1 if not
        calibrated or a glyph's worth of ink lies beside it, a longer word than ``text``)."""
        if self.size is None:
            return -1.0
        fit, y, x, phase = self._fit(text, self.size, box)
        return -1.0 if self._ink_beside(self._draw(text, self.size, phase), y, x, self.size) else fit

    # -- reading -------------------------------------------------------------------------------------------
    def read(self, box: tuple[int, int, int, int], hypotheses: Sequence[str],
             first: str | None = None) -> FontRead | None:
        """The word in ``box`` (page pixels), each digit decided by its shape.

        Parameters
        ----------
        box
            ``(left, top, width, height)`` of the word's ink, roughly (a few pixels off is fine).
        hypotheses
            Texts read for it (tesseract's reads): they give the layout; digits are then decided anew.
        first
            The characters the first position may be (a GE scan position's side letter: ``"SI"``); every other
            digit may be any digit, and other characters stay as read.

        Returns
        -------
        FontRead or None
            ``None`` when the page is not calibrated or no hypothesis was given.
        """
        if self.size is None or not hypotheses:
            return None
        best: FontRead | None = None
        for hyp in dict.fromkeys(hypotheses):
            got = self._read_one(box, hyp, first)
            if got is not None and (best is None or got.fit > best.fit):
                best = got
        return best

    def _read_one(self, box: tuple[int, int, int, int], hyp: str, first: str | None) -> FontRead | None:
        assert self.size is not None
        size = self.size
        text = list(hyp)
        opts = [first if i == 0 and first else DIGITS if c.isdigit() else c for i, c in enumerate(text)]
        fit, y, x, phase = self._fit(hyp, size, box)
        if fit <= 0:
            return None
        margin = 1.0
        for _ in range(3):  # again with the word placed anew, until no character changes
            before = list(text)
            margin = 1.0
            for i, opt in enumerate(opts):
                if len(opt) < 2:
                    continue
                got = self._decide(text, i, opt, (y, x, phase))
                if got is None:
                    return None
                text[i], lead = got
                margin = min(margin, lead)
            fit, y, x, phase = self._fit("".join(text), size, box)
            if text == before:
                break
        final = "".join(text)
        if self._ink_beside(self._draw(final, size, phase), y, x, size):
            return None
        return FontRead(final, fit, margin)

    def _decide(self, text: list[str], i: int, opt: str, at: tuple[int, int, float]) -> tuple[str, float] | None:
        """Character ``i`` of ``text`` among ``opt``, with its lead over the runner-up; the word placed ``at``
        (top, left, phase). ``None`` when the choices change the layout or the word leaves the page."""
        assert self.size is not None
        y, x, phase = at
        canvases = [self._draw("".join(text[:i]) + ch + "".join(text[i + 1:]), self.size, phase) for ch in opt]
        if len({c.shape for c in canvases}) != 1:
            return None  # the choices do not share one advance: the layout would change
        cols = np.flatnonzero(np.ptp(np.stack(canvases), axis=0).max(axis=0) > 0)
        if cols.size == 0:
            return text[i], 1.0
        h, w = canvases[0].shape
        lo, hi = max(0, int(cols[0]) - 1), min(w, int(cols[-1]) + 2)
        win = self.ink[y:y + h, x + lo:x + hi]
        if win.shape != (h, hi - lo):
            return None
        scores = sorted(((_ncc(win, c[:, lo:hi]), ch) for c, ch in zip(canvases, opt, strict=True)), reverse=True)
        if scores[0][0] - scores[1][0] < _CLOSE:  # a close call: each contender placed as it fits best
            scores = sorted(((self._slot_fit("".join(text[:i]) + ch + "".join(text[i + 1:]), y, x, (lo, hi)), ch)
                             for _, ch in scores[:3]), reverse=True)
        return scores[0][1], scores[0][0] - scores[1][0]

    def _slot_fit(self, text: str, y: int, x: int, cols: tuple[int, int]) -> float:
        """Correlation in columns ``cols`` of ``text`` drawn where it fits best within a pixel of ``(y, x)``, at
        any sub-pixel start: a contender for a close call is judged at its own best placement, not at its
        rival's."""
        assert self.size is not None
        lo, hi = cols
        best_word, best_slot = -2.0, -1.0
        for phase in _PHASES:
            canvas = self._draw(text, self.size, phase)
            h, w = canvas.shape
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    if y + dy < 0 or x + dx < 0:
                        continue
                    win = self.ink[y + dy:y + dy + h, x + dx:x + dx + w]
                    if win.shape != canvas.shape:
                        continue
                    c = _ncc(win, canvas)
                    if c > best_word:
                        best_word, best_slot = c, _ncc(win[:, lo:hi], canvas[:, lo:hi])
        return best_slot

    def _ink_beside(self, canvas: np.ndarray, y: int, x: int, size: int) -> bool:
        """Whether a glyph's worth of ink lies just left or right of the drawn word placed at ``(y, x)``: a
        character the hypothesis leaves out (a side letter tesseract did not see). A hyphen or a decimal point
        beside it is not: what counts is a column of ink at least half the digits' height."""
        peak = float(canvas.max())
        ys, xs = np.nonzero(canvas > 0.5 * peak)
        if ys.size == 0:
            return False
        top, bottom = y + int(ys.min()), y + int(ys.max()) + 1
        first, last = x + int(xs.min()), x + int(xs.max()) + 1
        reach = max(2, round(0.6 * float(_font(self.path, size).getlength("0"))))
        band = self.ink[top:bottom, max(0, first - reach - 1):last + reach + 1]
        word = self.ink[top:bottom, first:last]
        if word.size == 0 or band.size == 0:
            return False
        level = 0.5 * (float(np.percentile(word, 95)) + float(np.median(band)))
        height = bottom - top
        left = self.ink[top:bottom, max(0, first - reach - 1):max(0, first - 1)]
        right = self.ink[top:bottom, last + 1:last + reach + 1]
        # ink in at least half the rows of the digits' height: a glyph (a hyphen or a point covers a row or two)
        return any(part.size and int((part > level).any(axis=1).sum()) >= 0.5 * height for part in (left, right))


#: Blank pixels around a drawn word.
_PAD = 2


@lru_cache(maxsize=4096)
def _draw(path: str, size: int, text: str, blur: float, phase: float) -> np.ndarray:
    """:func:`_render`, cached; the array is shared between callers, so it is read-only."""
    arr = _render(path, size, text, blur, phase).astype(np.float32)
    arr.setflags(write=False)
    return arr


def _render(path: str, size: int, text: str, blur: float, phase: float) -> np.ndarray:
    from PIL import Image, ImageDraw

    font = _font(path, size)
    ascent, descent = font.getmetrics()
    w = int(np.ceil(font.getlength(text))) + 2 * _PAD + 1
    img = Image.new("L", (max(w, 1), ascent + descent + 2 * _PAD), 0)
    ImageDraw.Draw(img).text((_PAD + phase, _PAD), text, font=font, fill=255)
    return _gauss(np.asarray(img, dtype=np.float64), blur)
