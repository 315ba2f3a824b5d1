"""The OCR page decode of a Secondary Capture: pixel data to an 8-bit grey page and the prepared image
(:func:`pixels_to_grey`, :func:`prepare` — what parse_file's OCR entry does before tesseract runs).

A file pydicom cannot read is parse_file's business (target ``parse_file``); here a readable header with any pixel
data must give a 2-D uint8 page of the header's Rows x Columns or :class:`IngestError` ``corrupt`` (a header
beyond ``MAX_PAGE_PIXELS`` is refused before decoding, so no input blows up memory), and preparing a page must
not fail.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom

from dmslab.errors import IngestError
from dmslab.ingest.ocr._engine import MAX_PAGE_PIXELS, pixels_to_grey, prepare

SEEDS = ("sc",)
DICT = "dicom.dict"


def _dataset(data: bytes) -> pydicom.Dataset | None:
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        for _elem in ds.iterall():
            pass
    except Exception:  # unreadable files are the parse_file target's; here only pixels count
        return None
    return ds if "PixelData" in ds else None


def check(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = _dataset(data)
        if ds is None:
            return
        try:
            grey = pixels_to_grey(ds)
        except IngestError as exc:
            assert exc.reason == "corrupt", exc
            return
    assert isinstance(grey, np.ndarray) and grey.dtype == np.uint8, grey.dtype
    assert grey.shape == (ds.Rows, ds.Columns) and 0 < grey.size <= MAX_PAGE_PIXELS, (grey.shape, ds.Rows, ds.Columns)
    img = prepare(grey, target_width=grey.shape[1], binarize=True)
    assert img.size == (grey.shape[1], grey.shape[0])
