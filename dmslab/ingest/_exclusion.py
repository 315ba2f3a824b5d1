"""Is this object a patient exam? Quality-control images, QC phantoms and site "not a patient" names.

Decided at ingest, because the patient name is never stored (only keyed pseudonyms are). The answer goes
into ``study.exclusion_reason``; ``dmslab.analysis`` leaves such studies out of statistics, DRL audits and
alerts unless asked to include them (QA exams must not skew patient statistics).

References
----------
DICOM PS3.3 C.7.6.16 (General Image: Quality Control Image (0028,0300)), C.7.1.1 (Patient: Quality Control
Subject (0010,0200)); ESR EuroSafe Imaging, "Dose management systems" (QA exams kept apart).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from functools import lru_cache

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dmslab.records import DoseReport

__all__ = ["exclusion_reason", "with_exclusion"]

logger = logging.getLogger(__name__)

#: Attribute keyword -> exclusion reason when its value is YES.
_YES_FLAGS = (("QualityControlImage", "quality_control_image"), ("QualityControlSubject", "quality_control_subject"))


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, MultiValue)):
        value = "\\".join(str(v) for v in value)
    return str(value).strip()


def exclusion_reason(ds: Dataset, patterns: Sequence[str]) -> str | None:
    """Why ``ds`` is not a patient exam, or ``None`` when nothing says so.

    Parameters
    ----------
    ds
        The object being ingested (its header is enough).
    patterns
        Case-insensitive regular expressions searched in the Patient's Name and the Patient ID (the
        ``not_patient_patterns`` setting).

    Returns
    -------
    str or None
        ``quality_control_image`` (Quality Control Image (0028,0300) is YES), ``quality_control_subject``
        (Quality Control Subject (0010,0200) is YES), ``not_patient_pattern: <pattern>`` (the first pattern
        that matches) or ``None``.

    Examples
    --------
    >>> ds = Dataset()
    >>> ds.PatientName, ds.PatientID = "CTDI^Phantom", "123"
    >>> exclusion_reason(ds, ["phantom"])
    'not_patient_pattern: phantom'
    >>> ds.PatientName = "Smith^Anna"
    >>> exclusion_reason(ds, ["phantom"]) is None
    True
    """
    for keyword, reason in _YES_FLAGS:
        if _text(ds, keyword).upper() == "YES":
            return reason
    texts = [t for t in (_text(ds, "PatientName"), _text(ds, "PatientID")) if t]
    for pattern in patterns:
        rx = _compiled(pattern)
        if any(rx.search(t) for t in texts):
            return f"not_patient_pattern: {pattern}"
    return None


def with_exclusion(report: DoseReport, ds: Dataset, patterns: Sequence[str]) -> DoseReport:
    """``report`` with its study's ``exclusion_reason`` set from ``ds`` (unchanged when it is a patient exam)."""
    reason = exclusion_reason(ds, patterns)
    if reason is None or report.study.exclusion_reason is not None:
        return report
    logger.debug("%s: not a patient exam (%s)", report.source.sop_instance_uid, reason)
    return dataclasses.replace(report, study=dataclasses.replace(report.study, exclusion_reason=reason))
