"""Per study and modality only the best dose source counts: RDSR > dose screen > image headers.

Studies of the synthetic department are sent as their RDSR and as image objects (CT slices, DX images
without Irradiation Event UID, a PET image of a PET/CT exam) in every order, in one batch, and again;
event counts and study totals must be those of the ground truth, never doubled (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil

import pytest
import sqlalchemy as sa
from _images import ct_images, dx_images, pet_image, write_all, xa_images

from dmslab.jobs import ingest_paths
from dmslab.records import CtEventRecord, DoseReport, EquipmentRecord, SourceRecord, StudyRecord
from dmslab.store import Store


def _pick(truth, modality):
    return next(s for s in truth.studies if s.modality == modality and len(s.files) == 1 and len(s.events) >= 2)


def _state(store, uid, modality):
    """(study row, events of the study, source objects of the study) as DataFrames."""
    st = store.read("select * from study where study_uid = :u and modality = :m", u=uid, m=modality)
    assert len(st) == 1
    table = "ct_event" if modality == "CT" else "proj_event"
    ev = store.read(f"select * from {table} where study_id = :i", i=int(st["id"].iloc[0]))
    so = store.read("select * from source_object where study_id = :i order by id", i=int(st["id"].iloc[0]))
    return st.iloc[0], ev, so


def _ingest_in_order(settings, parts, tmp_path):
    """Ingest each part (a list of files) in its own run, or all at once when ``parts`` has one entry."""
    store = Store(settings.database_url)
    for i, files in enumerate(parts):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        for k, f in enumerate(files):
            shutil.copy(f, folder / f"{k:03d}_{f.name}")
        ingest_paths([folder], settings, store=store)
    return store


def _files(department, study, images, tmp_path):
    root, _truth = department
    return [root / study.files[0]], write_all(images, tmp_path / "images")


ORDERS = {
    "rdsr_then_images": lambda r, i: [r, i],
    "images_then_rdsr": lambda r, i: [i, r],
    "one_batch_rdsr_first": lambda r, i: [r + i],
    "one_batch_images_first": lambda r, i: [i + r],
    "images_split_around_rdsr": lambda r, i: [i[:1], r, i[1:]],
}


def _assert_rdsr_won(store, study, modality, rdsr_sop, n_images):
    row, events, sources = _state(store, study.study_uid, modality)
    assert row["source_kind"] == "rdsr"
    assert sorted(events["event_uid"]) == sorted(e.event_uid for e in study.events)
    assert set(events["origin"]) == {"rdsr"}
    assert int(row["n_events"]) == len(study.events)
    ingested = sources[sources["status"] == "ingested"]
    assert list(ingested["sop_instance_uid"]) == [rdsr_sop]
    superseded = sources[sources["status"] == "superseded"]
    assert len(superseded) == n_images and set(superseded["reason"]) == {"superseded_by_rdsr"}
    assert all(f"RDSR {rdsr_sop}" in d for d in superseded["detail"])
    assert set(superseded["source_kind"]) == {"header"}
    return row


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_ct_rdsr_and_ct_images_count_once(department, settings, tmp_path, order):
    study = _pick(department[1], "CT")
    rdsr, images = _files(department, study, ct_images(study), tmp_path)
    store = _ingest_in_order(settings, ORDERS[order](rdsr, images), tmp_path)
    row = _assert_rdsr_won(store, study, "CT", study.sop_instance_uids[0], len(images))
    assert row["total_dlp_mgycm"] == pytest.approx(study.total_dlp_mgycm, rel=1e-9)
    assert store.counts()["ct_event"] == len(study.events)
    store.close()


@pytest.mark.parametrize("order", ["images_then_rdsr", "one_batch_images_first", "rdsr_then_images"])
def test_ct_images_naming_the_rdsr_events_give_way_to_the_rdsr_values(department, settings, tmp_path, order):
    study = _pick(department[1], "CT")
    rdsr, images = _files(department, study, ct_images(study, event_uids=True), tmp_path)
    store = _ingest_in_order(settings, ORDERS[order](rdsr, images), tmp_path)
    _assert_rdsr_won(store, study, "CT", study.sop_instance_uids[0], len(images))
    ev = store.read("select event_uid, dlp_mgycm from ct_event")
    assert dict(zip(ev["event_uid"], ev["dlp_mgycm"], strict=True)) == pytest.approx(
        {e.event_uid: e.dlp_mgycm for e in study.events})
    store.close()


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_dx_rdsr_and_dx_images_count_once(department, settings, tmp_path, order):
    study = _pick(department[1], "DX")
    rdsr, images = _files(department, study, dx_images(study), tmp_path)
    store = _ingest_in_order(settings, ORDERS[order](rdsr, images), tmp_path)
    row = _assert_rdsr_won(store, study, "DX", study.sop_instance_uids[0], len(images))
    assert row["total_dap_gym2"] == pytest.approx(study.total_dap_gym2, rel=1e-9)
    assert row["total_rp_dose_gy"] == pytest.approx(study.total_rp_dose_gy, rel=1e-9)
    assert store.counts()["proj_event"] == len(study.events)
    store.close()


@pytest.mark.parametrize("order", ["rdsr_then_images", "images_then_rdsr", "one_batch_images_first"])
def test_rf_rdsr_and_xa_images_count_once(department, settings, tmp_path, order):
    study = next(s for s in department[1].studies if s.modality == "RF" and len(s.events) >= 2)
    rdsr, images = _files(department, study, xa_images(study), tmp_path)
    store = _ingest_in_order(settings, ORDERS[order](rdsr, images), tmp_path)
    row = _assert_rdsr_won(store, study, "RF", study.sop_instance_uids[0], len(images))
    assert row["total_dap_gym2"] == pytest.approx(study.total_dap_gym2, rel=1e-9)
    assert row["total_rp_dose_gy"] == pytest.approx(study.total_rp_dose_gy, rel=1e-9)
    assert row["fluoro_time_s"] == pytest.approx(study.fluoro_time_s, rel=1e-9)
    planes = store.read("select plane, dap_total_gym2 from proj_plane")
    assert planes["dap_total_gym2"].sum() == pytest.approx(study.total_dap_gym2, rel=1e-9)
    store.close()


def test_xa_images_alone_give_the_study_dap(department, settings, tmp_path):
    study = next(s for s in department[1].studies if s.modality == "RF" and len(s.events) >= 2)
    _rdsr, images = _files(department, study, xa_images(study), tmp_path)
    store = _ingest_in_order(settings, [images], tmp_path)
    row, events, _sources = _state(store, study.study_uid, "RF")
    assert len(events) == len(study.events) and row["source_kind"] == "header"
    assert row["total_dap_gym2"] == pytest.approx(study.total_dap_gym2, rel=1e-5)
    fluoro = sum(e.irradiation_duration_s for e in study.events if e.acquisition_type == "Fluoroscopy")
    assert row["fluoro_time_s"] == pytest.approx(fluoro, abs=1e-3 * len(study.events))
    store.close()


def test_images_alone_would_count_each_exposure_under_other_uids(department, settings, tmp_path):
    """The control: image events have their own keys, so only the precedence rule prevents double counts."""
    study = _pick(department[1], "DX")
    _rdsr, images = _files(department, study, dx_images(study), tmp_path)
    store = _ingest_in_order(settings, [images], tmp_path)
    row, events, sources = _state(store, study.study_uid, "DX")
    assert row["source_kind"] == "header" and set(sources["status"]) == {"ingested"}
    assert len(events) == len(study.events) and set(events["origin"]) == {"header"}
    assert not set(events["event_uid"]) & {e.event_uid for e in study.events}
    assert row["total_dap_gym2"] == pytest.approx(study.total_dap_gym2, rel=1e-5)
    store.close()


def test_resending_both_changes_nothing(department, settings, tmp_path):
    study = _pick(department[1], "CT")
    rdsr, images = _files(department, study, ct_images(study), tmp_path)
    store = _ingest_in_order(settings, [images, rdsr], tmp_path)
    before = store.counts()
    again = ingest_paths(images + rdsr, settings, store=store)
    assert again.ingested == 0 and again.superseded == 0 and again.duplicate == len(images) + 1
    after = store.counts()
    assert after["source_object"] == before["source_object"] + len(images) + 1
    assert {k: v for k, v in after.items() if k != "source_object"} == \
        {k: v for k, v in before.items() if k != "source_object"}
    row, _events, sources = _state(store, study.study_uid, "CT")
    assert row["total_dlp_mgycm"] == pytest.approx(study.total_dlp_mgycm, rel=1e-9)
    assert sorted(sources["status"].value_counts().items()) == [
        ("duplicate", len(images) + 1), ("ingested", 1), ("superseded", len(images))]
    store.close()


def test_pet_ct_counts_nm_from_images_and_ct_from_the_rdsr(department, settings, tmp_path):
    study = _pick(department[1], "CT")
    rdsr, images = _files(department, study, [*ct_images(study), pet_image(study, 350e6)], tmp_path)
    store = _ingest_in_order(settings, [images, rdsr], tmp_path)
    row = _assert_rdsr_won(store, study, "CT", study.sop_instance_uids[0], len(images) - 1)
    assert row["total_dlp_mgycm"] == pytest.approx(study.total_dlp_mgycm, rel=1e-9)
    nm = store.read("select s.source_kind, e.activity_mbq, e.origin from nm_event e join study s on s.id = e.study_id "
                    "where s.modality = 'NM'")
    assert nm.values.tolist() == [["header", pytest.approx(350.0), "header"]]
    pet = store.read("select status from source_object where sop_class_uid = :c", c="1.2.840.10008.5.1.4.1.1.128")
    assert pet["status"].tolist() == ["ingested"]
    store.close()


def test_dmslab_ingest_of_a_mixed_folder(department, settings, tmp_path, capsys):
    from dmslab.cli import main

    root, truth = department
    ct = [s for s in truth.studies if s.modality == "CT" and len(s.files) == 1][:3]
    dx = [s for s in truth.studies if s.modality == "DX" and len(s.files) == 1][:3]
    folder = tmp_path / "mixed"
    images = [*(d for s in ct for d in ct_images(s)), *(d for s in dx for d in dx_images(s)), pet_image(ct[0])]
    write_all(images, folder / "images")
    for s in ct + dx:
        shutil.copy(root / s.files[0], folder / "images" / f"zz_{s.sop_instance_uids[0]}.dcm")
    rc = main(["-q", "--home", str(settings.home), "--database-url", settings.database_url, "ingest", str(folder)])
    assert rc == 0
    store = Store(settings.database_url)
    counts = store.counts()
    assert counts["ct_event"] == sum(len(s.events) for s in ct)
    assert counts["proj_event"] == sum(len(s.events) for s in dx)
    assert counts["nm_event"] == 1 and counts["study"] == len(ct) + len(dx) + 1
    st = store.read("select study_uid, modality, source_kind, n_events, total_dlp_mgycm, total_dap_gym2 from study")
    by_uid = {s.study_uid: s for s in ct + dx}
    for uid, modality, kind, n, dlp, dap in st.itertuples(index=False):
        if modality == "NM":
            assert kind == "header" and n == 1
            continue
        s = by_uid[uid]
        assert (kind, n) == ("rdsr", len(s.events))
        if modality == "CT":
            assert dlp == pytest.approx(s.total_dlp_mgycm, rel=1e-9)
        else:
            assert dap == pytest.approx(s.total_dap_gym2, rel=1e-9)
    status = store.read("select status, count(*) as n from source_object group by status")
    assert dict(zip(status["status"], status["n"], strict=True)) == {"ingested": len(ct) + len(dx) + 1,
                                                                     "superseded": len(images) - 1}
    store.close()


# ---- the three ranks, with records (no DICOM) ------------------------------------------------------------
UID = "1.2.826.0.1.3680043.10.999.1"


def _report(kind: str, importer: str, dlps: list[float], total: float | None) -> DoseReport:
    sop = f"{UID}.{kind}"
    events = tuple(CtEventRecord(event_uid=f"{UID}.{kind}.{i}", ctdivol_mgy=10.0, dlp_mgycm=d)
                   for i, d in enumerate(dlps))
    study = StudyRecord(study_uid=UID, modality="CT", source_kind=kind if kind != "ocr" else "header",
                        study_datetime=dt.datetime(2026, 1, 5, 9), total_dlp_mgycm=total)
    return DoseReport(source=SourceRecord(sha256=kind * 8, sop_instance_uid=sop, sop_class_uid="1.2",
                                          study_uid=UID, importer=importer),
                      equipment=EquipmentRecord(station_name="CT9"), patient=None, study=study, ct_events=events)


REPORTS = {"header": ("header", "header", [0.0, 0.0, 0.0], None),
           "ocr": ("ocr", "ocr", [100.0, 200.0], 300.0),  # a Philips Dose Info screen: study says "header"
           "rdsr": ("rdsr", "rdsr", [110.0, 200.0], 310.0)}


@pytest.mark.parametrize("order", list(itertools.permutations(REPORTS)))
@pytest.mark.parametrize("batch", ["one_batch", "one_by_one"])
def test_rank_rdsr_over_screen_over_header_in_any_order(db_url, order, batch):
    store = Store(db_url)
    reports = [_report(*REPORTS[k]) for k in order]
    if batch == "one_batch":
        store.write(reports)
    else:
        for r in reports:
            store.write([r])
    st = store.read("select source_kind, n_events, total_dlp_mgycm from study")
    assert st.values.tolist() == [["rdsr", 2, 310.0]]
    ev = store.read("select event_uid, dlp_mgycm, origin from ct_event order by event_uid")
    assert ev.values.tolist() == [[f"{UID}.rdsr.0", 110.0, "rdsr"], [f"{UID}.rdsr.1", 200.0, "rdsr"]]
    so = store.read("select sop_instance_uid, status, coalesce(reason, '-') as reason, source_kind from source_object "
                    "order by id")
    status = {sop.rsplit(".", 1)[1]: (s, r, k) for sop, s, r, k in so.itertuples(index=False)}
    assert status["rdsr"] == ("ingested", "-", "rdsr")
    assert status["ocr"] == ("superseded", "superseded_by_rdsr", "ocr")
    # the header is superseded by the screen when both came before the RDSR, by the RDSR otherwise
    header_by = "ocr" if max(order.index("header"), order.index("ocr")) < order.index("rdsr") else "rdsr"
    assert status["header"] == ("superseded", f"superseded_by_{header_by}", "header")
    store.close()


def test_screen_after_images_replaces_their_totals(db_url):
    store = Store(db_url)
    store.write([_report(*REPORTS["header"])])
    assert store.read("select n_events, total_dlp_mgycm from study").values.tolist() == [[3, None]]
    summary = store.write([_report(*REPORTS["ocr"])])
    assert summary.superseded == 1 and summary.ingested == 1 and summary.new_events == 2
    st = store.read("select source_kind, n_events, total_dlp_mgycm from study")
    assert st.values.tolist() == [["ocr", 2, 300.0]]
    assert store.read("select count(*) as n from ct_event where origin = 'header'")["n"].iloc[0] == 0
    ev = sa.text("select origin from ct_event")
    assert set(store.read(ev)["origin"]) == {"ocr"}
    store.close()
