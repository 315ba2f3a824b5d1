"""Organ dose estimates and the basis of the effective dose in a Radiopharmaceutical Administration.

Each ``Organ Dose Information`` container (DCM 113517) of a TID 10022 administration becomes one
:class:`NmOrganDoseRecord`: the organ (Finding Site, SCT 363698007, CID 10044 "Radiosensitive Organ"), its
laterality (SCT 272741003), the Organ Dose (DCM 113518, mGy), optionally the organ Mass (g) and the
Measurement Method (SCT 370129005), and the Reference Authority (DCM 121406): coded from CID 10040
"Radiopharmaceutical Organ Dose Reference Authority" (e.g. DCM 113523 "ICRP Publication 106") or free text
(Siemens sends TEXT "ICRP Publication 128", as a HAS PROPERTIES child of the Organ Dose NUM).

Organ doses and the effective dose (DCM 113839) of an RRDSR are model estimates for a reference person
(the biokinetic model of the reference authority scaled by the administered activity), not doses measured on
this patient; the effective dose is a population quantity (ICRP 103). Both are stored with their method and
reference authority so they are never read without them.

References
----------
DICOM PS3.16 TID 10021 Radiopharmaceutical Radiation Dose, TID 10022 Radiopharmaceutical Administration
(Organ Dose Information); CID 10040, CID 10044. Structure checked against the Siemens RRDSR of the test
corpus (``NM-RRDSR-Siemens.dcm``: 21 organ doses, ICRP Publication 128, effective dose in the private
container 99SHS 220001 "Effective Dose Information").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dmslab import codes as c
from dmslab.codes import DCM, SCT, CodeKey
from dmslab.ingest.rdsr._extract import Extractor
from dmslab.ingest.rdsr._tree import Item
from dmslab.records import NmOrganDoseRecord
from dmslab.units import unit_key

__all__ = ["EffectiveDoseBasis", "NmOrganDoseRecord", "effective_dose_basis", "organ_doses"]

logger = logging.getLogger(__name__)

ORGAN_DOSE_INFORMATION = DCM("113517")
ORGAN_DOSE = DCM("113518")
FINDING_SITE = SCT("363698007")
LATERALITY = c.LATERALITY
#: "Mass" of the organ. PS3.16 text not available here: SCT 4147007 is pydicom's "Mass" concept.
MASS = SCT("4147007")
MEASUREMENT_METHOD = SCT("370129005")
REFERENCE_AUTHORITY = DCM("121406")
EFFECTIVE_DOSE = c.EFFECTIVE_DOSE

#: Organ mass units -> grams (``units_map.csv`` has no mass quantity yet).
_MASS_TO_G = {"g": 1.0, "kg": 1000.0, "mg": 1e-3}


@dataclass(frozen=True, slots=True)
class EffectiveDoseBasis:
    """How a reported effective dose was obtained: method and reference authority (e.g. ICRP Publication 128)."""

    method: str | None = None
    reference_authority_code: str | None = None
    reference_authority: str | None = None


def _authority(index: dict[CodeKey, list[Item]]) -> tuple[str | None, str | None]:
    """(SCHEME:VALUE or None, meaning or text) of the first Reference Authority, CODE or TEXT."""
    for it in index.get(REFERENCE_AUTHORITY, []):
        if isinstance(it.value, CodeKey):
            return f"{it.value.scheme}:{it.value.value}", it.meaning
        if isinstance(it.value, str) and it.value:
            return None, it.value
    return None, None


def _method(index: dict[CodeKey, list[Item]]) -> str | None:
    for it in index.get(MEASUREMENT_METHOD, []):
        if it.vt == "CODE" and it.meaning:
            return it.meaning
        if isinstance(it.value, str) and it.value:
            return it.value
    return None


def _mass_g(item: Item | None, ex: Extractor) -> float | None:
    """The organ mass in g; another unit is converted and recorded, an unknown one flagged and not stored."""
    if item is None or item.vt != "NUM" or not item.value:
        return None
    factor = _MASS_TO_G.get(unit_key(item.unit or ""))
    if factor is None:
        ex.flags.append(f"mass_g: unknown unit {item.unit!r}, value {item.value[0]!r} not stored")
        return None
    if item.unit != "g":
        ex.fixes.append(f"mass_g: {item.unit}")
    return float(item.value[0]) * factor


def _organ_dose(box: Item, event_uid: str, where: str) -> NmOrganDoseRecord | None:
    idx = box.index()
    ex = Extractor("nm_organ_dose", where)
    ex.take(idx, {ORGAN_DOSE: ("dose_mgy", "dose_mgy")})
    if "dose_mgy" not in ex.values and not any(f.startswith("dose_mgy") for f in ex.flags):
        logger.warning("%s: Organ Dose Information without an Organ Dose (DCM 113518) value; skipped", where)
        return None
    site = next((it for it in idx.get(FINDING_SITE, []) if isinstance(it.value, CodeKey)), None)
    if site is not None:
        ex.values.update(organ_scheme=site.value.scheme, organ_value=site.value.value, organ_meaning=site.meaning)
    else:
        ex.flags.append("organ: no Finding Site (SCT 363698007)")
    ex.code(idx, LATERALITY, "laterality_code", meaning_field="laterality", labelled=False)
    mass = _mass_g(next(iter(idx.get(MASS, [])), None), ex)
    if mass is not None:
        ex.values["mass_g"] = mass
    ex.values["method"] = _method(idx)
    ex.values["reference_authority_code"], ex.values["reference_authority"] = _authority(idx)
    ex.values = {k: v for k, v in ex.values.items() if v is not None}
    record: NmOrganDoseRecord = ex.build(NmOrganDoseRecord, event_uid=event_uid)
    return record


def organ_doses(admin: Item, event_uid: str, *, where: str = "administration") -> tuple[NmOrganDoseRecord, ...]:
    """The organ dose estimates of one Radiopharmaceutical Administration (TID 10022) container.

    Parameters
    ----------
    admin
        The administration container (DCM 113502).
    event_uid
        Its Radiopharmaceutical Administration Event UID (DCM 113503).
    where
        Position in the document, for messages.

    Returns
    -------
    tuple of NmOrganDoseRecord
        One per Organ Dose Information container (DCM 113517) that carries an Organ Dose, in document order;
        dose in mGy (converted from Gy/uGy/dGy and recorded in ``unit_fixes``), mass in g.
    """
    boxes = admin.index().get(ORGAN_DOSE_INFORMATION, [])
    out = [_organ_dose(box, event_uid, f"{where}.organ_dose[{i}]") for i, box in enumerate(boxes)]
    return tuple(r for r in out if r is not None)


def effective_dose_basis(admin: Item) -> EffectiveDoseBasis | None:
    """Method and reference authority of the administration's Effective Dose (DCM 113839), if it has one.

    Looks at the Effective Dose item's own children (Siemens: HAS PROPERTIES Reference Authority) and its
    siblings in the same container (the administration itself, or a vendor container such as Siemens
    99SHS 220001), never inside Organ Dose Information containers.
    """
    stack = [admin]
    while stack:
        box = stack.pop()
        dose = box.child(EFFECTIVE_DOSE)
        if dose is not None:
            own = dose.index()
            siblings = {k: box.children_of(k) for k in (REFERENCE_AUTHORITY, MEASUREMENT_METHOD)}
            code, text = _authority(own)
            if text is None:
                code, text = _authority(siblings)
            return EffectiveDoseBasis(_method(own) or _method(siblings), code, text)
        stack.extend(ch for ch in reversed(box.children)
                     if ch.vt == "CONTAINER" and ch.concept != ORGAN_DOSE_INFORMATION)
    return None
