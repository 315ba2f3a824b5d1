"""X-ray angiography and radiofluoroscopy images (XA, RF, Enhanced XA, Enhanced XRF): one event per object.

A single-frame XA/RF image is one exposure; a multi-frame object is one run (cine, DSA, rotational or a
stored fluoroscopy loop): one irradiation event. :func:`xa_values` adds what only these objects carry to
the values :func:`dmslab.ingest.headers.projection.proj_event` reads for every projection image.

Dose area product. Image and Fluoroscopy Area Dose Product (0018,115E) is defined (PS3.3 C.8.7.2.1.1, X-Ray
Acquisition Module) as the dose, in dGy·cm², to which the patient was exposed for the acquisition of *this*
image plus any non-digitally-recorded fluoroscopy performed to prepare it. dmslab reads it as that per-object
value: summing over the objects of a study gives the study DAP, fluoroscopy included. A device that writes a
running (cumulative) total into this attribute would be over-counted by the sum; no such device is in the
quirk table, and the precedence rule makes the RDSR, when one is sent, the value that counts.

Entrance dose. Entrance Dose in mGy (0040,8302), else Entrance Dose (0040,0302, dGy, US), is stored as
``esak_mgy`` in mGy: it is the device's entrance value, not the air kerma at the interventional reference
point (``rp_dose_gy``), which image headers do not carry.

References
----------
DICOM PS3.3 A.14 X-Ray Angiographic Image IOD, A.15 XRF Image IOD, A.36 Enhanced XA/XRF; C.8.7.2 X-Ray
Acquisition Module (RadiationSetting GR/SC, ExposureTime ms, XRayTubeCurrent mA), C.8.7.5 XA Positioner
(DistanceSourceToPatient = source to isocenter, PositionerMotion), C.8.19.6 XA/XRF functional groups.
"""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from dmslab.codes import DCM
from dmslab.ingest._header import header_text
from dmslab.ingest.headers._common import derived_uid, number, put, study_uid_of
from dmslab.ingest.headers._enhanced import last_frame_value
from dmslab.ingest.rdsr._extract import Extractor

__all__ = ["XA_CLASSES", "xa_event_uid", "xa_values"]

logger = logging.getLogger(__name__)

_P = "1.2.840.10008.5.1.4.1.1."
#: X-Ray Angiographic, X-Ray Radiofluoroscopic, Enhanced XA, Enhanced XRF Image Storage
XA_CLASSES = frozenset({_P + "12.1", _P + "12.2", _P + "12.1.1", _P + "12.2.1"})
#: Radiation Mode (0018,115A) -> Fluoro Mode (DCM 113732) value: DCM 113630 Continuous, 113631 Pulsed
_FLUORO_MODE = {"CONTINUOUS": DCM("113630"), "PULSED": DCM("113631")}


def _event_type(ds: Dataset) -> str | None:
    """RadiationSetting (0018,1155) SC = fluoroscopy settings; GR = acquisition (rotational when the
    positioner moved during the run: PositionerMotion (0018,1500) DYNAMIC)."""
    setting = (header_text(ds, "RadiationSetting") or "").upper()
    if setting == "SC":
        return "fluoroscopy"
    if setting == "GR":
        return "rotational" if (header_text(ds, "PositionerMotion") or "").upper() == "DYNAMIC" else "stationary"
    return None


def _rate(ds: Dataset) -> float | None:
    """Frames per second: Cine Rate (0018,0040), else 1000 / Frame Time (0018,1063, ms)."""
    rate = number(ds, "CineRate")
    if rate is None:
        frame_ms = number(ds, "FrameTime")
        rate = 1000.0 / frame_ms if frame_ms else None
    return rate


def xa_values(ex: Extractor, ds: Dataset) -> None:
    """Add the XA/RF-only values to ``ex``: event type, fluoro mode, entrance dose (dGy form), source to
    isocenter, frames and frame rate of a run, positioner end angles of an enhanced run."""
    if "esak_mgy" not in ex.values:
        put(ex, "esak_mgy", number(ds, "EntranceDose"), "dGy", "dose_mgy")
    dsi = number(ds, "DistanceSourceToIsocenter")
    put(ex, "dsi_mm", dsi if dsi is not None else number(ds, "DistanceSourceToPatient"), "mm", "length_mm")
    frames = number(ds, "NumberOfFrames")
    if frames is not None and frames > 1:
        put(ex, "n_pulses", frames, "{frames}", "count")
        put(ex, "pulse_rate", _rate(ds), "{pulse}/s", "pulse_rate")
    ex.values["event_type"] = _event_type(ds)
    mode = _FLUORO_MODE.get((header_text(ds, "RadiationMode") or "").upper())
    if mode is not None:
        ex.values["fluoro_mode"] = f"{mode.scheme}:{mode.value}"
    for keyword, field in (("PositionerPrimaryAngle", "primary_end_angle_deg"),
                           ("PositionerSecondaryAngle", "secondary_end_angle_deg")):
        text = last_frame_value(ds, "PositionerPositionSequence", keyword)
        if text:
            put(ex, field, float(text), "deg", "angle_deg")


def xa_event_uid(ds: Dataset) -> str:
    """Irradiation Event UID (0008,3010) when present, else a UID derived from the run's identity.

    The derived key hashes study, series, acquisition number and acquisition date/time: each run is its
    own event, and the two planes of a biplane run (separate series) stay two events.
    """
    uid = header_text(ds, "IrradiationEventUID")
    if uid:
        return uid.split("\\")[0]
    when = header_text(ds, "AcquisitionDateTime") or "".join(
        p for p in (header_text(ds, "AcquisitionDate"), header_text(ds, "AcquisitionTime")) if p)
    return derived_uid(study_uid_of(ds), "xa", header_text(ds, "SeriesInstanceUID"),
                       header_text(ds, "AcquisitionNumber"), when or header_text(ds, "SOPInstanceUID"))
