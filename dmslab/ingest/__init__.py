"""Ingest: DICOM objects in, normalized :class:`~dmslab.records.DoseReport` out. Never touches the store."""

from dmslab.ingest._files import Outcome, iter_files, parse_file, parse_many, quarantine
from dmslab.ingest._registry import Importer, RdsrImporter, find_importer, importers
from dmslab.ingest.rdsr import parse_xray_rdsr

__all__ = [
    "Importer",
    "Outcome",
    "RdsrImporter",
    "find_importer",
    "importers",
    "iter_files",
    "parse_file",
    "parse_many",
    "parse_xray_rdsr",
    "quarantine",
]
