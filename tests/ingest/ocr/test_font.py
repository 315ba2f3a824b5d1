"""Reading numbers by their shape in a known font (dmslab.ingest.ocr._font, ._shapes), on lines drawn here.

The reference is the text drawn: each test draws it with PIL in DejaVu Sans (Mono), damages the picture
(blur, noise, JPEG) and asks the reader for it, starting from a wrong hypothesis where tesseract would give one.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dmslab.ingest.ocr._font import FontReader, font_file
from dmslab.ingest.ocr._shapes import FIT_MIN, SURE, ShapeRead, decide
from dmslab.ingest.ocr._vote import Value

MONO, SANS = font_file("DejaVuSansMono.ttf"), font_file("DejaVuSans.ttf")
pytestmark = pytest.mark.skipif(MONO is None or SANS is None, reason="DejaVu fonts not installed (fonts-dejavu-core)")

Box = tuple[int, int, int, int]


def _page(words: list[str], font: str, size: int, *, phase: float = 0.0,
          damage: tuple[float, float, int] = (0.5, 6.0, 70), seed: int = 0) -> tuple[np.ndarray, list[Box]]:
    """Light words on a dark page as a console draws them, damaged (blur radius, noise SD, JPEG quality); with
    the ink box of each word."""
    blur, noise, quality = damage
    f = ImageFont.truetype(font, size)
    img = Image.new("L", (40 + sum(int(f.getlength(w)) + 3 * size for w in words), 3 * size), 0)
    draw = ImageDraw.Draw(img)
    boxes, x = [], 20.0 + phase
    for w in words:
        draw.text((x, size), w, font=f, fill=235)
        left, top, right, bottom = draw.textbbox((x, size), w, font=f)
        boxes.append((int(left), int(top), int(right - left), int(bottom - top)))
        x += f.getlength(w) + 3 * size
    img = img.filter(ImageFilter.GaussianBlur(blur))
    arr = np.asarray(img, dtype=np.float64) + np.random.default_rng(seed).normal(0.0, noise, (img.height, img.width))
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L")), boxes


def _reader(grey: np.ndarray, font: str, boxes: list[Box], texts: list[str]) -> FontReader:
    reader = FontReader(grey, font)
    assert reader.calibrate(list(zip(boxes, texts, strict=True))) is not None
    return reader


_ZEROS = ["608.86", "1090.08", "S80.271", "I302.102"]
_MISREAD = ["668.86", "1696.88", "S86.271", "I362.162"]


def _read_zeros(size: int, phase: float, seed: int) -> list[tuple[str, object]]:
    grey, boxes = _page(_ZEROS, MONO, size, phase=phase, seed=seed)
    reader = _reader(grey, MONO, boxes[:2], _ZEROS[:2])
    assert reader.size == size
    out = []
    for box, want, wrong in zip(boxes, _ZEROS, _MISREAD, strict=True):
        out.append((want, reader.read(box, [wrong], "SI" if wrong[0] in "SI" else None)))
    return out


@pytest.mark.parametrize("size", [13, 16, 21])
@pytest.mark.parametrize("phase", [0.0, 0.375, 0.75])
def test_dotted_zeros_read_by_shape(size, phase):
    """GE's dotted zero, which tesseract reads as 6 or 8 alike in every read, comes out right; 6 and 8 stay."""
    for want, got in _read_zeros(size, phase, seed=size):
        assert got is not None and got.text == want and got.fit >= FIT_MIN, (want, got)


@pytest.mark.parametrize("seed", range(4))
def test_tiny_digits_right_or_unsure(seed):
    """At 10 pixels per em (digits 7 pixels high), blurred, noisy and JPEG-compressed, a digit may be too close
    to call; the reader then says so (a lead below SURE), and is never wrong with a clear lead."""
    results = _read_zeros(10, 0.125 * (2 * seed + 1), seed=seed)
    assert all(got is None or got.text == want or got.margin < SURE for want, got in results), results
    assert sum(got is not None and got.text == want for want, got in results) >= 3


@pytest.mark.parametrize("size", [11, 14, 18])
def test_proportional_font_digits(size):
    """Digits of DejaVu Sans share one advance, so the same works on Siemens and Toshiba/Canon pages."""
    truth = ["575.76", "31.2", "394.6", "1077.93"]
    grey, boxes = _page(truth, SANS, size, phase=0.5, damage=(0.8, 8.0, 55), seed=size)
    reader = _reader(grey, SANS, boxes[:2], truth[:2])
    for box, want, wrong in zip(boxes, truth, ["375.76", "41.2", "3946", "1077.98"], strict=True):
        got = reader.read(box, [wrong, want[:-1] + "1"])  # "3946" lost its point: the other layout fits
        assert got is not None and got.text == want, (want, got)


