"""Skin dose from projection X-ray irradiation events: phantoms, per-event geometry, a numba kernel and its
NumPy twin, and one call that returns the map, the peak skin dose and where, and the method record."""

from dmslab.skindose.beams import Beam, Support
from dmslab.skindose.compute import Corrections, PeakLocation, SkinDoseResult, skin_dose
from dmslab.skindose.phantom import Phantom, body_phantom, flat_phantom, place
from dmslab.skindose.tables import backscatter_table, transmission_table

__all__ = [
    "Beam",
    "Corrections",
    "PeakLocation",
    "Phantom",
    "SkinDoseResult",
    "Support",
    "backscatter_table",
    "body_phantom",
    "flat_phantom",
    "place",
    "skin_dose",
    "transmission_table",
]
