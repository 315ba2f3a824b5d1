"""Mammography RDSR laterality in every coding vendors use: qualifier values (SRT G-A100/G-A101/G-A102, SCT
24028007/7771000/51440002) and the breast codes (SRT T-04020/T-04030, SCT 73056007/80248007).

Objects are built here with pydicom: a TID 10001 mammography report with one accumulated AGD per breast and
one view per breast.
"""

from __future__ import annotations

import pytest
from _sr_items import code as _code
from _sr_items import item as _item
from pydicom.dataset import Dataset

from dmslab.ingest.rdsr import parse_xray_rdsr
from dmslab.records import SourceRecord

SRC = SourceRecord(sha256="0" * 64, path="mem")
RDSR = "1.2.840.10008.5.1.4.1.1.88.67"


def _num(concept: tuple[str, str, str], value: str, unit: str, children: list[Dataset] | None = None) -> Dataset:
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    it = _item("NUM", concept, MeasuredValueSequence=[mv])
    if children:
        it.ContentSequence = children
    return it


def _laterality(side: tuple[str, str], concept_scheme: str, rel: str = "HAS CONCEPT MOD") -> Dataset:
    concept = ("G-C171", "SRT", "Laterality") if concept_scheme == "SRT" else ("272741003", "SCT", "Laterality")
    return _item("CODE", concept, rel=rel, ConceptCodeSequence=[_code(side[0], side[1], "as sent")])


def mg_rdsr(right: tuple[str, str], left: tuple[str, str], concept_scheme: str = "SCT",
            agd: tuple[str, str] = ("1.25", "0.75")) -> Dataset:
    """Right AGD ``agd[0]`` mGy, left ``agd[1]`` mGy, each accumulated and as one view."""
    acc = _item("CONTAINER", ("113702", "DCM", "Accumulated X-Ray Dose Data"), ContinuityOfContent="SEPARATE",
                ContentSequence=[_num(("111637", "DCM", "Accumulated Average Glandular Dose"), agd[0], "mGy",
                                      [_laterality(right, concept_scheme)]),
                                 _num(("111637", "DCM", "Accumulated Average Glandular Dose"), agd[1], "mGy",
                                      [_laterality(left, concept_scheme)])])
    events = []
    for i, (side, dose) in enumerate(((right, agd[0]), (left, agd[1]))):
        events.append(_item("CONTAINER", ("113706", "DCM", "Irradiation Event X-Ray Data"),
                            ContinuityOfContent="SEPARATE", ContentSequence=[
                                _item("UIDREF", ("113769", "DCM", "Irradiation Event UID"), UID=f"1.2.3.9.{i}"),
                                _laterality(side, concept_scheme, rel="CONTAINS"),
                                _num(("111631", "DCM", "Average Glandular Dose"), dose, "mGy")]))
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RDSR, "1.2.3.9.99", "SR"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.PatientID = "1.2.3.9", "20240305", "100000", "P9"
    ds.Manufacturer = "ACME"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [_code("113701", "DCM", "X-Ray Radiation Dose Report")]
    tpl = Dataset()
    tpl.MappingResource, tpl.TemplateIdentifier = "DCMR", "10001"
    ds.ContentTemplateSequence = [tpl]
    proc = _item("CODE", ("121058", "DCM", "Procedure reported"), rel="HAS CONCEPT MOD",
                 ConceptCodeSequence=[_code("71651007", "SCT", "Mammography")])
    ds.ContentSequence = [proc, acc, *events]
    return ds


CODINGS = {
    "SRT qualifier": (("G-A100", "SRT"), ("G-A101", "SRT")),
    "SCT qualifier": (("24028007", "SCT"), ("7771000", "SCT")),
    "SRT breast": (("T-04020", "SRT"), ("T-04030", "SRT")),
    "SCT breast": (("73056007", "SCT"), ("80248007", "SCT")),
    "SNM3 breast": (("T-04020", "SNM3"), ("T-04030", "SNM3")),
}


@pytest.mark.parametrize("concept_scheme", ["SCT", "SRT"])
@pytest.mark.parametrize("coding", list(CODINGS))
def test_agd_per_breast_in_every_laterality_coding(pseudo, coding, concept_scheme):
    right, left = CODINGS[coding]
    rep = parse_xray_rdsr(mg_rdsr(right, left, concept_scheme), pseudonymise=pseudo, source=SRC)
    assert rep.study.modality == "MG"
    (plane,) = rep.planes
    assert (plane.agd_right_mgy, plane.agd_left_mgy, plane.agd_both_mgy) == (1.25, 0.75, None)
    assert (rep.study.agd_right_mgy, rep.study.agd_left_mgy) == (1.25, 0.75)
    assert [e.laterality for e in rep.proj_events] == ["R", "L"]
    assert plane.flags == () and all(e.flags == () for e in rep.proj_events)
    breast = "breast" in coding
    assert any(f == "quirk breast-code-laterality: agd_both_mgy" for f in plane.unit_fixes) is breast
    assert all(("quirk breast-code-laterality: laterality" in e.unit_fixes) is breast for e in rep.proj_events)


@pytest.mark.parametrize("both", [("G-A102", "SRT"), ("51440002", "SCT"), ("63762007", "SCT")])
def test_bilateral_agd(pseudo, both):
    rep = parse_xray_rdsr(mg_rdsr(both, both), pseudonymise=pseudo, source=SRC)
    (plane,) = rep.planes
    assert (plane.agd_right_mgy, plane.agd_left_mgy, plane.agd_both_mgy) == (None, None, 2.0)
    assert [e.laterality for e in rep.proj_events] == ["B", "B"]


def test_unknown_laterality_is_flagged_not_lost(pseudo):
    odd = ("X-1", "99ACME")
    rep = parse_xray_rdsr(mg_rdsr(("G-A100", "SRT"), odd), pseudonymise=pseudo, source=SRC)
    (plane,) = rep.planes
    assert (plane.agd_right_mgy, plane.agd_both_mgy) == (1.25, 0.75)  # kept, counted as bilateral
    assert plane.flags == ("agd_both_mgy: laterality 99ACME:X-1 not recognised",)
    assert rep.proj_events[1].laterality == "99ACME:X-1"
    assert rep.proj_events[1].flags == ("laterality: laterality 99ACME:X-1 not recognised",)
