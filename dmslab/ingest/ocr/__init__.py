"""Legacy CT dose screens: Philips "Dose Info" Secondary Captures and OCR of bitmap dose summary pages.

OCR needs the optional ``pytesseract`` package and the ``tesseract-ocr`` program; without them the importer
raises ``IngestError("no_importer", ...)`` saying what to install, and the object waits in quarantine.
"""

from dmslab.ingest.ocr._engine import tesseract_available
from dmslab.ingest.ocr._importer import OcrImporter, is_dose_screen
from dmslab.ingest.ocr.philips import is_philips_dose_info, parse_philips_dose_info
from dmslab.ingest.ocr.screen import DEFAULT_MIN_CONF, screen_report

__all__ = [
    "DEFAULT_MIN_CONF",
    "OcrImporter",
    "is_dose_screen",
    "is_philips_dose_info",
    "parse_philips_dose_info",
    "screen_report",
    "tesseract_available",
]
