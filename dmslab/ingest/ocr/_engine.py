"""Pixels to words: image preparation and the tesseract call (optional dependency ``pytesseract``)."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array

from dmslab.errors import IngestError

__all__ = ["Box", "CellWord", "Line", "Word", "crop_cell", "ocr_lines", "pixels_to_grey", "prepare", "read_cells",
           "require_tesseract", "tesseract_available"]

logger = logging.getLogger(__name__)

_INSTALL = ("OCR of dose screens needs the tesseract-ocr program and pytesseract: install tesseract-ocr and "
            "tesseract-ocr-eng (e.g. `apt-get install tesseract-ocr tesseract-ocr-eng`) and `pip install "
            "dmslab[ocr]`; the object is kept in quarantine meanwhile")


@dataclass(frozen=True, slots=True)
class Word:
    """One word as tesseract read it: text, confidence (0-100) and box (pixels of the prepared image)."""

    text: str
    conf: float
    left: int
    top: int
    width: int
    height: int


Line = tuple[Word, ...]


@lru_cache(maxsize=1)
def _load() -> ModuleType | None:
    try:
        import pytesseract
    except ImportError:
        return None
    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        return None
    # One thread per tesseract run (pytesseract passes os.environ to the program): the page is read by several
    # runs at once, and OpenMP threads of concurrent runs fighting for the cores make OCR 2-3 times slower.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return pytesseract


def tesseract_available() -> bool:
    """True when pytesseract imports and the ``tesseract`` program is on PATH."""
    return _load() is not None


def require_tesseract() -> ModuleType:
    """The pytesseract module.

    Raises
    ------
    IngestError
        ``no_importer`` saying what to install, when pytesseract or the tesseract program is missing.
    """
    mod = _load()
    if mod is None:
        raise IngestError("no_importer", _INSTALL)
    return mod


#: Pixels of one page beyond which a header is taken as damaged rather than decoded (a dose screen is a few
#: megapixels; a damaged Rows/Columns would otherwise make a compressed frame's decoder allocate gigabytes).
MAX_PAGE_PIXELS = 64 * 2**20


def _page_size(ds: Dataset) -> tuple[int, int, int]:
    """Rows, Columns and Samples per Pixel of the header, checked before any pixel is decoded."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise IngestError("corrupt", f"image header unreadable: {type(exc).__name__}: {exc}") from exc
    if rows < 1 or cols < 1 or samples < 1 or rows * cols * samples > MAX_PAGE_PIXELS:
        raise IngestError("corrupt", f"image header gives an implausible page: Rows {rows}, Columns {cols}, "
                                     f"Samples per Pixel {samples} (at most {MAX_PAGE_PIXELS} values)")
    return rows, cols, samples


def _first_frame(ds: Dataset) -> np.ndarray:
    """The first frame as pydicom decodes it: ``(rows, cols)``, or ``(rows, cols, samples)`` for colour."""
    rows, cols, samples = _page_size(ds)
    try:
        arr = np.asarray(pixel_array(ds, index=0))  # one frame: a multi-frame object is never decoded whole
    except Exception as exc:  # pydicom raises many kinds of errors for undecodable pixel data
        raise IngestError("corrupt", f"pixel data cannot be decoded: {type(exc).__name__}: {exc}") from exc
    expected = (rows, cols) if samples == 1 else (rows, cols, samples)
    if arr.shape != expected:
        raise IngestError("corrupt", f"pixel data decoded as shape {arr.shape}, not the page {expected} of the "
                                     "header")
    return arr


