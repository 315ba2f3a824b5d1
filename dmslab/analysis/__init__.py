"""Analysis: functions that take a store and return DataFrames."""

from dmslab.analysis.drl import ct_audit, load_drls, map_ct_protocol

__all__ = ["ct_audit", "load_drls", "map_ct_protocol"]
