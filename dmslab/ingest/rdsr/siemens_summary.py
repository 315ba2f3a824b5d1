"""Siemens proprietary radiation summary SR (ARCADIS Varic and similar): totals only, no events.

Root concept ``99SMS_RADSUM C-10`` in an Enhanced SR. The facts (from ``shared/reference/units.md`` §3,
observed by OpenREM on a Siemens ARCADIS Varic): cumulative DAP ``C-204`` in ``Gy.cm^2`` (a unit quirk in
``data/units_map.csv``), total fluoroscopy time ``C-202``, number of exposures ``C-200``. No public sample is
in the corpus, so the codes are matched exactly and anything else in the document is ignored; the study is a
fluoroscopy study (``RF``) with one plane of totals and no irradiation events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from pydicom.dataset import Dataset

from dmslab.codes import CodeKey
from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, patient_from
from dmslab.ingest.headers._common import source_for, study_for
from dmslab.ingest.rdsr._document import SR_SOP_CLASSES
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.ingest.rdsr._tree import concept_of, read_tree
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, PlaneRecord, SourceRecord

__all__ = ["SIEMENS_RADSUM_ROOT", "SiemensSummaryImporter"]

logger = logging.getLogger(__name__)

_SCHEME = "99SMS_RADSUM"
SIEMENS_RADSUM_ROOT = CodeKey(_SCHEME, "C-10")
_DAP = CodeKey(_SCHEME, "C-204")
_FLUORO_TIME = CodeKey(_SCHEME, "C-202")
_EXPOSURES = CodeKey(_SCHEME, "C-200")


def parse_siemens_summary(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
    """Totals of a Siemens radiation summary SR as a study with one plane and no events."""
    idx = read_tree(ds).index()
    ex = Extractor("proj_plane", "plane[0]")
    ex.take(idx, {_DAP: ("dap_total_gym2", "dose_area_product"), _FLUORO_TIME: ("fluoro_time_s", "time_s"),
                  _EXPOSURES: ("n_frames", "count")})
    if "dap_total_gym2" not in ex.values:
        raise IngestError("missing_required_concept", "Siemens summary SR without cumulative DAP (99SMS_RADSUM C-204)")
    plane: PlaneRecord = ex.build(PlaneRecord, plane="single")
    totals = {"total_dap_gym2": plane.dap_total_gym2, "fluoro_time_s": plane.fluoro_time_s}
    study = study_for(ds, pseudonymise, "RF", source_kind="rdsr",
                      totals={k: v for k, v in totals.items() if v is not None})
    study = replace(study, unit_fixes=study.unit_fixes + plane.unit_fixes)
    patient, _ = patient_from(ds, pseudonymise)
    return DoseReport(source=source_for(source, ds, "siemens_summary"), equipment=equipment_from(ds),
                      patient=patient, study=study, planes=(plane,))


@dataclass(frozen=True)
class SiemensSummaryImporter:
    """Siemens proprietary radiation summary SRs (root 99SMS_RADSUM C-10)."""

    name: str = "siemens_summary"

    def can_ingest(self, ds: Dataset) -> bool:
        return str(ds.get("SOPClassUID", "")) in SR_SOP_CLASSES and concept_of(ds) == SIEMENS_RADSUM_ROOT

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        return parse_siemens_summary(ds, pseudonymise=pseudonymise, source=source)
