"""MPPS SCP: a pynetdicom SCU sends N-CREATE then N-SET COMPLETED; the ``mpps`` row holds the dose content in
canonical units (hand-converted references below), bad requests get an error status, the SCP keeps serving."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pandas as pd
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.sop_class import ModalityPerformedProcedureStep, Verification

from dmslab.ingest.mpps import mpps_values
from dmslab.jobs import ingest_paths
from dmslab.net.inbox import Inbox
from dmslab.net.mpps import link_mpps, start_mpps_scp
from dmslab.net.worker import IngestWorker
from dmslab.records import MppsRecord
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
def mpps(settings, tmp_path) -> Iterator[tuple[Association, str, Inbox]]:
    """A standalone MPPS SCP on an inbox, its ingest worker in a thread, and an association to it."""
    from _receiver_util import receiver_settings

    inbox = Inbox(tmp_path / "inbox", min_free_bytes=0)
    worker = IngestWorker(inbox, settings, receiver_settings(settings))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="dmslab-ingest")
    thread.start()
    server = start_mpps_scp(inbox, ae_title="DMSLAB", port=0)
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(ModalityPerformedProcedureStep)
    ae.add_requested_context(Verification)
    host, port = server.server_address[:2]
    assoc = ae.associate(host, port, ae_title="DMSLAB")
    assert assoc.is_established
    try:
        yield assoc, settings.database_url, inbox
    finally:
        if assoc.is_established:
            assoc.release()
        server.shutdown()
        stop.set()
        thread.join(60)
        worker.close()


def _drained(inbox: Inbox, timeout_s: float = 60.0) -> None:
    """Wait until the worker has stored every kept request (a liveness guard, not what the test checks)."""
    from _receiver_util import wait_until

    wait_until(lambda: not inbox.pending(), timeout_s, "MPPS requests still pending in the inbox")
    assert not list((inbox.root / "failed").iterdir())


def _rows(url: str, inbox: Inbox | None = None) -> dict[str, dict]:
    if inbox is not None:
        _drained(inbox)
    store = Store(url)
    try:
        df = store.table("mpps")
    finally:
        store.close()
    return {r["sop_instance_uid"]: r for r in df.to_dict("records")}


def _status(result: tuple[Dataset, Dataset | None]) -> int:
    return int(result[0].Status)


def test_n_create_then_n_set_stores_dose_in_canonical_units(mpps, department, settings) -> None:
    assoc, url, inbox = mpps
    root, truth = department
    rf = next(s for s in truth.studies if s.modality == "RF")
    uid = generate_uid()
    created = assoc.send_n_create(_create_ds(rf.study_uid, "RF", rf.station_name), ModalityPerformedProcedureStep,
                                  uid)
    assert _status(created) == SUCCESS
    row = _rows(url, inbox)[uid]
    assert row["status"] == "IN PROGRESS" and pd.isna(row["study_id"])  # the study is not in the store yet
    assert _status(assoc.send_n_set(_fluoro_set(), ModalityPerformedProcedureStep, uid)) == SUCCESS

    row = _rows(url, inbox)[uid]
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
    assert _rows(url, inbox)[uid]["study_id"] == sid


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_ct_step_and_bad_requests(mpps, department, settings) -> None:
    assoc, url, inbox = mpps
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
    assert _rows(url, inbox)[uid]["status"] == "IN PROGRESS" and _rows(url, inbox)[uid]["n_sets"] == 0

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
    row = _rows(url, inbox)[uid]
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
    assert len(_rows(url, inbox)) == 2


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
    rs = receiver_settings(settings)
    assert IngestWorker(Inbox(rs.inbox_dir, min_free_bytes=0), settings, rs).drain() == 2  # no worker ran: drain
    row = _rows(settings.database_url)[uid]
    assert row["status"] == "COMPLETED" and row["dap_gym2"] == pytest.approx(0.015345)
    with Receiver(settings, receiver_settings(settings, mpps=False), worker="none") as rec:
        assoc = ae.associate("127.0.0.1", rec.port, ae_title=rec.receiver.ae_title)
        assert not assoc.is_established  # no presentation context for MPPS: association rejected or aborted


def test_mpps_received_while_the_store_is_locked_is_stored_afterwards(tmp_path, department) -> None:
    """The association answers from the inbox: with the database locked by another writer, N-CREATE and N-SET get
    Success, wait durably in the inbox, and are stored once the lock is gone; no association thread runs SQL."""
    import sqlite3

    import sqlalchemy as sa
    from _receiver_util import make_settings, receiver_settings

    from dmslab.net.scp import Receiver

    _root, truth = department
    rf = next(s for s in truth.studies if s.modality == "RF")
    settings = make_settings(tmp_path)
    Store(settings.database_url).close()  # the database and its schema exist
    sql_threads: list[threading.Thread] = []

    def on_execute(*_args: object) -> None:
        sql_threads.append(threading.current_thread())

    blocker = sqlite3.connect(tmp_path / "home" / "dmslab.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", on_execute)
    try:
        with Receiver(settings, receiver_settings(settings), worker="thread") as rec:
            ae = AE(ae_title="TESTSCU")
            ae.add_requested_context(ModalityPerformedProcedureStep)
            assoc = ae.associate("127.0.0.1", rec.port, ae_title=rec.receiver.ae_title)
            assert assoc.is_established
            uid = generate_uid()
            assert _status(assoc.send_n_create(_create_ds(rf.study_uid, "RF", rf.station_name),
                                               ModalityPerformedProcedureStep, uid)) == SUCCESS
            assert _status(assoc.send_n_set(_fluoro_set(), ModalityPerformedProcedureStep, uid)) == SUCCESS
            assert _status(assoc.send_n_create(_create_ds(rf.study_uid, "RF", rf.station_name),
                                               ModalityPerformedProcedureStep, uid)) == DUPLICATE
            assoc.release()
            assert len(rec.inbox.pending()) == 2  # both kept, none stored: the database is still locked
            blocker.execute("ROLLBACK")
            assert rec.wait_drained(120)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", on_execute)
        blocker.close()
    row = _rows(settings.database_url)[uid]
    assert row["status"] == "COMPLETED" and row["n_sets"] == 1 and row["dap_gym2"] == pytest.approx(0.015345)
    assert row["fluoro_time_s"] == 312.0 and row["station_name"] == rf.station_name
    assert "dmslab-ingest" in {t.name for t in sql_threads}  # the worker wrote the step
    assert not [t for t in sql_threads if isinstance(t, Association)]  # no SQL in an association thread


def test_a_request_the_store_refuses_is_kept_in_failed_with_its_reason(tmp_path, capsys) -> None:
    """A kept N-CREATE of a step the store already holds (e.g. resent after a crash) and an unreadable MPPS file are
    moved to failed/ with the reason; the step keeps its first values."""
    from _receiver_util import make_settings, receiver_settings

    from dmslab.cli import main
    from dmslab.ingest.mpps import mpps_file_bytes

    settings = make_settings(tmp_path)
    rs = receiver_settings(settings)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    uid, t0 = generate_uid(), dt.datetime(2026, 1, 7, 10, 15)
    first = _create_ds("1.2.3", "RF", "RF1")
    again = _create_ds("1.2.3", "RF", "RF1")
    again.PerformedProcedureStepDescription = "resent"
    inbox.put(mpps_file_bytes(first, operation="create", sop_instance_uid=uid, received_at=t0), name="mpps-1")
    inbox.put(mpps_file_bytes(again, operation="create", sop_instance_uid=uid, received_at=t0), name="mpps-2")
    inbox.put(b"not DICOM", name="mpps-3")
    assert IngestWorker(inbox, settings, rs).drain() == 3
    assert not inbox.pending()
    failed = inbox.root / "failed"
    assert (failed / "mpps-2.dcm.reason.txt").read_text().startswith(f"duplicate_instance: MPPS {uid} already exists")
    assert (failed / "mpps-3.dcm.reason.txt").read_text().startswith("InvalidDicomError")
    row = _rows(settings.database_url)[uid]
    assert row["description"] == "Angio legs" and row["updated_at"] == t0 and pd.isna(row["study_id"])
    assert main(["--home", str(settings.home), "--database-url", settings.database_url, "mpps", "--link"]) == 0
    assert capsys.readouterr().out == "linked 0 MPPS step(s) to their studies\n"  # study 1.2.3 is not in the store


def test_steps_stored_before_the_ledger_existed_still_take_their_n_set(tmp_path) -> None:
    """A step in progress that only the store knows (stored by an older dmslab) is put in the SCP's ledger when the
    ingest worker starts, so its N-SET is accepted; a final one is not needed there."""
    from _receiver_util import make_settings, receiver_settings

    from dmslab.net.mpps import StepLedger
    from dmslab.records import MppsMessage

    settings = make_settings(tmp_path)
    rs = receiver_settings(settings)
    store = Store(settings.database_url)
    old, done = generate_uid(), generate_uid()
    t0 = dt.datetime(2026, 1, 7, 10, 15)
    try:
        store.write_mpps(MppsMessage("create", old, t0, (("status", "IN PROGRESS"),)))
        store.write_mpps(MppsMessage("create", done, t0, (("status", "COMPLETED"),)))
    finally:
        store.close()
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    ledger = StepLedger(inbox.root / "mpps")
    assert ledger.status(old) is None
    stop = threading.Event()
    stop.set()  # run() prepares, then returns at once
    worker = IngestWorker(inbox, settings, rs)
    worker.run(stop)
    worker.close()
    assert ledger.status(old) == "IN PROGRESS" and ledger.status(done) is None