def test_missing_side_letter_is_not_fitted():
    """Tesseract read ``S11.238`` as ``11.238``: no reading of the six characters is returned, since a
    glyph's worth of ink beside them is left unexplained; with the letter put in front it reads."""
    grey, boxes = _page(["S11.238", "43.21"], MONO, 13, seed=3)
    reader = _reader(grey, MONO, [boxes[1]], ["43.21"])
    left, top, width, height = boxes[0]
    adv = ImageFont.truetype(MONO, 13).getlength("0")
    digits_only = (round(left + adv), top, round(width - adv), height)
    assert reader.read(digits_only, ["I1.238"], "SI") is None
    got = reader.read(digits_only, ["S11.238"], "SI")
    assert got is not None and got.text == "S11.238"


def test_closed_vocabulary_word():
    grey, boxes = _page(["Body", "Scanogram"], SANS, 14, seed=5)
    reader = _reader(grey, SANS, [boxes[0]], ["Body"])
    assert reader.fit("Body", boxes[0]) > reader.fit("Head", boxes[0]) + SURE
    assert reader.fit("Scanogram", boxes[1]) > max(reader.fit("Helical", boxes[1]), reader.fit("Volume", boxes[1]))


def _v(value: float, text: str, conf: float = 90.0) -> Value:
    return Value(value, text, conf)


@pytest.mark.parametrize(("reads", "shape", "want", "confirmed"), [
    # the shape reading and one tesseract read agree: stored, confirmed by two readers
    ([_v(6.68, "6.68"), _v(6.08, "6.08", 20.0)], ShapeRead(6.08, "6.08", 0.95, 0.01), 6.08, True),
    # a side letter tesseract dropped: the digits agree
    ([_v(-1.238, "11.238")], ShapeRead(1.238, "S11.238", 0.97, 0.03, ("11.238",)), 1.238, True),
    # no read agrees, but every digit leads clearly: stored, not confirmed
    ([_v(107.66, "107.66"), _v(107.66, "107.66")], ShapeRead(107.06, "107.06", 0.98, SURE + 0.01), 107.06, False),
    # no read agrees and a digit is close to call: review
    ([_v(107.66, "107.66"), _v(107.66, "107.66")], ShapeRead(107.06, "107.06", 0.98, 0.029), None, False),
    # the drawing does not fit the page: tesseract's vote as without the font
    ([_v(12.5, "12.5"), _v(12.5, "12.5")], ShapeRead(17.5, "17.5", FIT_MIN - 0.1, 0.5), 12.5, False),
])
def test_decide(reads, shape, want, confirmed):
    value, flag, ok = decide("dlp_mgycm", reads, shape, 80.0)
    assert (value, ok) == (want, confirmed)
    assert (flag is None) == (want is not None)
    if flag:
        assert flag.startswith("ocr_review: dlp_mgycm read '107.06' by the font's shapes")


@pytest.mark.parametrize("font", [None, "DejaVuSerif.ttf"])
def test_without_the_font_pages_rest_on_tesseract(tmp_path, monkeypatch, font):
    """No font file, or the wrong font (a site whose console draws another): nothing is read by shape (the
    drawings do not fit), GE's confusable digits need a second relation again, and no wrong value is stored."""
    pytest.importorskip("pytesseract")
    from dmslab.ingest.ocr import _engine, _shapes

    if not _engine.tesseract_available():
        pytest.skip("tesseract not installed")
    if font is not None and font_file(font) is None:
        pytest.skip(f"{font} not installed")
    import pydicom

    from dmslab.ingest.ocr import OcrImporter
    from dmslab.pseudonym import Pseudonymiser
    from dmslab.records import SourceRecord
    from dmslab.synth.screens import write_screen

    monkeypatch.setattr(_shapes, "FONTS", {"ge": font} if font else {})
    truth = write_screen(tmp_path / "ge.dcm", "ge", 1063)  # 3.04 and 148.09: tesseract reads these 0s as 6
    ds = pydicom.dcmread(truth.path)
    rep = OcrImporter().ingest(ds, pseudonymise=Pseudonymiser(bytes(32)), source=SourceRecord(sha256="x"))
    pairs = [(getattr(t, f), getattr(e, f)) for t, e in zip(truth.events, rep.ct_events, strict=True)
             for f in ("ctdivol_mgy", "dlp_mgycm")] + [(truth.total_dlp_mgycm, rep.study.total_dlp_mgycm)]
    assert all(got is None or got == pytest.approx(want) for want, got in pairs), pairs
    assert any(got is None and want is not None for want, got in pairs)  # the dotted zeros go to review
