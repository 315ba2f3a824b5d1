"""Pixels to words: image preparation and the tesseract call (optional dependency ``pytesseract``)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from dmslab.errors import IngestError

__all__ = ["Line", "Word", "ocr_lines", "pixels_to_grey", "prepare", "require_tesseract", "tesseract_available"]

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


def pixels_to_grey(ds: Dataset) -> np.ndarray:
    """The first frame as 8-bit greyscale (0-255), whatever the photometric interpretation and depth.

    Raises
    ------
    IngestError
        ``corrupt`` when the pixel data cannot be decoded.
    """
    try:
        arr = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many kinds of errors for undecodable pixel data
        raise IngestError("corrupt", f"pixel data cannot be decoded: {type(exc).__name__}: {exc}") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames > 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        if photometric.startswith("YBR"):
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
    if binarize:
        big = np.asarray(img)
        img = Image.fromarray(np.where(big > _otsu(big), 255, 0).astype(np.uint8))
    return img


#: Characters a dose page prints: letters, digits and the few signs of numbers, units and ranges.
WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:*()/"


def ocr_lines(img: Any, *, psm: int = 6, whitelist: str | None = WHITELIST) -> list[Line]:
    """Run tesseract on ``img`` and group the words into text lines (top to bottom, left to right)."""
    tess = require_tesseract()
    config = f"--psm {psm}" + (f" -c \"tessedit_char_whitelist={whitelist} \"" if whitelist else "")
    data = tess.image_to_data(img, config=config, output_type=tess.Output.DICT)
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
