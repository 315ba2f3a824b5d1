"""The OCR page decode behind the ``ocr_page`` fuzz findings of issue 21 (damaged multi-frame headers, implausible
Rows/Columns), on Secondary Captures built here, against values computed independently of the reader."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from dmslab.errors import IngestError
from dmslab.ingest.ocr._engine import MAX_PAGE_PIXELS, pixels_to_grey


def _sc(frames: np.ndarray, *, number_of_frames: bool = True) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = frames.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if number_of_frames:
        ds.NumberOfFrames = frames.shape[0]
    ds.PixelData = frames.astype(np.uint8).tobytes()
    return ds


def test_multi_frame_page_is_its_first_frame():
    first = np.tile(np.array([0, 51, 102, 153, 255], dtype=np.uint8), (3, 1))  # the full range: kept as it is
    ds = _sc(np.stack([first, np.full((3, 5), 7)]))
    np.testing.assert_array_equal(pixels_to_grey(ds), first)


@pytest.mark.filterwarnings("ignore:The number of bytes of pixel data:UserWarning")  # pydicom's, about the frames
def test_frames_without_number_of_frames_give_the_header_page():
    """Pixel data holding two frames under a header announcing one (the fuzz finding): the header's page."""
    first = np.tile(np.array([10, 20, 30], dtype=np.uint8), (2, 1))
    grey = pixels_to_grey(_sc(np.stack([first, first + 100]), number_of_frames=False))
    np.testing.assert_array_equal(grey, np.tile(np.array([0, 128, 255], dtype=np.uint8), (2, 1)))


@pytest.mark.parametrize(("rows", "cols"), [(0, 40), (65535, 65535)])
def test_implausible_page_is_corrupt_before_decoding(rows, cols):
    ds = _sc(np.zeros((1, 2, 2)))
    ds.Rows, ds.Columns = rows, cols
    ds.file_meta.TransferSyntaxUID = RLELossless  # would allocate rows*cols bytes if decoded
    with pytest.raises(IngestError) as err:
        pixels_to_grey(ds)
    assert err.value.reason == "corrupt" and f"Rows {rows}, Columns {cols}" in str(err.value)
    assert rows * cols == 0 or rows * cols > MAX_PAGE_PIXELS
