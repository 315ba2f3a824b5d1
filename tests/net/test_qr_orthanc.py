"""``dmslab qr`` against a real Orthanc (Debian package) on loopback, loaded with a synthetic department.

The PACS holds, besides RDSR-only studies of the synthetic department: a CT study with RDSR + images + a
dose screen (only the RDSR may come), a study whose only dose source is a dose screen (+ images), an image-only
CT study (one image per series), an image-only DX study (every image), and a study whose dose report is a
GE-style Enhanced SR (+ images). Ground truth: the SOP Instance UIDs of the best sources, and the study
totals of the synthetic department.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
import sqlalchemy as sa
from _orthanc import ORTHANC, OrthancServer, free_port
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dmslab.jobs import ingest_paths
from dmslab.net.qr import Peer, QrFilter, QrOptions, run_qr
from dmslab.store import Store
from dmslab.synth.screens import write_screen

pytestmark = pytest.mark.skipif(not os.path.exists(ORTHANC), reason=f"Orthanc not installed at {ORTHANC}")

CT_IMAGE, DX_IMAGE, ESR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.88.22"
MOVE_AET = "DMSLABMOVE"


def _encode(ds: Dataset) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _image(study_uid: str, series_uid: str, modality: str, n: int, *, station: str, date: str = "20260107",
           **attrs: object) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE if modality == "CT" else DX_IMAGE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.StudyInstanceUID, ds.SeriesInstanceUID = modality, study_uid, series_uid
    ds.StudyDate, ds.StudyTime, ds.SeriesNumber, ds.InstanceNumber = date, "101500", 2, n
    ds.PatientID, ds.PatientSex, ds.PatientAge, ds.AccessionNumber = "QRPAT", "F", "054Y", "QRACC"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = "ACME", "Model X", station
    ds.StudyDescription, ds.SeriesDescription = "QR TEST", f"{modality} series"
    if modality == "CT":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.CTDIvol, ds.KVP, ds.XRayTubeCurrent, ds.ExposureTime = 12.5, "120", "200", "500"
        ds.AcquisitionNumber = "1"
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.KVP, ds.ImageAndFluoroscopyAreaDoseProduct, ds.ExposureTime = "70", "2.5", "12"
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.zeros((8, 8), dtype=np.uint16).tobytes()
    return ds


@dataclass
class Pacs:
    server: OrthancServer
    truth: object
    expected: set[str] = field(default_factory=set)  # SOP Instance UIDs qr must bring in
    unwanted: set[str] = field(default_factory=set)  # uploaded but never to be retrieved
    preimported: list[Path] = field(default_factory=list)
    rdsr_studies: list[object] = field(default_factory=list)
    listen_port: int = 0
    a_study: object = None
    esr_study: object = None
    dx_uids: set[str] = field(default_factory=set)


def _pick(truth: object, n_per_modality: int = 4) -> list[object]:
    chosen, per = [], {}
    multi = [s for s in truth.studies if len(s.files) > 1][:1]  # a Siemens-style multi-RDSR study
    for s in multi + list(truth.studies):
        if per.get(s.modality, 0) < n_per_modality and s not in chosen:
            chosen.append(s)
            per[s.modality] = per.get(s.modality, 0) + 1
    return chosen


def _load(server: OrthancServer, root: Path, truth: object, work: Path) -> Pacs:
    pacs = Pacs(server, truth)
    studies = _pick(truth)
    for s in studies:
        server.upload_files([root / f for f in s.files])
        pacs.expected.update(s.sop_instance_uids)
    pacs.rdsr_studies = studies
    pacs.preimported = [root / f for f in studies[-1].files]  # already in the store before qr runs
    # A: RDSR + CT images + a dose screen in the same study -> only the RDSR
    a = pacs.a_study = next(s for s in studies if s.modality == "CT")
    screen = write_screen(work / "screen_a.dcm", "ge", 11)
    sc = pydicom.dcmread(screen.path)
    sc.StudyInstanceUID = a.study_uid
    server.upload(_encode(sc))
    pacs.unwanted.add(sc.SOPInstanceUID)
    for i in range(2):
        img = _image(a.study_uid, generate_uid(), "CT", i + 1, station=a.station_name)
        server.upload(_encode(img))
        pacs.unwanted.add(img.SOPInstanceUID)
    # B: dose screen + images -> only the screen
    b = write_screen(work / "screen_b.dcm", "siemens", 5)
    server.upload_files([Path(b.path)])
    pacs.expected.add(b.sop_instance_uid)
    img = _image(b.study_uid, generate_uid(), "CT", 1, station=b.station_name)
    server.upload(_encode(img))
    pacs.unwanted.add(img.SOPInstanceUID)
    # C: CT images only, two series of three slices -> the first slice of each series
    c = generate_uid()
    for series_uid in (generate_uid(), generate_uid()):
        imgs = [_image(c, series_uid, "CT", i + 1, station="CTX") for i in range(3)]
        for img in imgs:
            server.upload(_encode(img))
        first = min(imgs, key=lambda d: d.SOPInstanceUID)
        pacs.expected.add(first.SOPInstanceUID)
        pacs.unwanted.update(d.SOPInstanceUID for d in imgs if d is not first)
    # D: DX images only -> every image (one exposure each)
    d, d_series = generate_uid(), generate_uid()
    for i in range(2):
        img = _image(d, d_series, "DX", i + 1, station="DXX")
        server.upload(_encode(img))
        pacs.expected.add(img.SOPInstanceUID)
        pacs.dx_uids.add(img.SOPInstanceUID)
    # E: an Enhanced SR dose report (GE style) + images -> the ESR
    e = next(s for s in truth.studies if s.modality == "CT" and s not in studies and len(s.files) == 1)
    esr = pydicom.dcmread(root / e.files[0])
    esr.SOPClassUID = ESR
    esr.SOPInstanceUID = generate_uid()
    server.upload(_encode(esr))
    pacs.expected.add(esr.SOPInstanceUID)
    pacs.esr_study = e
    img = _image(e.study_uid, generate_uid(), "CT", 1, station=e.station_name)
    server.upload(_encode(img))
    pacs.unwanted.add(img.SOPInstanceUID)
    return pacs


@pytest.fixture(scope="module")
def pacs(department: tuple[Path, object], tmp_path_factory: pytest.TempPathFactory):
    root, truth = department
    work = tmp_path_factory.mktemp("orthanc")
    listen = free_port()
    server = OrthancServer(work / "orthanc", modalities={"dmslab": (MOVE_AET, "127.0.0.1", listen)}).start()
    try:
        pacs = _load(server, root, truth, work)
        pacs.listen_port = listen
        yield pacs
    finally:
        server.stop()
        shutil.rmtree(work / "orthanc", ignore_errors=True)


def _peer(pacs: Pacs) -> Peer:
    return Peer("127.0.0.1", pacs.server.dicom_port, pacs.server.aet, "DMSLABQR", timeout_s=5)


def _ingested_uids(url: str) -> set[str]:
    store = Store(url)
    try:
        df = store.read("select sop_instance_uid from source_object where status = 'ingested'")
    finally:
        store.close()
    return set(df["sop_instance_uid"])


WINDOW = QrFilter(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 3, 31), chunk_days=10)


def test_qr_retrieves_the_best_source_once(pacs: Pacs, settings) -> None:
    ingest_paths(pacs.preimported, settings)
    pre = {p.stem for p in pacs.preimported}
    summary = run_qr(_peer(pacs), WINDOW, settings)

    got = _ingested_uids(settings.database_url)
    assert got == pacs.expected, (sorted(got - pacs.expected), sorted(pacs.expected - got))
    assert not got & pacs.unwanted
    assert summary.retrieved == len(pacs.expected) - len(pre)
    assert summary.failed == [] and summary.rejected == 0
    assert summary.skipped.get("already imported") == 1
    n_studies = len(pacs.rdsr_studies) + 4  # + B, C, D, E (A is one of the RDSR studies)
    assert summary.queried == summary.matched == n_studies
    assert summary.sources == {"rdsr": len(pacs.rdsr_studies) - 1, "dose_screen": 1, "images": 2,
                               "enhanced_sr": 1}

    store = Store(settings.database_url)
    try:
        study = store.table("study").set_index("study_uid")
    finally:
        store.close()
    for s in [*pacs.rdsr_studies, pacs.esr_study]:
        row = study.loc[s.study_uid]
        for col in ("total_dlp_mgycm", "total_dap_gym2", "total_rp_dose_gy"):
            want = getattr(s, col)
            if want is not None:
                assert row[col] == pytest.approx(want, rel=1e-9), (s.study_uid, col)

    again = run_qr(_peer(pacs), WINDOW, settings)
    assert again.retrieved == 0 and again.failed == []
    assert again.skipped == {"already imported": n_studies}
    assert _ingested_uids(settings.database_url) == got


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_qr_filters(pacs: Pacs, settings) -> None:
    dry = QrOptions(dry_run=True)
    ct1 = [s for s in pacs.rdsr_studies if s.station_name == pacs.rdsr_studies[0].station_name]
    by_station = run_qr(_peer(pacs), QrFilter(date_from=WINDOW.date_from, date_to=WINDOW.date_to,
                                              station_names=(pacs.rdsr_studies[0].station_name.lower(),)),
                        settings, options=dry)
    assert by_station.matched == len(ct1) + (pacs.esr_study.station_name == ct1[0].station_name)
    # image-only DX study (D) is dropped by --modality CT; SR-only studies are kept (modality known after ingest)
    by_mod = run_qr(_peer(pacs), QrFilter(date_from=WINDOW.date_from, date_to=WINDOW.date_to, modalities=("CT",)),
                    settings, options=dry)
    assert by_mod.queried - by_mod.matched == 1
    protos = {s.protocol for s in pacs.rdsr_studies}
    first = sorted(protos)[0]
    excl = run_qr(_peer(pacs), QrFilter(date_from=WINDOW.date_from, date_to=WINDOW.date_to, exclude=(first,)),
                  settings, options=dry)
    n_first = sum(s.protocol == first for s in pacs.rdsr_studies) + (pacs.esr_study.protocol == first)
    assert excl.matched == excl.queried - n_first


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_qr_by_c_move_to_own_listener(pacs: Pacs, settings) -> None:
    summary = run_qr(_peer(pacs), WINDOW, settings,
                     options=QrOptions(move_aet=MOVE_AET, listen_port=pacs.listen_port))
    got = _ingested_uids(settings.database_url)
    assert got == pacs.expected and summary.failed == []
    assert summary.retrieved == len(got)
    with sa.create_engine(settings.database_url).connect() as conn:
        assert conn.execute(sa.text("select count(*) from source_object where status <> 'ingested'")).scalar() == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_qr_by_c_move_to_a_running_receiver(pacs: Pacs, settings) -> None:
    """C-MOVE to `dmslab receive` (the move destination Orthanc knows): the receiver's worker ingests them."""
    from dmslab.net.scp import Receiver

    rs = replace(settings.receiver, ae_title=MOVE_AET, port=pacs.listen_port, bind_address="127.0.0.1",
                 allowed_aets=(pacs.server.aet,), min_free_bytes=0, poll_s=0.1, max_backoff_s=1.0)
    with Receiver(settings, rs, worker="thread") as rec:
        summary = run_qr(_peer(pacs), WINDOW, settings, options=QrOptions(move_aet=MOVE_AET))
        assert summary.failed == []
        assert rec.wait_drained(60)
    got = _ingested_uids(settings.database_url)
    assert got == pacs.expected, (sorted(got - pacs.expected), sorted(pacs.expected - got))
    again = run_qr(_peer(pacs), WINDOW, settings, options=QrOptions(move_aet=MOVE_AET))
    assert again.retrieved == 0 and set(again.skipped) == {"already imported"}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_qr_command_line(pacs: Pacs, settings, capsys: pytest.CaptureFixture[str]) -> None:
    from dmslab.cli import build_parser

    parser = build_parser("qr")
    args = parser.parse_args(["-q", "qr", "127.0.0.1", str(pacs.server.dicom_port), "--aec", pacs.server.aet,
                              "--from", "2026-01-01", "--to", "2026-03-31", "--modality", "DX", "--timeout", "5"])
    assert args.func(args, lambda _args: settings) == 0
    out = capsys.readouterr().out
    # --modality DX keeps the SR-only studies and the DX image study; drops every study with CT images (A, B, C, E)
    want = {u for s in pacs.rdsr_studies if s is not pacs.a_study for u in s.sop_instance_uids} | pacs.dx_uids
    assert _ingested_uids(settings.database_url) == want
    assert f"{len(want)} objects retrieved" in out and "0 studies failed" in out