def pixels_to_grey(ds: Dataset) -> np.ndarray:
    """The first frame as 8-bit greyscale (0-255), whatever the photometric interpretation and depth.

    Raises
    ------
    IngestError
        ``corrupt`` when the header gives no plausible page (Rows, Columns, Samples per Pixel) or the pixel data
        cannot be decoded into it.
    """
    arr = _first_frame(ds)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 3:
        if photometric.startswith("YBR") or arr.shape[-1] < 3:
            arr = arr[..., 0]
        else:
            arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    if photometric == "MONOCHROME1":
        arr = 255.0 - arr
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _otsu(arr: np.ndarray) -> int:
    hist = np.bincount(arr.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    cum = np.cumsum(hist)
    cum_mean = np.cumsum(hist * np.arange(256))
    w0, w1 = cum, total - cum
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (cum_mean[-1] * w0 / total - cum_mean) ** 2 / (w0 * w1 / total)
    if not np.isfinite(between).any():  # a blank page: any threshold will do
        return 127
    return int(np.nanargmax(np.where(np.isfinite(between), between, -1.0)))


def prepare(grey: np.ndarray, *, target_width: int, binarize: bool) -> Any:
    """Dark text on white, upscaled to about ``target_width`` pixels, optionally Otsu-thresholded.

    Ink found inside the hole of a glyph (a dotted zero's dot, see :func:`_dots_in_holes`) is whitened.

    Returns
    -------
    PIL.Image.Image
        Greyscale (mode ``L``) image ready for tesseract.
    """
    from PIL import Image

    arr = grey if np.median(grey) >= 128 else 255 - grey  # background is the majority of a dose page
    img = Image.fromarray(arr)
    factor = max(1.0, target_width / img.width)
    if factor > 1.0:
        img = img.resize((round(img.width * factor), round(img.height * factor)), Image.Resampling.LANCZOS)
    big = np.asarray(img)
    ink = big <= _otsu(big)
    dots = _dots_in_holes(ink)
    if binarize:
        return Image.fromarray(np.where(ink & ~dots, 0, 255).astype(np.uint8))
    return Image.fromarray(np.where(dots, 255, big).astype(np.uint8))


def _dots_in_holes(ink: np.ndarray) -> np.ndarray:
    """Pixels to whiten: small blobs of ink lying inside the hole of a glyph (the dot of a dotted zero).

    Consoles such as GE's print a zero with a dot inside; tesseract reads it as ``6`` or ``8``, and does so
    in every read. Without the dot it is a plain ``0``. ``8``, ``6``, ``9`` and ``4`` hold nothing in their
    holes and are left alone. Needs :mod:`scipy.ndimage`; without it nothing is changed.
    """
    try:
        from scipy import ndimage
    except ImportError:
        return np.zeros_like(ink)
    background, _ = ndimage.label(~ink)
    edge = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
    holes = (background > 0) & ~np.isin(background, edge)
    if not holes.any():
        return np.zeros_like(ink)
    blobs, _ = ndimage.label(ink, structure=np.ones((3, 3), dtype=bool))
    out = np.zeros_like(ink)
    for k, sl in enumerate(ndimage.find_objects(blobs), start=1):
        if sl is None:
            continue
        y, x = sl
        y = slice(max(y.start - 1, 0), y.stop + 1)
        x = slice(max(x.start - 1, 0), x.stop + 1)
        blob = blobs[y, x] == k
        ring = ndimage.binary_dilation(blob) & ~blob
        if ring.any() and holes[y, x][ring].all():  # every pixel around it is inside one glyph's hole
            out[y, x] |= ndimage.binary_dilation(blob)
    return out


#: Characters a dose page prints: letters, digits and the few signs of numbers, units and ranges.
WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:*()/"


#: Liveness guard of one tesseract run [s]: a page takes well under a second of CPU; a run that has not finished
#: after this is killed and the file is rejected as ``unreadable`` (kept, with the reason), so a stuck tesseract
#: never stalls a whole ingest. Not a speed limit: on a busy machine a page may take many times its CPU time.
OCR_TIMEOUT_S = 300.0


def ocr_lines(img: Any, *, psm: int = 6, whitelist: str | None = WHITELIST) -> list[Line]:
    """Run tesseract on ``img`` and group the words into text lines (top to bottom, left to right).

    Raises
    ------
    IngestError
        ``unreadable`` when tesseract did not finish within :data:`OCR_TIMEOUT_S`.
    """
    tess = require_tesseract()
    config = f"--psm {psm}" + (f" -c \"tessedit_char_whitelist={whitelist} \"" if whitelist else "")
    try:
        data = tess.image_to_data(img, config=config, output_type=tess.Output.DICT, timeout=OCR_TIMEOUT_S)
    except RuntimeError as exc:
        if "timeout" not in str(exc).lower():
            raise
        raise IngestError("unreadable", f"OCR: tesseract did not finish within {OCR_TIMEOUT_S:g} s (killed); "
                                        "the file is kept, ingest it again when the machine is less busy") from exc
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for i, text in enumerate(data["text"]):
        text = str(text).strip()
        if not text:
            continue
        key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        lines.setdefault(key, []).append(Word(text, float(data["conf"][i]), int(data["left"][i]),
                                              int(data["top"][i]), int(data["width"][i]), int(data["height"][i])))
    ordered = sorted(lines.values(), key=lambda ws: (min(w.top for w in ws), ws[0].left))
    return [tuple(sorted(ws, key=lambda w: w.left)) for ws in ordered]


Box = tuple[int, int, int, int]
#: White space (pixels, at least) around each cell crop.
_CELL_PAD = 6
#: Scale of the cell crops relative to the prepared page (measured: 0.8 reads better than 0.65, 1.0 or 1.5).
_CELL_SCALE = 0.8


def crop_cell(img: Any, box: Box) -> Any:
    """The cell ``box`` = ``(left, top, width, height)`` of ``img`` on a white margin of half its height.

    The crop itself is tight left and right, so the neighbouring characters (a hyphen between two numbers, the
    next column) do not come along; it keeps a fifth of the height above and below for the ascenders.
    """
    from PIL import Image

    left, top, width, height = box
    dy = max(2, height // 5)
    part = img.crop((left - 1, top - dy, left + width + 1, top + height + dy)).convert("L")
    pad = max(_CELL_PAD, height // 2)
    sheet = Image.new("L", (part.width + 2 * pad, part.height + 2 * pad), 255)
    sheet.paste(part, (pad, pad))
    # A little smaller than the page read: tesseract reads these short lines best at about 20 px digit height.
    return sheet.resize((round(sheet.width * _CELL_SCALE), round(sheet.height * _CELL_SCALE)),
                        Image.Resampling.LANCZOS)


#: Tokens of tesseract's hOCR output that :func:`read_cells` needs: pages, words, and characters with confidences.
_HOCR = re.compile(r"class='(ocr_page)'|class='ocrx_word'[^>]*x_wconf (\d+)|class='ocrx_cinfo' title='x_bboxes [^;]*; "
                   r"x_conf ([\d.]+)'>([^<]*)<")

#: A re-read word: its text, its confidence and the confidence of each of its characters (0-100).
CellWord = tuple[str, float, tuple[float, ...]]


def read_cells(crops: list[Any], whitelist: str) -> list[list[CellWord]]:
    """Read small images (cells of a table) as single text lines with a restricted character set.

    All crops go to one tesseract run as the pages of a multi-page TIFF, each read as one line (psm 7). The
    confidences are per character (hOCR ``x_conf``): tesseract's word confidence of a correct ``S8.628`` can
    be 0 while every character is rated 90 or more.

    Parameters
    ----------
    crops
        ``PIL.Image.Image`` cells, dark text on white (see :func:`crop_cell`).
    whitelist
        The only characters tesseract may output.

    Returns
    -------
    list
        Per crop, its words left to right as ``(text, word confidence, per-character confidences)`` (empty when
        nothing was read).
    """
    if not crops:
        return []
    tess = require_tesseract()
    pages = [c.convert("L") for c in crops]
    with tempfile.TemporaryDirectory(prefix="dmslab_ocr_") as tmp:
        path = os.path.join(tmp, "cells.tif")
        pages[0].save(path, save_all=True, append_images=pages[1:], compression="tiff_deflate")
        hocr = tess.image_to_pdf_or_hocr(path, extension="hocr", config=f"--psm 7 -c hocr_char_boxes=1 "
                                                                         f"-c tessedit_char_whitelist={whitelist}")
    found: list[list[tuple[float, list[tuple[str, float]]]]] = [[] for _ in crops]
    page = -1
    for m in _HOCR.finditer(hocr.decode("utf-8", "replace")):
        if m.group(1):
            page += 1
        elif 0 <= page < len(crops):
            if m.group(2):
                found[page].append((float(m.group(2)), []))
            elif found[page] and m.group(4):
                found[page][-1][1].append((html.unescape(m.group(4)), float(m.group(3))))
    return [[("".join(c for c, _ in w), conf, tuple(f for _, f in w)) for conf, w in words if w]
            for words in found]
