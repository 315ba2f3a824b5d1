"""Images of one study merge in the store: events once, For-Processing copies de-duplicated (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from _headers_make import MG_PROC, STUDY, dx, mg, nm, write

from dmslab.jobs import ingest_paths
from dmslab.store import Store


def _ingest(settings, paths):
    store = Store(settings.database_url)
    try:
        for p in paths:
            ingest_paths([p], settings, store=store)
        study = store.table("study")
        return study, store.table("proj_event"), store.table("nm_event"), store.table("source_object")
    finally:
        store.close()


def test_for_processing_copy_is_one_event_and_agd_counts_once(settings, tmp_path):
    files = []
    for name, ds in [("pres.dcm", mg(STUDY + ".20")),
                     ("proc.dcm", mg(STUDY + ".21", sop_class=MG_PROC)),
                     ("second.dcm", mg(STUDY + ".22", AcquisitionTime="102512", OrganDose="0.0141")),
                     ("proc-again.dcm", mg(STUDY + ".21", sop_class=MG_PROC))]:
        write(ds, tmp_path / name)
        files.append(tmp_path / name)
    study, events, _, sources = _ingest(settings, files)
    assert len(study) == 1 and study.loc[0, "modality"] == "MG" and study.loc[0, "source_kind"] == "header"
    assert len(events) == 2 and int(study.loc[0, "n_events"]) == 2
    assert study.loc[0, "agd_left_mgy"] == pytest.approx(1.23 + 1.41)
    assert sorted(sources["status"]) == ["duplicate", "ingested", "ingested", "ingested"]


def test_dx_images_of_one_study_sum_their_dap(settings, tmp_path):
    files = []
    for i, (dap, t) in enumerate([("0.41", "101010"), ("0.82", "101110"), ("2.05", "101210")]):
        write(dx(f"{STUDY}.5{i}", ImageAndFluoroscopyAreaDoseProduct=dap, AcquisitionTime=t), tmp_path / f"{i}.dcm")
        files.append(tmp_path / f"{i}.dcm")
    files.append(files[1])  # repeated send
    study, events, _, _ = _ingest(settings, files)
    assert len(study) == 1 and len(events) == 3
    assert study.loc[0, "total_dap_gym2"] == pytest.approx(3.28e-5)


def test_pet_images_of_one_administration_are_one_nm_event(settings, tmp_path):
    for i in range(3):
        write(nm(f"{STUDY}.6{i}"), tmp_path / f"pet{i}.dcm")
    study, _, admins, _ = _ingest(settings, [tmp_path / f"pet{i}.dcm" for i in range(3)])
    assert len(study) == 1 and study.loc[0, "modality"] == "NM"
    assert len(admins) == 1 and admins.loc[0, "activity_mbq"] == pytest.approx(350.0)
