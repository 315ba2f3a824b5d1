"""Ingest into the store (SQLite and PostgreSQL): counts, idempotency, merges, flags, quarantine, privacy."""

from __future__ import annotations

import shutil

import pydicom
import pytest
import sqlalchemy as sa

from dmslab.errors import KeyMissingError
from dmslab.jobs import ingest_paths
from dmslab.store import Store
from dmslab.store.schema import table


@pytest.fixture
def ingested(department, settings):
    root, truth = department
    summary = ingest_paths([root], settings)
    store = Store(settings.database_url)
    yield store, summary, truth
    store.close()


def test_counts_match_ground_truth(ingested):
    store, summary, truth = ingested
    n_files = sum(len(s.files) for s in truth.studies)
    n_events = sum(len(s.events) for s in truth.studies)
    counts = store.counts()
    assert summary.ingested == n_files and summary.rejected == 0 and summary.duplicate == 0
    assert summary.skipped and summary.skipped[0].endswith("ground_truth.json")
    assert counts["study"] == len(truth.studies)
    assert counts["ct_event"] + counts["proj_event"] == n_events == summary.new_events
    assert counts["equipment"] == len(truth.rooms)
    assert counts["patient"] == len({s.patient_id for s in truth.studies})
    totals = store.read("select study_uid, total_dlp_mgycm, n_events from study where modality = 'CT'")
    by_uid = {s.study_uid: s for s in truth.studies}
    for uid, dlp, n in totals.itertuples(index=False):
        assert dlp == pytest.approx(by_uid[uid].total_dlp_mgycm, rel=1e-9)
        assert n == len(by_uid[uid].events)


def test_second_ingest_changes_nothing(ingested, department, settings):
    store, _summary, truth = ingested
    before = store.counts()
    again = ingest_paths([department[0]], settings)
    after = store.counts()
    assert again.ingested == 0 and again.duplicate == sum(len(s.files) for s in truth.studies)
    assert {k: v for k, v in after.items() if k != "source_object"} == \
        {k: v for k, v in before.items() if k != "source_object"}
    status = store.read("select status, count(*) as n from source_object group by status")
    assert dict(zip(status["status"], status["n"], strict=True))["duplicate"] == again.duplicate


def test_multi_rdsr_studies_merge_with_each_event_once(ingested):
    store, _summary, truth = ingested
    multi = [s for s in truth.studies if len(s.files) > 1]
    assert multi, "the department fixture should contain cumulative multi-RDSR studies"
    st = table("study")
    for s in multi:
        row = store.read(sa.select(st.c.n_events, st.c.total_dlp_mgycm).where(st.c.study_uid == s.study_uid))
        assert len(row) == 1
        assert int(row["n_events"].iloc[0]) == len(s.events)
        assert row["total_dlp_mgycm"].iloc[0] == pytest.approx(s.total_dlp_mgycm, rel=1e-9)


def test_no_patient_identifier_reaches_the_database(ingested):
    store, _summary, truth = ingested
    identifiers = {s.patient_id for s in truth.studies} | {s.accession_number for s in truth.studies}
    names = {s.patient_name for s in truth.studies}
    for name in ("patient", "study", "source_object", "equipment"):
        df = store.table(name)
        cells = {str(v) for col in df.columns for v in df[col].dropna().unique()}
        assert not cells & identifiers, name
        assert not cells & names, name


def test_implausible_value_is_stored_flagged(department, settings, tmp_path):
    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1)
    ds = pydicom.dcmread(root / study.files[0])

    def patch(items):
        for it in items:
            code = it.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in it else None
            if code == "113830":
                it.MeasuredValueSequence[0].NumericValue = "5000"
                return True
            if "ContentSequence" in it and patch(it.ContentSequence):
                return True
        return False

    assert patch(ds.ContentSequence)
    path = tmp_path / "implausible.dcm"
    ds.save_as(path)
    summary = ingest_paths([path], settings)
    assert summary.ingested == 1 and summary.flagged == 1
    store = Store(settings.database_url)
    ev = store.read("select ctdivol_mgy, flags from ct_event where ctdivol_mgy = 5000")
    assert len(ev) == 1
    assert "above plausible maximum 1000 mGy" in ev["flags"].iloc[0]
    store.close()


def test_bad_files_are_quarantined_and_the_rest_continues(department, settings, tmp_path):
    root, truth = department
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = [s for s in truth.studies if len(s.files) == 1][:3]
    for s in good:
        shutil.copy(root / s.files[0], folder / f"{s.study_uid}.dcm")
    (folder / "notes.dcm").write_bytes(b"this is not DICOM at all")
    data = (root / good[0].files[0]).read_bytes()
    (folder / "truncated.dcm").write_bytes(data[: len(data) // 3])
    summary = ingest_paths([folder], settings)
    assert summary.ingested == 3
    assert summary.rejected == 2
    assert set(summary.reasons) <= {"not_dicom", "corrupt"} and summary.reasons.get("not_dicom") == 1
    kept = sorted(p.name for p in settings.quarantine_dir.rglob("*.dcm"))
    assert any(n.endswith("notes.dcm") for n in kept) and any(n.endswith("truncated.dcm") for n in kept)
    assert all((p.parent / (p.name + ".reason.txt")).exists() for p in settings.quarantine_dir.rglob("*.dcm"))
    store = Store(settings.database_url)
    rej = store.read("select reason, path from source_object where status = 'rejected'")
    assert len(rej) == 2 and all("quarantine" in p for p in rej["path"])
    store.close()


def test_ingest_without_key_says_what_to_do(department, settings):
    settings.key_file.unlink()
    with pytest.raises(KeyMissingError, match="dmslab init"):
        ingest_paths([department[0]], settings)
