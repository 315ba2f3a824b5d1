"""Radiopharmaceutical Radiation Dose SR (TID 10021/10022): a small synthetic RRDSR, then the corpus file."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dmslab.errors import IngestError
from dmslab.ingest import find_importer, parse_file
from dmslab.ingest.rdsr.radiopharmaceutical import RrdsrImporter, parse_rrdsr
from dmslab.records import SourceRecord

RRDSR = "1.2.840.10008.5.1.4.1.1.88.68"
SRC = SourceRecord(sha256="0" * 64, path="mem")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _item(vt: str, concept: tuple[str, str, str], rel: str = "CONTAINS", **kw) -> Dataset:
    it = Dataset()
    it.RelationshipType, it.ValueType = rel, vt
    it.ConceptNameCodeSequence = [_code(*concept)]
    for k, v in kw.items():
        setattr(it, k, v)
    return it


def _num(concept: tuple[str, str, str], value: str, unit: str) -> Dataset:
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    return _item("NUM", concept, MeasuredValueSequence=[mv])


def rrdsr(agent_scheme: str = "SCT", activity_unit: str = "MBq", uid: str | None = "1.2.3.4.100") -> Dataset:
    """Legacy SRT radionuclide and half-life codes, agent coded as ``agent_scheme``; 185 MBq Tc-99m."""
    agent_concept = ("349358000", "SCT", "Radiopharmaceutical agent") if agent_scheme == "SCT" else (
        "F-61FDB", "SRT", "Radiopharmaceutical agent")
    agent = _item("CODE", agent_concept, ConceptCodeSequence=[_code("C-B1031", "SRT", "Fluorodeoxyglucose F^18^")])
    nuclide = _item("CODE", ("C-10072", "SRT", "Radionuclide"), rel="HAS PROPERTIES",
                    ConceptCodeSequence=[_code("C-111A1", "SRT", "^18^Fluorine")])
    agent.ContentSequence = [nuclide, _num(("R-42806", "SRT", "Radionuclide Half Life"), "6586.2", "s")]
    children = [agent]
    if uid:
        children.append(_item("UIDREF", ("113503", "DCM", "Radiopharmaceutical Administration Event UID"), UID=uid))
    children += [
        _item("DATETIME", ("123003", "DCM", "Radiopharmaceutical Start DateTime"), DateTime="20240305090500"),
        _item("DATETIME", ("123004", "DCM", "Radiopharmaceutical Stop DateTime"), DateTime="20240305090600"),
        _num(("113507", "DCM", "Administered activity"), "185" if activity_unit == "MBq" else "0.185", activity_unit),
        _num(("113508", "DCM", "Pre-Administration Measured Activity"), "190", "MBq"),
        _num(("113509", "DCM", "Post-Administration Measured Activity"), "5", "MBq"),
        _num(("123005", "DCM", "Radiopharmaceutical Volume"), "2.5", "cm3"),
        _item("CODE", ("G-C340", "SRT", "Route of administration"),
              ConceptCodeSequence=[_code("G-D101", "SRT", "Intravenous route")]),
    ]
    admin = _item("CONTAINER", ("113502", "DCM", "Radiopharmaceutical Administration"), ContinuityOfContent="SEPARATE",
                  ContentSequence=children)
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = RRDSR, "1.2.3.4.99", "SR"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.PatientID = "1.2.3.4", "20240305", "100000", "P9"
    ds.Manufacturer = "ACME"
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [_code("113500", "DCM", "Radiopharmaceutical Radiation Dose Report")]
    ds.ContentSequence = [admin]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RRDSR, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buf.getvalue()))


@pytest.mark.parametrize("agent_scheme", ["SCT", "SRT"])
def test_administration_values(pseudo, agent_scheme):
    rep = parse_rrdsr(rrdsr(agent_scheme), pseudonymise=pseudo, source=SRC)
    assert rep.study.modality == "NM" and rep.study.source_kind == "rdsr"
    assert rep.source.importer == "rrdsr" and rep.source.template == "10021"
    (ev,) = rep.nm_events
    assert ev.event_uid == "1.2.3.4.100"
    assert (ev.agent, ev.agent_code) == ("Fluorodeoxyglucose F^18^", "SCT:35321007")
    assert (ev.radionuclide, ev.radionuclide_code) == ("^18^Fluorine", "SCT:77004003")
    assert (ev.activity_mbq, ev.pre_activity_mbq, ev.post_activity_mbq, ev.volume_ml) == (185.0, 190.0, 5.0, 2.5)
    assert ev.half_life_s == 6586.2 and ev.route == "Intravenous route"
    assert (ev.start_datetime, ev.stop_datetime) == (dt.datetime(2024, 3, 5, 9, 5), dt.datetime(2024, 3, 5, 9, 6))
    assert ev.flags == () and ev.unit_fixes == ()


def test_activity_in_gbq_is_converted_and_recorded(pseudo):
    (ev,) = parse_rrdsr(rrdsr(activity_unit="GBq"), pseudonymise=pseudo, source=SRC).nm_events
    assert ev.activity_mbq == pytest.approx(185.0) and "activity_mbq: GBq" in ev.unit_fixes


def test_missing_event_uid_is_rejected(pseudo):
    with pytest.raises(IngestError) as err:
        parse_rrdsr(rrdsr(uid=None), pseudonymise=pseudo, source=SRC)
    assert err.value.reason == "missing_required_concept"


def test_registry_picks_the_rrdsr_importer():
    ds = rrdsr()
    assert RrdsrImporter().can_ingest(ds) and find_importer(ds).name == "rrdsr"


def test_no_matching_on_code_meaning():
    root = Path(__file__).resolve().parents[2] / "dmslab"
    files = [root / "ingest" / "rdsr" / "radiopharmaceutical.py", *(root / "ingest" / "headers").glob("*.py")]
    for f in files:
        assert not re.search(r"CodeMeaning\s*==|\.meaning\s*==", f.read_text()), f


@pytest.mark.requires_corpus
def test_corpus_rrdsr_values(corpus, pseudo):
    """Every NM-RRDSR-Siemens.dcm value of expected.json that the nm_event record models, checked strictly."""
    import json

    expected = json.loads((corpus / "expected.json").read_text())["files"]["NM-RRDSR-Siemens.dcm"]["values"]
    out = parse_file(corpus / "openrem" / "NM-RRDSR-Siemens.dcm", pseudo)
    assert out.reason is None, out.detail
    (ev,) = out.report.nm_events
    got = {"radiopharmaceutical_agent": ev.agent, "radionuclide": ev.radionuclide, "radionuclide_half_life":
           ev.half_life_s, "radiopharmaceutical_administration_event_uid": ev.event_uid,
           "radiopharmaceutical_start_datetime": ev.start_datetime.isoformat(),
           "radiopharmaceutical_stop_datetime": ev.stop_datetime.isoformat(), "administered_activity":
           ev.activity_mbq, "effective_dose": ev.effective_dose_msv, "route_of_administration": ev.route}
    checked = 0
    for v in expected:
        if v["scope"] == "administration[0]" and v["quantity"] in got:
            want = v["value"]
            assert got[v["quantity"]] == (pytest.approx(want) if isinstance(want, float) else want), v["quantity"]
            checked += 1
    assert out.report.study.modality == "NM"
    assert checked == 11
