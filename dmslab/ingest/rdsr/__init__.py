"""Radiation Dose Structured Report parsers (TID 10001 projection, TID 10011 CT)."""

from dmslab.ingest.rdsr._document import SR_SOP_CLASSES, is_xray_dose_report, parse_xray_rdsr
from dmslab.ingest.rdsr._tree import Item, read_tree

__all__ = ["SR_SOP_CLASSES", "Item", "is_xray_dose_report", "parse_xray_rdsr", "read_tree"]
