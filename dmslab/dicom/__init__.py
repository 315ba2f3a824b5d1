"""Low-level DICOM bytes: the one element walker (tags, VRs, lengths, items, delimiters) that the SR reader, the
structure check and the receiver's UID scan share. Imports nothing of dmslab above :mod:`dmslab.errors`."""

from dmslab.dicom._walk import (
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQ_END,
    UNDEFINED,
    VRS,
    Walker,
    first_elements,
    is_sq_tag,
)

__all__ = ["ITEM", "ITEM_END", "LONG_VRS", "SEQ_END", "UNDEFINED", "VRS", "Walker", "first_elements", "is_sq_tag"]
