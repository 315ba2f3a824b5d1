"""Dose data from image headers: CR/DX/PX, MG, breast tomosynthesis/projection, XA/RF (incl. Enhanced),
CT (incl. Enhanced), NM and PET images; never SRs, and of secondary captures only the mammography dose
objects some vendors send as SC (quirk mg-secondary-capture, :func:`header_kind`).

Each image gives one study record (``source_kind="header"``) and its exposure or administration; images
of one study merge in the store by (study UID, modality), and repeated exposures (For-Processing and
For-Presentation copies, every slice of a CT event, every frame of a PET series) by event UID.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pydicom.dataset import Dataset

from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, header_text, patient_from
from dmslab.ingest.headers._common import source_for, study_for
from dmslab.ingest.headers._enhanced import flattened
from dmslab.ingest.headers.ct import ct_event, is_secondary
from dmslab.ingest.headers.nm import nm_events
from dmslab.ingest.headers.projection import proj_event
from dmslab.pseudonym import Pseudonymiser
from dmslab.quirks import note
from dmslab.records import CtEventRecord, DoseReport, NmEventRecord, ProjEventRecord, SourceRecord

__all__ = ["ENHANCED_SOP_CLASSES", "HEADER_SOP_CLASSES", "SC_SOP_CLASSES", "HeaderImporter", "header_kind",
           "parse_header"]

logger = logging.getLogger(__name__)

_P = "1.2.840.10008.5.1.4.1.1."
#: SOP class -> (kind of image, study modality)
HEADER_SOP_CLASSES: dict[str, tuple[str, str]] = {
    _P + "1": ("projection", "DX"),  # Computed Radiography
    _P + "1.1": ("projection", "DX"),  # Digital X-Ray, For Presentation (also PX panoramic)
    _P + "1.1.1": ("projection", "DX"),  # Digital X-Ray, For Processing
    _P + "1.3": ("projection", "DX"),  # Digital Intra-Oral X-Ray, For Presentation
    _P + "1.3.1": ("projection", "DX"),  # Digital Intra-Oral X-Ray, For Processing
    _P + "1.2": ("mammography", "MG"),  # Digital Mammography, For Presentation
    _P + "1.2.1": ("mammography", "MG"),  # Digital Mammography, For Processing
    _P + "13.1.3": ("mammography", "MG"),  # Breast Tomosynthesis Image (enhanced)
    _P + "13.1.4": ("mammography", "MG"),  # Breast Projection X-Ray Image, For Presentation (enhanced)
    _P + "13.1.5": ("mammography", "MG"),  # Breast Projection X-Ray Image, For Processing (enhanced)
    _P + "12.1": ("xa", "RF"),  # X-Ray Angiographic Image (XA counts as RF: fluoroscopy-guided)
    _P + "12.2": ("xa", "RF"),  # X-Ray Radiofluoroscopic Image
    _P + "12.1.1": ("xa", "RF"),  # Enhanced XA Image (enhanced)
    _P + "12.2.1": ("xa", "RF"),  # Enhanced XRF Image (enhanced)
    _P + "2": ("ct", "CT"),  # CT Image
    _P + "2.1": ("ct", "CT"),  # Enhanced CT Image (enhanced)
    _P + "20": ("nm", "NM"),  # Nuclear Medicine Image
    _P + "128": ("nm", "NM"),  # Positron Emission Tomography Image
}
#: Multi-frame classes whose dose values sit in functional groups (read through :func:`flattened`).
ENHANCED_SOP_CLASSES = frozenset({_P + "13.1.3", _P + "13.1.4", _P + "13.1.5", _P + "12.1.1", _P + "12.2.1",
                                  _P + "2.1"})
_AGD_SIDE = {"L": "agd_left_mgy", "R": "agd_right_mgy"}
#: Secondary Capture Image Storage and the multi-frame SCs (single bit, greyscale byte/word, true colour).
SC_SOP_CLASSES = frozenset({_P + "7", _P + "7.1", _P + "7.2", _P + "7.3", _P + "7.4"})
#: Mammography dose attributes that make a Modality MG secondary capture a dose object (one is enough).
_MG_SC_DOSE = ("OrganDose", "EntranceDoseInmGy", "ExposureInuAs")


def _is_mg_dose_capture(ds: Dataset) -> bool:
    return (str(ds.get("SOPClassUID", "")).strip() in SC_SOP_CLASSES
            and (header_text(ds, "Modality") or "").upper() == "MG"
            and any(header_text(ds, k) for k in _MG_SC_DOSE))


def header_kind(ds: Dataset) -> tuple[str, str] | None:
    """(kind of image, study modality) of an object whose header this importer reads, else ``None``.

    The image classes of :data:`HEADER_SOP_CLASSES`, and a Secondary Capture with Modality MG that carries
    mammography dose attributes (OrganDose, EntranceDoseInmGy or ExposureInuAs): vendors' "proprietary
    projection" objects (quirk mg-secondary-capture), read as a mammography image. Other secondary captures
    (CT dose screens: the OCR importer) are not header objects.
    """
    found = HEADER_SOP_CLASSES.get(str(ds.get("SOPClassUID", "")).strip())
    if found is None and _is_mg_dose_capture(ds):
        return "mammography", "MG"
    return found


def _totals(event: ProjEventRecord, kind: str) -> dict[str, float]:
    """The image's own contribution to the study totals (the store adds disjoint events up)."""
    if kind == "mammography":
        side = _AGD_SIDE.get(event.laterality or "")
        return {side: event.agd_mgy} if side and event.agd_mgy is not None else {}
    out = {"total_dap_gym2": event.dap_gym2} if event.dap_gym2 is not None else {}
    if event.event_type == "fluoroscopy" and event.exposure_time_ms is not None:
        out["fluoro_time_s"] = event.exposure_time_ms / 1000.0  # a stored fluoroscopy loop (XA/RF, SC)
    return out


