"""MPPS SCP: a pynetdicom SCU sends N-CREATE then N-SET COMPLETED; the ``mpps`` row holds the dose content in
canonical units (hand-converted references below), bad requests get an error status, the SCP keeps serving."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pandas as pd
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

from dmslab.jobs import ingest_paths
from dmslab.net.mpps import MppsRecord, link_mpps, mpps_values, start_mpps_scp
from dmslab.store import Store

SUCCESS, INVALID_VALUE, PROCESSING_FAILURE, DUPLICATE, NO_SUCH = 0x0000, 0x0106, 0x0110, 0x0111, 0x0112


def _create_ds(study_uid: str, modality: str, station: str) -> Dataset:
    step = Dataset()
    step.StudyInstanceUID, step.AccessionNumber = study_uid, "ACC1"
    step.ScheduledProcedureStepID, step.RequestedProcedureID = "SPS1", "RP1"
    ds = Dataset()
    ds.ScheduledStepAttributesSequence = [step]
    ds.PatientName, ds.PatientID = "DOE^JANE", "PAT1"
    ds.PerformedProcedureStepID, ds.PerformedProcedureStepStatus = "PPS-77", "IN PROGRESS"
    ds.PerformedStationAETitle, ds.PerformedStationName, ds.Modality = f"{station}_AE", station, modality
    ds.PerformedProcedureStepStartDate, ds.PerformedProcedureStepStartTime = "20260107", "101500"
    ds.PerformedProcedureStepEndDate = ds.PerformedProcedureStepEndTime = ""
    ds.PerformedProcedureStepDescription = "Angio legs"
    ds.PerformedSeriesSequence = []
    return ds


def _fluoro_set() -> Dataset:
    """N-SET COMPLETED of a fluoroscopy step: 312 s, 27 exposures, 12 dGy, 225 cm2, 1534.5 dGy.cm2."""
    ds = Dataset()
    ds.PerformedProcedureStepStatus = "COMPLETED"
    ds.PerformedProcedureStepEndDate, ds.PerformedProcedureStepEndTime = "20260107", "104230.25"
    ds.TotalTimeOfFluoroscopy, ds.TotalNumberOfExposures = 312, 27
    ds.EntranceDose, ds.ExposedArea = 12, 225
    ds.ImageAndFluoroscopyAreaDoseProduct = "1534.5"
    item = Dataset()
    item.KVP, item.ExposureTime = "81", 100
    ds.ExposureDoseSequence = [item, item]
    ds.CommentsOnRadiationDose = "Ka,r 1.2 Gy"
    series = Dataset()
    series.SeriesInstanceUID, series.SeriesDescription = "1.2.3.4", "run 1"
    ds.PerformedSeriesSequence = [series, series, series]
    return ds


@pytest.fixture
def mpps(db_url: str) -> Iterator[tuple[Association, str]]:
    server = start_mpps_scp(db_url, ae_title="DMSLAB", port=0)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    ae.add_requested_context(Verification)
    host, port = server.server_address[:2]
    assoc = ae.associate(host, port, ae_title="DMSLAB")
    assert assoc.is_established
    try:
        yield assoc, db_url
    finally:
        if assoc.is_established:
            assoc.release()
        server.shutdown()


def _rows(url: str) -> dict[str, dict]:
    store = Store(url)
    try:
        df = store.table("mpps")
    finally:
        store.close()
    return {r["sop_instance_uid"]: r for r in df.to_dict("records")}


def _status(result: tuple[Dataset, Dataset | None]) -> int:
    return int(result[0].Status)


def test_n_create_then_n_set_stores_dose_in_canonical_units(mpps, department, settings) -> None:
    assoc, url = mpps
    root, truth = department
    rf = next(s for s in truth.studies if s.modality == "RF")
    uid = generate_uid()
    created = assoc.send_n_create(_create_ds(rf.study_uid, "RF", rf.station_name), ModalityPerformedProcedureStep,
                                  uid)
    assert _status(created) == SUCCESS
    row = _rows(url)[uid]
    assert row["status"] == "IN PROGRESS" and pd.isna(row["study_id"])  # the study is not in the store yet
    assert _status(assoc.send_n_set(_fluoro_set(), ModalityPerformedProcedureStep, uid)) == SUCCESS

    row = _rows(url)[uid]
    assert row["status"] == "COMPLETED" and row["pps_id"] == "PPS-77" and row["n_sets"] == 1
    assert row["study_uid"] == rf.study_uid and row["modality"] == "RF" and row["station_name"] == rf.station_name
    assert row["station_ae"] == f"{rf.station_name}_AE" and row["description"] == "Angio legs"
    assert row["start_datetime"] == dt.datetime(2026, 1, 7, 10, 15, 0)
    assert row["end_datetime"] == dt.datetime(2026, 1, 7, 10, 42, 30)
    assert row["fluoro_time_s"] == 312.0 and row["n_exposures"] == 27
    assert row["entrance_dose_mgy"] == pytest.approx(1200.0)  # 12 dGy
    assert row["exposed_area_m2"] == pytest.approx(0.0225)  # 225 cm2
    assert row["dap_gym2"] == pytest.approx(0.015345)  # 1534.5 dGy.cm2 = 1534.5 * 0.1 Gy * 1e-4 m2
    assert row["n_exposure_dose_items"] == 2 and row["n_series"] == 3
    assert row["dose_comment"] == "Ka,r 1.2 Gy" and row["dlp_mgycm"] is None and row["flags"] is None

    # the study arrives later: link_mpps fills study_id
    ingest_paths([root / f for f in rf.files], settings)
    assert link_mpps(url) == 1
    store = Store(url)
    try:
        sid = store.read("select id from study where study_uid = :u", u=rf.study_uid)["id"].iloc[0]
    finally:
        store.close()
    assert _rows(url)[uid]["study_id"] == sid


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_ct_step_and_bad_requests(mpps, department, settings) -> None:
    assoc, url = mpps
    root, truth = department
    ct = next(s for s in truth.studies if s.modality == "CT")
    ingest_paths([root / f for f in ct.files], settings)
    uid = generate_uid()
    ds = _create_ds(ct.study_uid, "CT", ct.station_name)
    assert _status(assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)) == SUCCESS
    assert _status(assoc.send_n_create(ds, ModalityPerformedProcedureStep, uid)) == DUPLICATE
    assert _status(assoc.send_n_set(_fluoro_set(), ModalityPerformedProcedureStep, generate_uid())) == NO_SUCH
    bad = Dataset()
    bad.PerformedProcedureStepStatus = "FINISHED"
    assert _status(assoc.send_n_set(bad, ModalityPerformedProcedureStep, uid)) == INVALID_VALUE
    bad = Dataset()
    bad.add_new(0x00400250, "DA", "20261345")  # month 13
    assert _status(assoc.send_n_set(bad, ModalityPerformedProcedureStep, uid)) == INVALID_VALUE
    assert _rows(url)[uid]["status"] == "IN PROGRESS" and _rows(url)[uid]["n_sets"] == 0

    done = Dataset()
    done.PerformedProcedureStepStatus = "COMPLETED"
    items = []
    for ctdi in (12.3, 8.1):
        item = Dataset()
        item.CTDIvol, item.KVP = ctdi, "120"
        items.append(item)
    done.CTExposureSequence = items
    done.CommentsOnRadiationDose = "Total DLP: 456.7 mGy*cm"
    assert _status(assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)) == SUCCESS
    row = _rows(url)[uid]
    assert row["ctdivol_mgy"] == pytest.approx(12.3) and row["n_ct_exposures"] == 2
    assert row["dlp_mgycm"] == pytest.approx(456.7) and row["status"] == "COMPLETED"
    store = Store(url)
    try:
        sid = store.read("select id from study where study_uid = :u", u=ct.study_uid)["id"].iloc[0]
    finally:
        store.close()
    assert row["study_id"] == sid  # the study was in the store: linked at once
    assert _status(assoc.send_n_set(done, ModalityPerformedProcedureStep, uid)) == PROCESSING_FAILURE
    # still serving, on this association and on a new one
    assert int(assoc.send_c_echo().Status) == SUCCESS
    assert _status(assoc.send_n_create(_create_ds(ct.study_uid, "CT", "CT9"), ModalityPerformedProcedureStep,
                                       generate_uid())) == SUCCESS
    assert len(_rows(url)) == 2


def test_mpps_values_units_without_network() -> None:
    ds = _fluoro_set()
    ds.EntranceDoseInmGy = "1234.5"  # preferred over the dGy attribute when both are sent
    values = mpps_values(ds)
    assert values["entrance_dose_mgy"] == pytest.approx(1234.5)
    assert values["dap_gym2"] == pytest.approx(1534.5e-5)
    assert "study_uid" not in values and values["status"] == "COMPLETED"
    record = MppsRecord("1.2", "COMPLETED", dt.datetime(2026, 1, 1), dap_gym2=5.0).checked()
    assert record.flags == "dap_gym2=5.0: above plausible maximum 0.5 Gy.m2"



def test_receiver_port_also_takes_mpps(tmp_path, department) -> None:
    """MPPS sent to the receiver's own AE and port is stored (setting ``mpps``, on by default); off, it is refused."""
    from _receiver_util import make_settings, receiver_settings

    from dmslab.net.scp import Receiver

    _root, truth = department
    rf = next(s for s in truth.studies if s.modality == "RF")
    settings = make_settings(tmp_path)
    with Receiver(settings, receiver_settings(settings), worker="none") as rec:
        ae = AE(ae_title="TESTSCU")  # on the test receiver's allow-list
        ae.add_requested_context(ModalityPerformedProcedureStep)
        assoc = ae.associate("127.0.0.1", rec.port, ae_title=rec.receiver.ae_title)
        assert assoc.is_established
        uid = generate_uid()
        assert _status(assoc.send_n_create(_create_ds(rf.study_uid, "RF", rf.station_name),
                                           ModalityPerformedProcedureStep, uid)) == SUCCESS
        assert _status(assoc.send_n_set(_fluoro_set(), ModalityPerformedProcedureStep, uid)) == SUCCESS
        assoc.release()
    row = _rows(settings.database_url)[uid]
    assert row["status"] == "COMPLETED" and row["dap_gym2"] == pytest.approx(0.015345)
    with Receiver(settings, receiver_settings(settings, mpps=False), worker="none") as rec:
        assoc = ae.associate("127.0.0.1", rec.port, ae_title=rec.receiver.ae_title)
        assert not assoc.is_established  # no presentation context for MPPS: association rejected or aborted
