"""Radiopharmaceutical Radiation Dose SR (TID 10021/10022): a small synthetic RRDSR, then the corpus file."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pandas as pd
import pydicom
import pytest
import sqlalchemy as sa
from _sr_items import code as _code
from _sr_items import item as _item
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dmslab.errors import IngestError
from dmslab.ingest import find_importer, parse_file
from dmslab.ingest.rdsr._organ_dose import EffectiveDoseBasis, NmOrganDoseRecord
from dmslab.ingest.rdsr.radiopharmaceutical import RrdsrImporter, dose_estimates, parse_rrdsr
from dmslab.records import SourceRecord
from dmslab.store import Store
from dmslab.store._nm_organ import insert_nm_organ_doses, nm_organ_doses

RRDSR = "1.2.840.10008.5.1.4.1.1.88.68"
SRC = SourceRecord(sha256="0" * 64, path="mem")


def _num(concept: tuple[str, str, str], value: str, unit: str) -> Dataset:
    mv = Dataset()
    mv.NumericValue = value
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    return _item("NUM", concept, MeasuredValueSequence=[mv])


def rrdsr(agent_scheme: str = "SCT", activity_unit: str = "MBq", uid: str | None = "1.2.3.4.100",
          extra: list[Dataset] | None = None) -> Dataset:
    """Legacy SRT radionuclide and half-life codes, agent coded as ``agent_scheme``; 185 MBq Tc-99m.

    ``extra`` content items are appended to the administration container (organ doses, effective dose)."""
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
        *(extra or []),
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
    files = [root / "ingest" / "rdsr" / "radiopharmaceutical.py", root / "ingest" / "rdsr" / "_organ_dose.py",
             *(root / "ingest" / "headers").glob("*.py")]
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


# ---- organ doses (TID 10022 "Organ Dose Information") and the basis of the effective dose ----------------------
AUTHORITY = ("121406", "DCM", "Reference Authority")


def _organ(site: tuple[str, str, str] | None, dose: tuple[str, str] | None, **opts) -> Dataset:
    """One Organ Dose Information container. ``opts``: laterality (code), mass ((value, unit)), method (text),
    authority (str = TEXT, tuple = CID 10040 code), authority_on_dose (Siemens: child of the Organ Dose)."""
    laterality, mass, method = opts.get("laterality"), opts.get("mass"), opts.get("method")
    authority, authority_on_dose = opts.get("authority"), opts.get("authority_on_dose", False)
    items = []
    if site:
        items.append(_item("CODE", ("G-C0E3", "SRT", "Finding Site"), rel="HAS CONCEPT MOD",
                           ConceptCodeSequence=[_code(*site)]))
    if laterality:
        items.append(_item("CODE", ("G-C171", "SRT", "Laterality"), rel="HAS CONCEPT MOD",
                           ConceptCodeSequence=[_code(*laterality)]))
    auth = None
    if isinstance(authority, str):
        auth = _item("TEXT", AUTHORITY, rel="HAS PROPERTIES", TextValue=authority)
    elif authority is not None:
        auth = _item("CODE", AUTHORITY, ConceptCodeSequence=[_code(*authority)])
    if dose:
        num = _num(("113518", "DCM", "Organ Dose"), *dose)
        if auth is not None and authority_on_dose:
            num.ContentSequence = [auth]
        items.append(num)
    if mass:
        items.append(_num(("4147007", "SCT", "Mass"), *mass))
    if method:
        items.append(_item("TEXT", ("370129005", "SCT", "Measurement Method"), TextValue=method))
    if auth is not None and not authority_on_dose:
        items.append(auth)
    return _item("CONTAINER", ("113517", "DCM", "Organ Dose Information"), ContinuityOfContent="SEPARATE",
                 ContentSequence=items)


def _effective_dose(msv: str, authority: str) -> Dataset:
    """Siemens style: private container 99SHS 220001 > Effective Dose (mSv) > HAS PROPERTIES Reference Authority."""
    num = _num(("113839", "DCM", "Effective Dose"), msv, "mSv")
    num.ContentSequence = [_item("TEXT", AUTHORITY, rel="HAS PROPERTIES", TextValue=authority)]
    return _item("CONTAINER", ("220001", "99SHS", "Effective Dose Information"), ContinuityOfContent="SEPARATE",
                 ContentSequence=[num])


ORGANS = [
    # adrenal glands (legacy SRT codes as Siemens sends them), authority as TEXT on the Organ Dose
    _organ(("T-B3000", "SRT", "Adrenal gland"), ("4.73", "mGy"), laterality=("G-A102", "SRT", "Right and left"),
           authority="ICRP Publication 128", authority_on_dose=True),
    # liver in SCT, dose in Gy, mass in g, method text, coded authority (CID 10040) in the container
    _organ(("10200004", "SCT", "Liver"), ("0.0152", "Gy"), mass=("1800", "g"), method="MIRD schema, S values",
           authority=("113523", "DCM", "ICRP Publication 106")),
    # thyroid: mass in kg
    _organ(("69748006", "SCT", "Thyroid"), ("0.31", "mGy"), mass=("0.02", "kg"), authority="Package Insert"),
    # an Organ Dose Information container without an Organ Dose: skipped
    _organ(("71854001", "SCT", "Colon"), None),
]


def test_organ_doses_and_effective_dose_basis(pseudo):
    ds = rrdsr(extra=[*ORGANS, _effective_dose("3.5", "ICRP Publication 128")])
    doses, bases = dose_estimates(ds)
    adrenal, liver, thyroid = doses  # the container without a dose value is skipped
    assert adrenal == NmOrganDoseRecord(
        event_uid="1.2.3.4.100", organ_scheme="SCT", organ_value="23451007", organ_meaning="Adrenal gland",
        laterality_code="SCT:51440002", laterality="Right and left", dose_mgy=4.73,
        reference_authority="ICRP Publication 128")
    assert (liver.organ_value, liver.dose_mgy, liver.mass_g) == ("10200004", pytest.approx(15.2), 1800.0)
    assert liver.unit_fixes == ("dose_mgy: Gy",) and liver.method == "MIRD schema, S values"
    assert (liver.reference_authority_code, liver.reference_authority) == ("DCM:113523", "ICRP Publication 106")
    assert liver.laterality_code is None and liver.flags == ()
    assert (thyroid.dose_mgy, thyroid.mass_g, thyroid.unit_fixes) == (0.31, pytest.approx(20.0), ("mass_g: kg",))
    assert bases == {"1.2.3.4.100": EffectiveDoseBasis(None, None, "ICRP Publication 128")}
    # the administration record keeps reading the effective dose, in mSv, from the vendor container
    (ev,) = parse_rrdsr(ds, pseudonymise=pseudo, source=SRC).nm_events
    assert ev.effective_dose_msv == 3.5 and ev.activity_mbq == 185.0


@pytest.mark.parametrize(("dose", "flag"), [
    (("-1", "mGy"), "dose_mgy=-1.0: below plausible minimum 0 mGy"),
    (("5", "furlong"), "dose_mgy: unknown unit 'furlong', value 5.0 not stored"),
])
def test_implausible_or_unknown_organ_dose_is_flagged_not_dropped(dose, flag):
    (rec,) = dose_estimates(rrdsr(extra=[_organ(("10200004", "SCT", "Liver"), dose)]))[0]
    assert rec.flags == (flag,) and rec.organ_value == "10200004"


def test_organ_dose_without_finding_site_is_flagged():
    (rec,) = dose_estimates(rrdsr(extra=[_organ(None, ("2", "mGy"))]))[0]
    assert rec.organ_scheme is rec.organ_value is None and rec.dose_mgy == 2.0
    assert rec.flags == ("organ: no Finding Site (SCT 363698007)",)


def test_no_organ_doses_no_basis():
    assert dose_estimates(rrdsr()) == ((), {})


@pytest.mark.requires_corpus
def test_corpus_rrdsr_organ_doses(corpus):
    """NM-RRDSR-Siemens.dcm: the organ doses of expected.json (first, last and count), ICRP 128 throughout."""
    import json

    exp = json.loads((corpus / "expected.json").read_text())["files"]["NM-RRDSR-Siemens.dcm"]["values"]
    want = {(v["scope"].rsplit("[", 1)[-1].rstrip("]"), v["quantity"]): v["value"] for v in exp
            if v["scope"].startswith("administration[0].organ_dose")}
    count = next(v["value"] for v in exp if v["quantity"] == "number_of_organ_dose_items")
    doses, bases = dose_estimates(pydicom.dcmread(corpus / "openrem" / "NM-RRDSR-Siemens.dcm"))
    assert len(doses) == count == 22
    for which, rec in (("first", doses[0]), ("last", doses[-1])):
        assert rec.organ_meaning == want[(which, "finding_site")]
        assert rec.laterality == want[(which, "laterality")]
        assert rec.dose_mgy == pytest.approx(want[(which, "organ_dose")])
        assert rec.reference_authority == want[(which, "reference_authority_text")]
    assert [(d.organ_scheme, d.organ_value) for d in (doses[0], doses[-1])] == [
        ("SCT", "23451007"), ("SCT", "89837001")]  # adrenal gland, bladder (SRT T-B3000, T-74000 in the file)
    assert {d.reference_authority for d in doses} == {"ICRP Publication 128"}
    assert all(d.flags == () and d.unit_fixes == () for d in doses)
    assert list(bases.values()) == [EffectiveDoseBasis(None, None, "ICRP Publication 128")]


def test_store_links_organ_doses_to_their_administration(pseudo, db_url):
    rep = parse_rrdsr(rrdsr(), pseudonymise=pseudo, source=SRC)  # the administration, without organ doses
    doses, _ = dose_estimates(rrdsr(extra=ORGANS[:2]))
    store = Store(db_url)
    store.write([rep])
    with store.engine.begin() as conn:
        sid = conn.execute(sa.text("select id from study")).scalar_one()
        assert insert_nm_organ_doses(conn, sid, doses) == 2
        assert insert_nm_organ_doses(conn, sid, doses) == 0  # a repeated send adds nothing
        stray = NmOrganDoseRecord(event_uid="9.9.9", organ_scheme="SCT", organ_value="10200004", dose_mgy=1.0)
        assert insert_nm_organ_doses(conn, sid, [stray]) == 0  # no such administration in the study
    with store.engine.connect() as conn:
        got = nm_organ_doses(conn, study_uid="1.2.3.4")
    store.close()
    assert list(got["organ_value"]) == ["23451007", "10200004"]
    assert list(got["dose_mgy"]) == [4.73, pytest.approx(15.2)] and list(got["activity_mbq"]) == [185.0, 185.0]
    assert got.loc[1, "mass_g"] == 1800.0 and got.loc[1, "unit_fixes"] == "dose_mgy: Gy"
    assert got.loc[0, "reference_authority"] == "ICRP Publication 128" and pd.isna(got.loc[0, "mass_g"])


def _comment_item(text: str) -> Dataset:
    return _item("TEXT", ("121106", "DCM", "Comment"), TextValue=text)


@pytest.mark.parametrize(("on_admin", "on_report", "want"), [
    ("extravasation suspected, left arm", None, "extravasation suspected, left arm"),
    (None, "patient moved, repeat scan", "patient moved, repeat scan"),
    ("given at 09:05", "report comment", "given at 09:05"),  # the administration's own comment wins
    (None, None, None),
])
def test_administration_comment_is_stored(pseudo, db_url, on_admin, on_report, want):
    ds = rrdsr(extra=[_comment_item(on_admin)] if on_admin else None)
    if on_report:
        ds.ContentSequence.append(_comment_item(on_report))
    rep = parse_rrdsr(ds, pseudonymise=pseudo, source=SRC)
    assert rep.nm_events[0].comment == want
    store = Store(db_url)
    store.write([rep])
    with store.engine.connect() as conn:
        got = conn.execute(sa.text("select comment from nm_event")).scalar_one()
    store.close()
    assert got == want