def parse_header(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
    """Read the dose data of one image header into a :class:`DoseReport`.

    Raises
    ------
    IngestError
        ``missing_required_concept`` without a Study Instance UID; ``not_a_dose_report`` for a CT image of a
        secondary reconstruction or a derived XA/RF object without Irradiation Event UID; ``unknown_unit``
        never (header units are defined by the standard).
    """
    sop_class = str(ds.get("SOPClassUID", "")).strip()
    found = header_kind(ds)
    if found is None:
        raise IngestError("no_importer", f"SOP class {sop_class or '(none)'} carries no header dose data dmslab reads")
    kind, modality = found
    if sop_class in ENHANCED_SOP_CLASSES:
        ds = flattened(ds)
    patient, _ = patient_from(ds, pseudonymise)
    proj: tuple[ProjEventRecord, ...] = ()
    ct: tuple[CtEventRecord, ...] = ()
    nm: tuple[NmEventRecord, ...] = ()
    totals: dict[str, float] = {}
    if kind == "xa" and is_secondary(ds):
        raise IngestError("not_a_dose_report",
                          f"XA/RF object with ImageType {header_text(ds, 'ImageType')!r} is derived (e.g. a subtracted "
                          "or processed copy of a run), not an exposure; its run is read from the original object")
    if kind in ("projection", "mammography", "xa"):
        event = proj_event(ds, mammo=kind == "mammography", xa=kind == "xa")
        if sop_class in SC_SOP_CLASSES:
            event = replace(event, unit_fixes=(*event.unit_fixes, note("mg-secondary-capture")))
        proj, totals = (event,), _totals(event, kind)
    elif kind == "ct":
        ct = (ct_event(ds),)
    else:
        nm = nm_events(ds)
        if not nm:
            logger.debug("%s: NM/PET image without Radiopharmaceutical Information Sequence",
                         header_text(ds, "SOPInstanceUID"))
    study = study_for(ds, pseudonymise, modality, totals=totals)
    logger.debug("%s: %s image header, %d events", header_text(ds, "SOPInstanceUID"), modality,
                 len(proj) + len(ct) + len(nm))
    return DoseReport(source=source_for(source, ds, "header"), equipment=equipment_from(ds), patient=patient,
                      study=study, proj_events=proj, ct_events=ct, nm_events=nm)


@dataclass(frozen=True)
class HeaderImporter:
    """Image objects whose header carries dose data (see :data:`HEADER_SOP_CLASSES`)."""

    name: str = "header"

    def can_ingest(self, ds: Dataset) -> bool:
        """True for the image classes of :data:`HEADER_SOP_CLASSES` and mammography dose SCs (:func:`header_kind`)."""
        return header_kind(ds) is not None

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        """Parse the header; see :func:`parse_header`."""
        return parse_header(ds, pseudonymise=pseudonymise, source=source)
