"""The importer plugin for legacy CT dose screens: Philips "Dose Info" headers and OCR of bitmap pages."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from dmslab.ingest._header import header_text
from dmslab.ingest.ocr.philips import is_philips_dose_info, parse_philips_dose_info
from dmslab.ingest.ocr.screen import DEFAULT_MIN_CONF, screen_report
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, SourceRecord

__all__ = ["SC_SOP_CLASSES", "OcrImporter", "is_dose_screen"]

#: Secondary Capture Image Storage, and the 8-bit greyscale / true-colour multi-frame SCs.
SC_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.4"})
#: Words in SeriesDescription, ImageType, ImageComments, ProtocolName or DerivationDescription that mark a dose page.
DOSE_HINTS = ("DOSE", "PATIENT PROTOCOL", "EXPOSURE")


def is_dose_screen(ds: Dataset) -> bool:
    """The rule for OCR: a Secondary Capture with pixel data that is a CT image or says it shows dose.

    Precisely: SOP class in :data:`SC_SOP_CLASSES`, Pixel Data present, and either Modality ``CT`` or one of
    :data:`DOSE_HINTS` in SeriesDescription, ImageType, ImageComments, ProtocolName or DerivationDescription
    (case-insensitive). Header only: the pixels are not decoded. A CT SC that turns out to hold no dose table
    is rejected later with ``not_a_dose_report``.
    """
    if str(ds.get("SOPClassUID", "")) not in SC_SOP_CLASSES or "PixelData" not in ds:
        return False
    if (header_text(ds, "Modality") or "").upper() == "CT":
        return True
    text = " ".join(header_text(ds, k) or "" for k in ("SeriesDescription", "ImageType", "ImageComments",
                                                         "ProtocolName", "DerivationDescription")).upper()
    return any(h in text for h in DOSE_HINTS)


@dataclass(frozen=True)
class OcrImporter:
    """Legacy CT dose pages: Philips "Dose Info" SCs (header values) first, else OCR of the page pixels.

    Parameters
    ----------
    min_conf
        Lowest tesseract word confidence (0-100) at which an OCR'd number is stored as fact.
    """

    name: str = "ocr"
    min_conf: float = DEFAULT_MIN_CONF

    def can_ingest(self, ds: Dataset) -> bool:
        """Philips Dose Info SC, or a dose screen per :func:`is_dose_screen` (header only)."""
        return is_philips_dose_info(ds) or is_dose_screen(ds)

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        """Parse ``ds``; raises :class:`~dmslab.errors.IngestError` (``no_importer`` without tesseract)."""
        if is_philips_dose_info(ds):
            return parse_philips_dose_info(ds, pseudonymise=pseudonymise, source=source)
        return screen_report(ds, pseudonymise=pseudonymise, source=source, min_conf=self.min_conf)
