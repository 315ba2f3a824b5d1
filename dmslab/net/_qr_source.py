"""Ranking a PACS's series as dose sources for ``dmslab qr``: RDSR > Enhanced SR > dose screen > images.

Decided from what a C-FIND returns: series Modality and Series Description, and the SOP Class UID of each
instance (instance-level C-FIND of SR and screen-like series).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

__all__ = ["DOSE_STORAGE_CLASSES", "SeriesInfo", "SourceKind", "StudyPlan", "classify_series", "needs_instances",
           "plan_study"]

_P = "1.2.840.10008.5.1.4.1.1."
RDSR_CLASSES = frozenset({_P + "88.67", _P + "88.68", _P + "88.76", _P + "88.73"})
ENHANCED_SR_CLASSES = frozenset({_P + "88.22", _P + "88.33", _P + "88.34"})
SC_CLASSES = frozenset({_P + "7", _P + "7.1", _P + "7.2", _P + "7.3", _P + "7.4"})
IMAGE_CLASSES = frozenset({_P + c for c in ("1", "1.1", "1.1.1", "1.2", "1.2.1", "1.3", "1.3.1", "2", "2.1", "20",
                                             "128", "12.1", "12.1.1", "12.2")})
#: Storage SOP classes a retrieve may bring (the SCP-role contexts proposed for C-GET).
DOSE_STORAGE_CLASSES = tuple(sorted(RDSR_CLASSES | ENHANCED_SR_CLASSES | SC_CLASSES | IMAGE_CLASSES))
#: Image modalities whose headers carry dose; projection ones have one exposure per image.
_IMAGE_MODALITIES = frozenset({"CT", "DX", "CR", "MG", "NM", "PT", "XA", "RF", "PX", "IO"})
_ONE_PER_SERIES = frozenset({"CT", "NM", "PT"})
_DOSE_HINTS = ("DOSE", "PATIENT PROTOCOL", "EXPOSURE", "RADIATION")



class SourceKind(IntEnum):
    """Dose sources, best last (so ``max`` picks the best)."""

    NONE = 0
    IMAGES = 1
    DOSE_SCREEN = 2
    ENHANCED_SR = 3
    RDSR = 4



@dataclass(slots=True)
class SeriesInfo:
    """One series as the PACS describes it, with its instances (SOP Instance UID -> SOP Class UID)."""

    series_uid: str
    modality: str
    description: str = ""
    station_name: str = ""
    instances: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StudyPlan:
    """What to retrieve for one study: the chosen source kind and the SOP Instance UIDs (with their series)."""

    study_uid: str
    kind: SourceKind
    objects: list[tuple[str, str, str]] = field(default_factory=list)  # (series_uid, sop_uid, sop_class)



def _sop_class_kind(sop_class: str, description: str) -> SourceKind:
    if sop_class in RDSR_CLASSES:
        return SourceKind.RDSR
    hint = any(h in description.upper() for h in _DOSE_HINTS)
    if sop_class in ENHANCED_SR_CLASSES:
        return SourceKind.ENHANCED_SR if hint or not description else SourceKind.NONE
    if sop_class in SC_CLASSES:
        return SourceKind.DOSE_SCREEN if hint else SourceKind.NONE
    if sop_class in IMAGE_CLASSES:
        return SourceKind.IMAGES
    return SourceKind.NONE


def classify_series(series: SeriesInfo) -> SourceKind:
    """Rank a series as a dose source from its modality, description and (when known) its SOP classes.

    Examples
    --------
    >>> classify_series(SeriesInfo("1.2", "SR", "Radiation Dose Information", instances={"1.3": _P + "88.67"}))
    <SourceKind.RDSR: 4>
    >>> classify_series(SeriesInfo("1.2", "CT", "Dose Report", instances={"1.3": _P + "7"}))
    <SourceKind.DOSE_SCREEN: 2>
    >>> classify_series(SeriesInfo("1.2", "CT", "Abdomen 5mm"))
    <SourceKind.IMAGES: 1>
    """
    if series.instances:
        return max((_sop_class_kind(c, series.description) for c in series.instances.values()),
                   default=SourceKind.NONE)
    if series.modality in _IMAGE_MODALITIES:
        return SourceKind.IMAGES
    return SourceKind.NONE


def needs_instances(series: SeriesInfo) -> bool:
    """Whether the series must be listed at instance level before it can be ranked (SR and SC-like series)."""
    hint = any(h in series.description.upper() for h in _DOSE_HINTS)
    return series.modality in ("SR", "OT", "SC", "DOC") or hint


def plan_study(study_uid: str, series: list[SeriesInfo], known: set[str]) -> tuple[StudyPlan, int]:
    """Choose the best dose source of a study and what to retrieve of it.

    Only objects of the best kind are kept; for CT/NM/PT image series one image per series is enough (its
    header repeats the acquisition's dose data), for projection images every image (one exposure each).

    Returns
    -------
    plan, already
        The plan without the objects in ``known`` (SOP Instance UIDs already imported), and how many were.
    """
    kinds = {s.series_uid: classify_series(s) for s in series}
    best = max(kinds.values(), default=SourceKind.NONE)
    plan = StudyPlan(study_uid, best)
    already = 0
    if best is SourceKind.NONE:
        return plan, 0
    for s in series:
        if kinds[s.series_uid] is not best:
            continue
        uids = sorted(s.instances.items())
        wanted = [(u, c) for u, c in uids if _sop_class_kind(c, s.description) is best]
        if best is SourceKind.IMAGES and s.modality in _ONE_PER_SERIES:
            wanted = wanted[:1]
        for uid, cls in wanted:
            if uid in known:
                already += 1
            else:
                plan.objects.append((s.series_uid, uid, cls))
    return plan, already


