"""The Storage SCP in this process: echo, allow-list, TCP_NODELAY, refusals with a reason, receiver keeps serving."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _receiver_util import RDSR, echo, make_dataset, make_settings, raw_store, receiver_settings, wait_until
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE

from dmslab.net._reactor import EventDul
from dmslab.net.handlers import StoreStatus
from dmslab.net.scp import MAX_PDU_BYTES, Receiver, send_files
from dmslab.net.status import read_status


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    """A receiver without worker: what arrives stays in the inbox, where the tests look at it."""
    settings = make_settings(tmp_path)
    rec = Receiver(settings, receiver_settings(settings), worker="none")
    rec.start()
    yield rec
    rec.stop()


def _first_rdsr(department: tuple[Path, object]) -> Path:
    return sorted(department[0].rglob("*.dcm"))[0]


def test_echo_and_allow_list(receiver: Receiver) -> None:
    assert echo(receiver.port) == StoreStatus.SUCCESS
    assert echo(receiver.port, calling="INTRUDER") is None
    assert echo(receiver.port, called="NOT_DMSLAB") is None  # a sender configured with another AE title
    wait_until(lambda: read_status(receiver.inbox.root)["receiver"]["counts"].get("associations_rejected") == 2,
               5, "rejection not counted")


def test_store_is_in_the_inbox_before_success(receiver: Receiver, department: tuple[Path, object]) -> None:
    path = _first_rdsr(department)
    result = send_files([path], ("127.0.0.1", receiver.port), called_aet="DMSLAB", calling_aet="TESTSCU")
    assert len(result.success) == 1
    [stored] = receiver.inbox.pending()
    assert stored.name.startswith(result.success[0] + ".")
    data = stored.read_bytes()
    assert data[128:132] == b"DICM" and path.read_bytes()[-2000:] == data[-2000:]  # same data set bytes


def test_receiver_offers_large_pdus_and_objects_of_many_pdus_arrive_whole(receiver: Receiver) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(RDSR, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="DMSLAB")
    assert assoc.is_established
    try:
        assert assoc.acceptor.maximum_length == MAX_PDU_BYTES == 256 * 1024
        [server_side] = receiver._server.active_associations
        assert isinstance(server_side.dul, EventDul)  # the receiver's associations run the event-driven reactor
        ds = make_dataset("1.2.826.0.1.3680043.8.498.77")
        ds.TextValue = "x" * (3 * MAX_PDU_BYTES + 123)  # a data set of four P-DATA PDUs
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        assert assoc.send_c_store(ds).Status == StoreStatus.SUCCESS
    finally:
        assoc.release()
    [stored] = receiver.inbox.pending()
    back = dcmread(stored)
    assert back.SOPInstanceUID == "1.2.826.0.1.3680043.8.498.77" and back.TextValue == ds.TextValue


def test_tcp_nodelay_is_set_on_the_scp_socket(receiver: Receiver) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="DMSLAB")
    assert assoc.is_established
    try:
        [server_side] = receiver._server.active_associations
        sock = server_side.dul.socket.socket
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        assoc.release()


@pytest.mark.parametrize("payload, expected", [
    (b"this is not DICOM at all" * 10, {StoreStatus.CANNOT_UNDERSTAND, StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS}),
    (bytes(range(256)) * 40, {StoreStatus.CANNOT_UNDERSTAND, StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS}),
])
def test_non_dicom_payload_is_refused(receiver: Receiver, payload: bytes, expected: set[int]) -> None:
    assert raw_store(receiver.port, payload) in expected
    assert receiver.inbox.pending() == []
    assert echo(receiver.port) == StoreStatus.SUCCESS


def test_dataset_of_another_object_is_refused(receiver: Receiver, department: tuple[Path, object]) -> None:
    data = _first_rdsr(department).read_bytes()
    body = data[132 + 12 + struct.unpack("<I", data[140:144])[0]:]  # skip preamble and file meta group
    assert raw_store(receiver.port, body, sop_instance="1.2.3.999") == StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS
    assert receiver.inbox.pending() == []


def test_unknown_sop_class_is_rejected_at_association(receiver: Receiver) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context("1.2.840.10008.5.1.4.1.1.481.1")  # RT Image Storage: not a dose object we take
    ae.add_requested_context("1.2.840.10008.1.1")
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="DMSLAB")
    assert assoc.is_established
    try:
        assert [cx.abstract_syntax for cx in assoc.rejected_contexts] == ["1.2.840.10008.5.1.4.1.1.481.1"]
        assert [cx.abstract_syntax for cx in assoc.accepted_contexts] == ["1.2.840.10008.1.1"]
    finally:
        assoc.release()
    assert echo(receiver.port) == StoreStatus.SUCCESS


@pytest.mark.parametrize("garbage", [
    b"\x00" * 10,  # unknown PDU type 0x00
    b"\x01\x00\x00\x00\x00\x10" + b"\xff" * 16,  # A-ASSOCIATE-RQ with a nonsense body
    b"\x01\x00\x7f\xff\xff\xff" + b"x" * 100,  # announces a 2 GB PDU, then the connection drops
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # somebody's web browser
])
def test_malformed_pdus_then_still_serving(receiver: Receiver, garbage: bytes) -> None:
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=5) as s:
        s.sendall(garbage)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    assert echo(receiver.port) == StoreStatus.SUCCESS


def test_aborted_association_then_still_serving(receiver: Receiver) -> None:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(RDSR)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="DMSLAB")
    assert assoc.is_established
    assoc.abort()
    assert echo(receiver.port) == StoreStatus.SUCCESS
    assert receiver.inbox.pending() == []


def test_disk_almost_full_refuses_with_out_of_resources(tmp_path: Path, department: tuple[Path, object]) -> None:
    settings = make_settings(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    rec = Receiver(settings, receiver_settings(settings, min_free_bytes=free * 2), worker="none")
    with rec:
        result = send_files([_first_rdsr(department)], ("127.0.0.1", rec.port), called_aet="DMSLAB",
                            calling_aet="TESTSCU")
        assert result.success == [] and [st for _s, st in result.failed] == [StoreStatus.OUT_OF_RESOURCES]
        assert rec.inbox.pending() == []
        assert echo(rec.port) == StoreStatus.SUCCESS
    errors = read_status(rec.inbox.root)["receiver"]["errors"]
    assert "bytes free; object refused" in errors[-1]["message"]


def test_oversize_object_is_refused(tmp_path: Path, department: tuple[Path, object]) -> None:
    settings = make_settings(tmp_path)
    with Receiver(settings, receiver_settings(settings, max_object_bytes=1000), worker="none") as rec:
        result = send_files([_first_rdsr(department)], ("127.0.0.1", rec.port), called_aet="DMSLAB",
                            calling_aet="TESTSCU")
        assert [st for _s, st in result.failed] == [StoreStatus.OUT_OF_RESOURCES]
        assert rec.inbox.pending() == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_echo_and_store(tmp_path: Path, department: tuple[Path, object]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    settings = make_settings(tmp_path)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    with Receiver(settings, receiver_settings(settings, tls_cert=cert, tls_key=key), worker="none") as rec:
        assert echo(rec.port, ssl_context=client) == StoreStatus.SUCCESS
        assert echo(rec.port) is None  # plain DICOM is not spoken on a TLS port
        result = send_files([_first_rdsr(department)], ("localhost", rec.port), called_aet="DMSLAB",
                            calling_aet="TESTSCU", ssl_context=client)
        assert len(result.success) == 1 and len(rec.inbox.pending()) == 1
