"""Radiopharmaceutical Radiation Dose SR (TID 10021 / 10022): one :class:`NmEventRecord` per administration.

Concepts are matched on ``(scheme, value)`` with SRT mapped to SCT (:func:`dmslab.codes.code_key`). The
radiopharmaceutical agent concept has three codings in the wild: SCT 349358000 (current PS3.16), SCT
417881006 (DCMTK) and the legacy SRT F-61FDB (Siemens), which pydicom's SRT map does not translate.

References
----------
DICOM PS3.16 TID 10021 Radiopharmaceutical Radiation Dose, TID 10022 Radiopharmaceutical Administration;
``shared/reference/rdsr_codes.md`` ("TID 10021"). Organ doses: :mod:`dmslab.ingest.rdsr._organ_dose`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dmslab import codes as c
from dmslab.codes import DCM, SCT, CodeKey
from dmslab.errors import IngestError
from dmslab.ingest._header import equipment_from, header_text, parse_dt, patient_from
from dmslab.ingest.headers._common import source_for, study_for
from dmslab.ingest.rdsr._document import SR_SOP_CLASSES
from dmslab.ingest.rdsr._extract import Extractor, NumSpec
from dmslab.ingest.rdsr._organ_dose import EffectiveDoseBasis, NmOrganDoseRecord, effective_dose_basis, organ_doses
from dmslab.ingest.rdsr._tree import Item, concept_of, read_tree
from dmslab.pseudonym import Pseudonymiser
from dmslab.records import DoseReport, NmEventRecord, SourceRecord

__all__ = ["RRDSR_SOP_CLASS", "RrdsrImporter", "dose_estimates", "parse_rrdsr"]

logger = logging.getLogger(__name__)

RRDSR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.88.68"
ADMINISTRATION = DCM("113502")
ADMINISTRATION_EVENT_UID = DCM("113503")
AGENTS = frozenset({SCT("349358000"), SCT("417881006"), CodeKey("SRT", "F-61FDB")})
RADIONUCLIDE = SCT("89457008")
HALF_LIFE = SCT("304283002")
START_DATETIME = DCM("123003")
STOP_DATETIME = DCM("123004")
ADMINISTERED_ACTIVITY = DCM("113507")
PRE_ACTIVITY = DCM("113508")
POST_ACTIVITY = DCM("113509")
ROUTE = SCT("410675002")
VOLUME = DCM("123005")
ORGAN_DOSE_INFORMATION = DCM("113517")  # TID 10022 row "Organ Dose Information", parsed by _organ_dose

_NUMS: NumSpec = {
    HALF_LIFE: ("half_life_s", "time_s"),
    ADMINISTERED_ACTIVITY: ("activity_mbq", "activity_mbq"),
    PRE_ACTIVITY: ("pre_activity_mbq", "activity_mbq"),
    POST_ACTIVITY: ("post_activity_mbq", "activity_mbq"),
    VOLUME: ("volume_ml", "volume_ml"),
}


def is_rrdsr(ds: Dataset) -> bool:
    """True for a Radiopharmaceutical Radiation Dose SR (SOP class .88.68, or an SR with root DCM 113500)."""
    sop = str(ds.get("SOPClassUID", "")).strip()
    if sop == RRDSR_SOP_CLASS:
        return True
    return sop in SR_SOP_CLASSES and concept_of(ds) == c.RADIOPHARMACEUTICAL_DOSE_REPORT


def _code_item(idx: dict[CodeKey, list[Item]], keys: frozenset[CodeKey]) -> Item | None:
    for key in keys:
        for it in idx.get(key, []):
            if isinstance(it.value, CodeKey):
                return it
    return None


def _event_uid(admin: Item, i: int) -> str:
    items = admin.index(stop=frozenset({ORGAN_DOSE_INFORMATION})).get(ADMINISTRATION_EVENT_UID)
    uid = items[0].value if items else None
    if not uid or not isinstance(uid, str):
        raise IngestError("missing_required_concept",
                          f"Radiopharmaceutical Administration [{i}] has no Event UID (DCM 113503)")
    return uid


def _comment(admin: Item, document_comment: str | None) -> str | None:
    """The administration's Comment (DCM 121106, a direct child), else the report's own Comment (TID 10021)."""
    item = admin.child(c.COMMENT)
    if item is not None and isinstance(item.value, str) and item.value.strip():
        return item.value.strip()
    return document_comment


def _administration(admin: Item, i: int, document_comment: str | None = None) -> NmEventRecord:
    ex = Extractor("nm_event", f"administration[{i}]")
    idx = admin.index(stop=frozenset({ORGAN_DOSE_INFORMATION}))
    uid = _event_uid(admin, i)
    ex.take(idx, _NUMS)
    ex.take(admin.index(), {c.EFFECTIVE_DOSE: ("effective_dose_msv", "effective_dose")})
    basis = effective_dose_basis(admin)
    if basis is not None:
        ex.values.update(effective_dose_method=basis.method, effective_dose_authority=basis.reference_authority,
                         effective_dose_authority_code=basis.reference_authority_code)
    agent = _code_item(idx, AGENTS)
    if agent is not None:
        ex.values["agent_code"] = f"{agent.value.scheme}:{agent.value.value}"
        ex.values["agent"] = agent.meaning
    ex.code(idx, RADIONUCLIDE, "radionuclide_code", meaning_field="radionuclide", labelled=False)
    ex.text(idx, ROUTE, "route")
    for key, field in ((START_DATETIME, "start_datetime"), (STOP_DATETIME, "stop_datetime")):
        items = idx.get(key)
        if items and items[0].value:
            ex.values[field] = parse_dt(items[0].value)
    ex.values["comment"] = _comment(admin, document_comment)
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: NmEventRecord = ex.build(NmEventRecord, event_uid=uid, origin="rdsr")
    return record


def parse_rrdsr(ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
    """Parse a Radiopharmaceutical Radiation Dose SR; activities in MBq, half-life in s, volume in cm³.

    Raises
    ------
    IngestError
        ``not_a_dose_report`` when the root concept is not DCM 113500; ``missing_required_concept``
        without Study Instance UID or administration event UID; ``unknown_unit`` for an activity in a
        unit dmslab cannot convert.
    """
    if not header_text(ds, "StudyInstanceUID"):
        raise IngestError("missing_required_concept", "no Study Instance UID")
    root = read_tree(ds)
    if root.concept is not None and root.concept != c.RADIOPHARMACEUTICAL_DOSE_REPORT:
        raise IngestError("not_a_dose_report", f"SR root concept {root.concept} is not DCM 113500")
    admins = root.children_of(ADMINISTRATION)
    report_comment = _comment(root, None)
    events = tuple(_administration(a, i, report_comment) for i, a in enumerate(admins))
    doses = tuple(d for i, (a, e) in enumerate(zip(admins, events, strict=True))
                  for d in organ_doses(a, e.event_uid, where=f"administration[{i}]"))
    patient, _ = patient_from(ds, pseudonymise)
    study = study_for(ds, pseudonymise, "NM", source_kind="rdsr")
    logger.debug("%s: RRDSR with %d administrations", header_text(ds, "SOPInstanceUID"), len(events))
    return DoseReport(source=source_for(source, ds, "rrdsr", "10021"), equipment=equipment_from(ds),
                      patient=patient, study=study, nm_events=events, nm_organ_doses=doses)


def dose_estimates(ds: Dataset) -> tuple[tuple[NmOrganDoseRecord, ...], dict[str, EffectiveDoseBasis]]:
    """Organ dose estimates of every administration, and the basis of each reported effective dose.

    Returns
    -------
    organ doses, bases
        The :class:`NmOrganDoseRecord` of all administrations in document order (dose in mGy, mass in g), and
        per Administration Event UID the :class:`EffectiveDoseBasis` (method, reference authority) of its
        Effective Dose (DCM 113839) when it reports one.

    Raises
    ------
    IngestError
        ``missing_required_concept`` for an administration without Event UID (as :func:`parse_rrdsr`).
    """
    root = read_tree(ds)
    doses: list[NmOrganDoseRecord] = []
    bases: dict[str, EffectiveDoseBasis] = {}
    for i, admin in enumerate(root.children_of(ADMINISTRATION)):
        uid = _event_uid(admin, i)
        doses.extend(organ_doses(admin, uid, where=f"administration[{i}]"))
        basis = effective_dose_basis(admin)
        if basis is not None:
            bases[uid] = basis
    return tuple(doses), bases


@dataclass(frozen=True)
class RrdsrImporter:
    """Radiopharmaceutical Radiation Dose SRs (SOP class 1.2.840.10008.5.1.4.1.1.88.68, root DCM 113500)."""

    name: str = "rrdsr"

    def can_ingest(self, ds: Dataset) -> bool:
        """True for an RRDSR (see :func:`is_rrdsr`)."""
        return is_rrdsr(ds)

    def ingest(self, ds: Dataset, *, pseudonymise: Pseudonymiser, source: SourceRecord) -> DoseReport:
        """Parse the RRDSR; see :func:`parse_rrdsr`."""
        return parse_rrdsr(ds, pseudonymise=pseudonymise, source=source)
