"""Skin dose from projection X-ray irradiation events: phantoms, per-event geometry, a numba kernel and its
NumPy twin, and one call that returns the map, the peak skin dose and where, and the method record."""

from dmslab.skindose.beams import Beam, Support
from dmslab.skindose.compute import Corrections, PeakLocation, SkinDoseResult, skin_dose
from dmslab.skindose.geometry import EventGeometry, event_geometries
from dmslab.skindose.phantom import Phantom, body_phantom, flat_phantom, place
from dmslab.skindose.profiles import GeometryProfile, find_profile, profiles
from dmslab.skindose.study import Patient, StudyOptions, StudySkinDose, patient_position, study_skin_dose
from dmslab.skindose.tables import backscatter_table, transmission_table

__all__ = [
    "Beam",
    "Corrections",
    "EventGeometry",
    "GeometryProfile",
    "Patient",
    "PeakLocation",
    "Phantom",
    "SkinDoseResult",
    "StudyOptions",
    "StudySkinDose",
    "Support",
    "backscatter_table",
    "body_phantom",
    "event_geometries",
    "find_profile",
    "flat_phantom",
    "patient_position",
    "place",
    "profiles",
    "skin_dose",
    "study_skin_dose",
    "transmission_table",
]
