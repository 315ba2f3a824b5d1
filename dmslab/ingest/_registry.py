"""Importer plugins: built-in and third-party (entry-point group ``dmslab.importers``) share one registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

from pydicom.dataset import Dataset

from dmslab.errors import DmslabWarning, IngestError, warn_and_log
from dmslab.ingest.headers import HeaderImporter
from dmslab.ingest.ocr import OcrImporter
from dmslab.ingest.rdsr import SR_SOP_CLASSES, is_xray_dose_report, parse_xray_rdsr
from dmslab.ingest.rdsr._tree import concept_of
from dmslab.ingest.rdsr.radiopharmaceutical import RrdsrImporter
from dmslab.ingest.rdsr.siemens_summary import SiemensSummaryImporter
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, SourceRecord

__all__ = ["Importer", "RdsrImporter", "find_importer", "importers"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Importer(Protocol):
    """What an importer offers: a name, a cheap test, and the parse itself."""

    @property
    def name(self) -> str:
        """Short stable name, recorded in ``source_object.importer``."""
        ...

    def can_ingest(self, ds: Dataset) -> bool:
        """True when this importer reads ``ds`` (must be cheap: header only)."""
        ...

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        """Parse ``ds`` into a normalized report or raise :class:`~dmslab.errors.IngestError`."""
        ...


@dataclass(frozen=True)
class RdsrImporter:
    """X-Ray Radiation Dose SRs (and GE-style Enhanced SR dose reports) with root concept DCM 113701."""

    name: str = "rdsr"

    def can_ingest(self, ds: Dataset) -> bool:
        return is_xray_dose_report(ds)

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        return parse_xray_rdsr(ds, pseudonymise=pseudonymise, source=source)


#: Built-in importers after the RDSR one, in the order they are tried (imported statically: a built-in importer
#: that cannot be imported is a broken installation, not an optional feature; OCR's optional pytesseract is
#: loaded only when a screen is read, and its absence is an ``IngestError`` naming what to install).
_BUILTINS: tuple[Importer, ...] = (RrdsrImporter(), SiemensSummaryImporter(), HeaderImporter(), OcrImporter())


@lru_cache(maxsize=1)
def importers() -> tuple[Importer, ...]:
    """Built-in importers first, then plugins; a plugin that fails to load is skipped with a warning."""
    found: list[Importer] = [RdsrImporter(), *_BUILTINS]
    for ep in entry_points(group="dmslab.importers"):
        try:
            obj = ep.load()()
        except Exception as exc:  # a broken plugin must not stop ingest
            warn_and_log(f"importer plugin {ep.name!r} failed to load: {exc!r}", DmslabWarning, logger=logger)
            continue
        if isinstance(obj, Importer):
            found.append(obj)
        else:
            warn_and_log(f"importer plugin {ep.name!r} does not implement the Importer protocol", DmslabWarning,
                         logger=logger)
    return tuple(found)


def find_importer(ds: Dataset) -> Importer:
    """The first importer that can read ``ds``.

    Raises
    ------
    IngestError
        ``not_a_dose_report`` for SRs that are not dose reports, ``unsupported_template`` for dose SRs
        no importer reads yet, ``no_importer`` otherwise (the message lists what was tried).
    """
    for imp in importers():
        if imp.can_ingest(ds):
            return imp
    sop = str(ds.get("SOPClassUID", ""))
    if sop in SR_SOP_CLASSES:
        root = concept_of(ds)
        if sop.endswith(".88.68") or (root is not None and root.value == "113500"):
            raise IngestError("unsupported_template",
                              "Radiopharmaceutical Radiation Dose SR (TID 10021) is not read yet; kept in quarantine")
        raise IngestError("not_a_dose_report",
                          f"{SR_SOP_CLASSES[sop]} with root concept {root} is not a radiation dose report")
    tried = ", ".join(i.name for i in importers())
    raise IngestError("no_importer", f"SOP class {sop or '(none)'} is not read by any importer (tried: {tried})")
