"""A batch the store refuses is written object by object: the others are stored, the bad one kept as rejected."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dmslab.jobs
from dmslab.jobs import ingest_paths
from dmslab.store import Store


def test_one_unwritable_object_does_not_cost_the_batch(department, settings, monkeypatch, tmp_path):
    root, truth = department
    studies = [s for s in truth.studies if len(s.files) == 1][:5]
    folder = tmp_path / "in"
    folder.mkdir()
    for s in studies:
        (folder / Path(s.files[0]).name).write_bytes((root / s.files[0]).read_bytes())
    poisoned = Path(studies[2].files[0]).name
    real = dmslab.jobs.parse_many

    def parse_with_one_bad_value(paths, key, **kw):  # a value no database integer column can hold
        for o in real(paths, key, **kw):
            if o.report is not None and Path(o.path).name == poisoned:
                study = dataclasses.replace(o.report.study, n_events_reported=2**70)
                o = dataclasses.replace(o, report=dataclasses.replace(o.report, study=study))
            yield o

    monkeypatch.setattr(dmslab.jobs, "parse_many", parse_with_one_bad_value)
    summary = ingest_paths([folder], settings)  # batch_size 200: all five in one batch
    assert (summary.ingested, summary.rejected, summary.reasons) == (4, 1, {"store_failed": 1})
    assert [(Path(p).name, r) for p, r, _d in summary.rejected_files] == [(poisoned, "store_failed")]
    store = Store(settings.database_url)
    uids = set(store.read("select study_uid from study")["study_uid"])
    assert uids == {s.study_uid for s in studies} - {studies[2].study_uid}
    so = store.read("select sop_instance_uid, status, reason, path from source_object where status = 'rejected'")
    assert list(so["sop_instance_uid"]) == [studies[2].sop_instance_uids[0]] and list(so["reason"]) == ["store_failed"]
    kept = Path(so["path"].iloc[0])
    assert kept.is_file() and kept.read_bytes() == (root / studies[2].files[0]).read_bytes()
    assert kept.is_relative_to(settings.quarantine_dir)
    store.close()
