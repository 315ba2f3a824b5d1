"""One SOP Instance UID, several objects: identical bytes are a duplicate, anything else is kept.

- the same object twice: one ingested, one duplicate;
- another version of the object in the same study (a partial RDSR sent under the complete one's SOP
  Instance UID): both are combined by the merge rules, every event once, totals of the ground truth;
- another exam under a reused UID (other Study Instance UID): its own study, both studies flagged
  ``sop_uid_reused`` naming the other object.

Each in one ingest call and in two (both orders), on SQLite and PostgreSQL; the store conftest checks that no
study exists without its source object.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from dmslab.jobs import ingest_paths
from dmslab.store import Store

#: How the two objects reach the store: one call (in this order), or two calls.
ORDERS = ("one_call", "one_call_reversed", "two_calls", "two_calls_reversed")


def _ingest(settings, files: list[Path], order: str, tmp_path: Path) -> list:
    files = files[::-1] if order.endswith("reversed") else files
    parts = [files] if order.startswith("one_call") else [[f] for f in files]
    summaries = []
    for i, part in enumerate(parts):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        for k, f in enumerate(part):
            shutil.copy(f, folder / f"{k}_{f.name}")
        summaries.append(ingest_paths([folder], settings))
    return summaries


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rewritten(src: Path, dest: Path, **attrs: str) -> Path:
    ds = pydicom.dcmread(src)
    for name, value in attrs.items():
        setattr(ds, name, value)
    if "SOPInstanceUID" in attrs:
        ds.file_meta.MediaStorageSOPInstanceUID = attrs["SOPInstanceUID"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dest, enforce_file_format=True)
    return dest


def _study_rows(store: Store):
    return store.read("select id, study_uid, total_dlp_mgycm, n_events, flags from study order by id")


@pytest.mark.parametrize("order", ORDERS)
def test_identical_bytes_are_one_object(department, settings, tmp_path, order):
    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1)
    copy = tmp_path / "copy" / "same.dcm"
    copy.parent.mkdir()
    shutil.copy(root / study.files[0], copy)
    summaries = _ingest(settings, [root / study.files[0], copy], order, tmp_path)
    assert sum(s.ingested for s in summaries) == 1 and sum(s.duplicate for s in summaries) == 1
    store = Store(settings.database_url)
    rows = _study_rows(store)
    assert list(rows["study_uid"]) == [study.study_uid]
    assert store.counts()["ct_event"] == len(study.events)
    so = store.read("select status, study_id from source_object order by status")
    assert list(so["status"]) == ["duplicate", "ingested"] and set(so["study_id"]) == set(rows["id"])
    store.close()


@pytest.mark.parametrize("order", ORDERS)
def test_other_version_in_the_same_study_is_merged(department, settings, tmp_path, order):
    root, truth = department
    study = next(s for s in truth.studies if len(s.files) > 1)
    full, partial_src = study.files[-1], study.files[0]  # the synth writes the partial report first
    # the partial (cumulative) report sent again under the complete report's SOP Instance UID
    partial = _rewritten(root / partial_src, tmp_path / "partial" / "p.dcm",
                         SOPInstanceUID=study.sop_instance_uids[-1])
    assert _sha(partial) != _sha(root / full)
    summaries = _ingest(settings, [root / full, partial], order, tmp_path)
    assert sum(s.ingested for s in summaries) == 2 and sum(s.duplicate for s in summaries) == 0
    store = Store(settings.database_url)
    rows = _study_rows(store)
    assert list(rows["study_uid"]) == [study.study_uid]
    assert rows["total_dlp_mgycm"].iloc[0] == pytest.approx(study.total_dlp_mgycm, rel=1e-9)
    assert int(rows["n_events"].iloc[0]) == len(study.events)
    ev = store.read("select event_uid from ct_event")
    assert sorted(ev["event_uid"]) == sorted(e.event_uid for e in study.events)
    assert "sop_uid_reused" not in str(rows["flags"].iloc[0])
    so = store.read("select sop_instance_uid, sha256, status, detail from source_object")
    assert sorted(so["sha256"]) == sorted([_sha(partial), _sha(root / full)])
    assert set(so["status"]) == {"ingested"} and set(so["sop_instance_uid"]) == {study.sop_instance_uids[-1]}
    later = so[so["detail"].notna()]
    assert len(later) == 1 and "combined with the study by the merge rules" in later["detail"].iloc[0]
    store.close()


@pytest.mark.parametrize("order", ORDERS)
def test_reused_uid_in_another_study_is_its_own_flagged_study(department, settings, tmp_path, order):
    root, truth = department
    study = next(s for s in truth.studies if s.modality == "CT" and len(s.files) == 1 and len(s.events) >= 2)
    original = root / study.files[0]
    other_uid = generate_uid()
    reused = _rewritten(original, tmp_path / "other" / "reused.dcm", StudyInstanceUID=other_uid)
    summaries = _ingest(settings, [original, reused], order, tmp_path)
    assert sum(s.ingested for s in summaries) == 2 and sum(s.duplicate for s in summaries) == 0
    store = Store(settings.database_url)
    rows = _study_rows(store).set_index("study_uid")
    assert sorted(rows.index) == sorted([study.study_uid, other_uid])
    for uid in rows.index:  # each exam keeps its own events and totals (the copy says what the original says)
        assert rows.loc[uid, "total_dlp_mgycm"] == pytest.approx(study.total_dlp_mgycm, rel=1e-9)
        assert int(rows.loc[uid, "n_events"]) == len(study.events)
    assert store.counts()["ct_event"] == 2 * len(study.events)
    sha = {study.study_uid: _sha(original), other_uid: _sha(reused)}
    for uid, other in ((study.study_uid, other_uid), (other_uid, study.study_uid)):
        flags = [f for f in rows.loc[uid, "flags"].split("; ") if f.startswith("sop_uid_reused")]
        assert len(flags) == 1, flags
        assert study.sop_instance_uids[0] in flags[0] and sha[other][:12] in flags[0] and other in flags[0]
    so = store.read("select s.study_uid, o.sha256, o.status from source_object o join study s on s.id = o.study_id")
    assert dict(zip(so["study_uid"], so["sha256"], strict=True)) == sha and set(so["status"]) == {"ingested"}
    store.close()
