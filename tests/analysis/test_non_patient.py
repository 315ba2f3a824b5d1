"""QA and phantom studies are stored, marked at ingest, and left out of statistics, DRL audits, alerts and
protocol-change series unless asked for (ESR: QA exams must not skew patient statistics).

One CT room, protocol "CT Abdomen Pelvis" (UK NDRL DLP 530 mGy.cm): ten patient exams below the DRL and one
phantom exam far above it, each a CT RDSR built here with pydicom and ingested through ``ingest_paths``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
import sqlalchemy as sa
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dmslab.analysis.alerts import high_dose_cases, run_alerts, study_metrics
from dmslab.analysis.changes import exam_series
from dmslab.analysis.drl import drl_audit
from dmslab.analysis.stats import Filters, exam_counts, summary
from dmslab.config import Settings, load_settings
from dmslab.jobs import ingest_paths
from dmslab.pseudonym import create_key
from dmslab.store import Store
from dmslab.store.schema import table

PATIENT_DLP = [400.0, 410.0, 420.0, 430.0, 440.0, 450.0, 460.0, 470.0, 480.0, 490.0]
PHANTOM_DLP = 5000.0
UK_DLP_ABDOMEN_PELVIS = 530.0  # UKHSA adult CT NDRL (2024), abdomen and pelvis


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _item(vt: str, code: str, rel: str = "CONTAINS", **kw) -> Dataset:
    it = Dataset()
    it.RelationshipType, it.ValueType = rel, vt
    it.ConceptNameCodeSequence = [_code(code, "DCM", "concept")]
    for k, v in kw.items():
        setattr(it, k, v)
    return it


def _num(code: str, value: float, unit: str) -> Dataset:
    mv = Dataset()
    mv.NumericValue = f"{value:g}"
    mv.MeasurementUnitsCodeSequence = [_code(unit, "UCUM", unit)]
    return _item("NUM", code, MeasuredValueSequence=[mv])


def _ct_rdsr(i: int, dlp: float, *, name: str, patient_id: str, qc_image: str | None = None) -> Dataset:
    uid = f"1.2.826.0.1.3680043.10.99.{i}"
    dose = _item("CONTAINER", "113829", ContinuityOfContent="SEPARATE",
                 ContentSequence=[_num("113830", dlp / 50, "mGy"), _num("113838", dlp, "mGy.cm")])
    acq = _item("CONTAINER", "113819", ContinuityOfContent="SEPARATE", ContentSequence=[
        _item("CODE", "113820", ConceptCodeSequence=[_code("P5-08001", "SRT", "Spiral Acquisition")]),
        _item("UIDREF", "113769", UID=uid + ".1"), dose])
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = "1.2.840.10008.5.1.4.1.1.88.67", uid + ".9", "SR"
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = uid, f"202403{i + 1:02d}", "100000"
    ds.PatientName, ds.PatientID = name, patient_id
    ds.StudyDescription, ds.StationName, ds.Manufacturer = "CT Abdomen Pelvis", "CTROOM1", "ACME"
    if qc_image is not None:
        ds.QualityControlImage = qc_image
    ds.ValueType, ds.ContinuityOfContent = "CONTAINER", "SEPARATE"
    ds.ConceptNameCodeSequence = [_code("113701", "DCM", "X-Ray Radiation Dose Report")]
    tpl = Dataset()
    tpl.MappingResource, tpl.TemplateIdentifier = "DCMR", "10011"
    ds.ContentTemplateSequence = [tpl]
    ds.ContentSequence = [_item("CONTAINER", "113811", ContinuityOfContent="SEPARATE",
                                ContentSequence=[_num("113813", dlp, "mGy.cm")]), acq]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


@pytest.fixture
def site(tmp_path: Path, db_url: str) -> Iterator[tuple[Store, Settings, Path]]:
    home = tmp_path / "home"
    create_key(home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    settings = load_settings(home=str(home), database_url=db_url, workers=1)
    folder = tmp_path / "objects"
    folder.mkdir()
    objects = [(f"p{i}", _ct_rdsr(i, dlp, name=f"Patient^No{i}", patient_id=f"P{i:03d}"))
               for i, dlp in enumerate(PATIENT_DLP)]
    objects.append(("phantom", _ct_rdsr(20, PHANTOM_DLP, name="CTDI^PHANTOM", patient_id="CT-QA-01")))
    for stem, ds in objects:
        ds.save_as(folder / f"{stem}.dcm", enforce_file_format=True)
    store = Store(db_url)
    summary_ = ingest_paths([folder], settings, store=store)
    assert (summary_.ingested, summary_.rejected) == (11, 0)
    with store.engine.begin() as conn:  # the naming step would give this name; set it directly here
        conn.execute(sa.update(table("study")).values(standard_name="CT Abdomen Pelvis"))
    yield store, settings, folder
    store.close()


def test_phantom_is_stored_and_marked(site):
    store, _settings, _folder = site
    rows = store.read("select study_uid, exclusion_reason from study order by study_uid")
    assert len(rows) == 11
    marked = rows[rows["exclusion_reason"].notna()]
    assert marked["study_uid"].tolist() == ["1.2.826.0.1.3680043.10.99.20"]
    assert marked["exclusion_reason"].iloc[0] == "not_patient_pattern: phantom"


def test_phantom_above_the_drl_raises_no_alert(site):
    store, _settings, _folder = site
    run = run_alerts(store, smtp=None)
    assert run.new.empty  # every patient exam is below 530 mGy.cm; the phantom is not a patient
    review = high_dose_cases(store, modality="CT", include_non_patient=True)
    assert review["study_uid"].tolist() == ["1.2.826.0.1.3680043.10.99.20"]
    assert review["value"].iloc[0] == PHANTOM_DLP and review["level"].iloc[0] == UK_DLP_ABDOMEN_PELVIS
    assert len(study_metrics(store, ["CT"])) == 10
    assert len(study_metrics(store, ["CT"], include_non_patient=True)) == 11


def test_phantom_does_not_move_the_room_median(site):
    store, _settings, _folder = site
    s = summary(store, "dlp_mgycm", by=["room"])
    assert s["n"].tolist() == [10]
    assert s["median"].iloc[0] == pytest.approx(statistics.median(PATIENT_DLP))
    assert s["max"].iloc[0] == max(PATIENT_DLP)
    with_qa = summary(store, "dlp_mgycm", by=["room"], filters=Filters(include_non_patient=True))
    assert with_qa["n"].tolist() == [11]
    assert with_qa["median"].iloc[0] == pytest.approx(statistics.median([*PATIENT_DLP, PHANTOM_DLP]))
    assert exam_counts(store, by=["room"])["n_exams"].tolist() == [10]


def test_drl_audits_and_change_series_leave_the_phantom_out(site):
    store, _settings, _folder = site
    audit = drl_audit(store, min_n=1)
    row = audit[audit["metric"] == "dlp_mgycm"].iloc[0]
    assert (row["n"], row["median"], row["n_above"]) == (10, statistics.median(PATIENT_DLP), 0)
    assert row["status"] == "at or below DRL"
    with_qa = drl_audit(store, min_n=1, filters=Filters(include_non_patient=True))
    assert with_qa[with_qa["metric"] == "dlp_mgycm"]["n_above"].iloc[0] == 1
    ct = drl_audit(store, filters=Filters(modality="CT"), metrics=("dlp_mgycm",))  # what `dmslab audit` prints
    assert ct["n"].tolist() == [10]
    assert ct["median"].iloc[0] == statistics.median(PATIENT_DLP)
    with_qa = drl_audit(store, filters=Filters(modality="CT", include_non_patient=True), metrics=("dlp_mgycm",))
    assert with_qa["n"].tolist() == [11]
    assert len(exam_series(store)) == 10 and len(exam_series(store, include_non_patient=True)) == 11


@pytest.mark.parametrize(("flag", "reason"), [("YES", "quality_control_image"), ("NO", None)])
def test_quality_control_image_marks_the_study(tmp_path, db_url, flag, reason):
    home = tmp_path / "home"
    create_key(home / "pseudonym.key").write_text(bytes(range(32)).hex() + "\n")
    settings = load_settings(home=str(home), database_url=db_url, workers=1)
    path = tmp_path / "qc.dcm"
    _ct_rdsr(30, 300.0, name="Jones^Ann", patient_id="P777", qc_image=flag).save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).QualityControlImage == flag
    store = Store(db_url)
    ingest_paths([path], settings, store=store)
    got = store.read("select exclusion_reason from study")["exclusion_reason"].tolist()
    assert len(summary(store, "dlp_mgycm", by=["room"])) == (0 if reason else 1)
    store.close()
    assert got == [reason]


def test_command_line_flags(site, capsys, monkeypatch):
    from dmslab.cli import main

    store, settings, _folder = site
    monkeypatch.delenv("DMSLAB_SMTP_HOST", raising=False)
    monkeypatch.delenv("DMSLAB_ALERT_RULES", raising=False)
    common = ["--home", str(settings.home), "--database-url", settings.database_url]
    assert main(["alerts", "run", "--no-email", *common]) == 0
    assert capsys.readouterr().out.startswith("0 new alert(s)")
    for flag, n in (([], "10"), (["--include-non-patient"], "11")):
        assert main(["drl", "audit", "--modality", "CT", "--min-n", "1", *flag, *common]) == 0
        rows = [line.split() for line in capsys.readouterr().out.splitlines() if "dlp_mgycm" in line]
        assert [r[5] for r in rows] == [n], rows  # room, standard name (3 words), metric, n
    assert main(["alerts", "run", "--no-email", "--include-non-patient", *common]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 new alert(s)") and "total_dlp_mgycm = 5000 mGy.cm > level 530 mGy.cm" in out
