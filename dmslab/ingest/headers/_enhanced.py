"""Enhanced (multi-frame) objects: their dose attributes lifted out of the functional groups.

Enhanced CT, Enhanced XA/XRF and the breast tomosynthesis/projection objects keep exposure values in
functional-group macros (Shared Functional Groups, else the first frame of Per-Frame Functional Groups)
or, for breast tomosynthesis, in the X-Ray 3D Acquisition Sequence. :func:`flattened` returns a shallow
view of the object with those attributes at the top level, under the keywords the single-frame readers
use, so one reader serves both forms; attributes already at the top level always win.

References
----------
DICOM PS3.3 C.7.6.16 Multi-frame Functional Groups; C.8.15.3.8 CT Exposure Macro; C.8.19.6 XA/XRF
functional group macros (Frame Acquisition, Positioner Position, X-Ray Geometry); C.7.6.16.2.x Irradiation
Event Identification Macro; C.8.21.3.4 / C.8.31 breast tomosynthesis and breast projection acquisition
(X-Ray 3D Acquisition Sequence (0018,9507): KVP, XRayTubeCurrentInmA, ExposureTimeInms, OrganDose
(0040,0316, dGy), EntranceDoseInmGy (0040,8302), BodyPartThickness, CompressionForce, anode/filter).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dmslab.ingest._header import header_text, sequence_items

__all__ = ["flattened", "frame_items", "last_frame_value"]

logger = logging.getLogger(__name__)

#: Not copied (the functional groups stay, by reference, for per-frame look-ups such as end angles).
_SKIP = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
#: Enhanced keyword -> the single-frame keyword the readers use (values copied as DS text).
_ALIASES = {"XRayTubeCurrentInmA": "XRayTubeCurrent", "ExposureTimeInms": "ExposureTime",
            "FrameLaterality": "ImageLaterality"}


def _group_items(ds: Dataset, keyword: str) -> Iterator[Dataset]:
    """First item of each macro sequence of the first item of functional-group sequence ``keyword``."""
    groups = ds.get(keyword)
    if not groups:
        return
    for elem in groups[0]:
        if elem.VR == "SQ" and elem.value:
            yield elem.value[0]


def frame_items(ds: Dataset) -> Iterator[Dataset]:
    """Where enhanced values live, in order: X-Ray 3D Acquisition item, shared groups, first frame's groups."""
    acq = sequence_items(ds, "XRay3DAcquisitionSequence")
    if acq:
        yield acq[0]
    yield from _group_items(ds, "SharedFunctionalGroupsSequence")
    yield from _group_items(ds, "PerFrameFunctionalGroupsSequence")


def last_frame_value(ds: Dataset, sequence: str, keyword: str) -> str | None:
    """``keyword`` of macro ``sequence`` in the last frame of Per-Frame Functional Groups (e.g. an end angle)."""
    frames = sequence_items(ds, "PerFrameFunctionalGroupsSequence")
    if len(frames) < 2:
        return None
    items = sequence_items(frames[-1], sequence)
    return header_text(items[0], keyword) if items else None


def flattened(ds: Dataset) -> Dataset:
    """A shallow copy of ``ds`` with functional-group and acquisition-sequence attributes at the top level.

    Top-level attributes are kept as they are (the functional-group sequences too, by reference); a value
    found in several places is taken from the first (see :func:`frame_items`). Pixel data is not copied.
    """
    out = Dataset()
    for elem in ds:
        if elem.keyword not in _SKIP:
            out.add(elem)
    for item in frame_items(ds):
        for elem in item:
            if elem.tag not in out:
                out.add(elem)
    for enhanced, plain in _ALIASES.items():
        text = header_text(out, enhanced)
        tag = tag_for_keyword(plain)
        if text and tag is not None and tag not in out:
            out.add_new(tag, "DS" if plain != "ImageLaterality" else "CS", text.split("\\")[0])
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    return out
