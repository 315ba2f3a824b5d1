"""Shape check of 6, 8 and GE's dotted zero (dmslab.ingest.ocr._glyph) on glyphs rendered here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dmslab.ingest.ocr._glyph import check_digits, classify_glyph, fix_reading
from dmslab.ingest.ocr._layouts import Reading

try:
    FONT_OK = ImageFont.truetype("DejaVuSansMono.ttf", 20) is not None
except OSError:
    FONT_OK = False

pytestmark = pytest.mark.skipif(not FONT_OK, reason="DejaVu Sans Mono not installed (fonts-dejavu-core)")


def _line(text: str, size: int, blur: float = 0.0) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """``text`` in DejaVu Sans Mono, white on black as on a GE console, then inverted, blurred and upscaled
    threefold like the prepared page; with the ink box of the text."""
    font = ImageFont.truetype("DejaVuSansMono.ttf", size)
    img = Image.new("L", (size * (len(text) + 2), size * 2), 0)
    ImageDraw.Draw(img).text((size, size // 3), text, font=font, fill=235)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    img = Image.eval(img, lambda v: 255 - v).resize((img.width * 3, img.height * 3), Image.Resampling.LANCZOS)
    ink = np.asarray(img) < 190
    ys, xs = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return img, (int(xs[0]), int(ys[0]), int(xs[-1] - xs[0]) + 1, int(ys[-1] - ys[0]) + 1)


def _glyph(digit: str, size: int, blur: float) -> np.ndarray:
    img, (left, top, width, height) = _line(digit, size, blur)
    return np.asarray(img.crop((left - 2, top - 2, left + width + 2, top + height + 2)))


@pytest.mark.parametrize("size", [15, 22, 30])
@pytest.mark.parametrize("digit", ["0", "6", "8"])
def test_single_glyph_classified(digit: str, size: int) -> None:
    assert classify_glyph(_glyph(digit, size, blur=0.4)) == digit


@pytest.mark.parametrize("digit", ["0", "6", "8"])
def test_never_another_digit(digit: str) -> None:
    """At any size and blur the check gives the digit drawn or abstains, never one of the other two."""
    verdicts = {classify_glyph(_glyph(digit, size, blur)) for size in range(12, 31, 2) for blur in (0.0, 0.5, 0.9)}
    assert verdicts <= {digit, None}
    assert digit in verdicts


@pytest.mark.parametrize("size", [15, 22, 30])
def test_dotted_zero_read_as_6_or_8_is_put_right(size: int) -> None:
    img, box = _line("608.86", size, blur=0.3)
    # tesseract's typical misreads of the zero: as 6 and as 8; the genuine 6 and 8s are confirmed
    assert check_digits(img, box, "668.86") == {0: "6", 1: "0", 2: "8", 4: "8", 5: "6"}
    assert fix_reading(img, Reading("688.86", 95.0, box)) == "608.86"
    assert fix_reading(img, Reading("608.86", 95.0, box)) == "608.86"


def test_no_box_or_no_6_8_gives_nothing() -> None:
    img, box = _line("123.45", 20)
    assert fix_reading(img, Reading("123.45", 95.0, box)) is None
    assert fix_reading(img, Reading("168.45", 95.0, None)) is None
    assert check_digits(img, box, "123.45") == {}
