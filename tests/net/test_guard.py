"""The receiver's front door against strangers, with raw sockets on loopback: silent and trickling connections lose
their slot within the association deadline, slots are per address and in all, oversize PDUs close the connection,
and a silent TLS client does not hold up the accept loop. Every wait has a liveness bound only."""

from __future__ import annotations

import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _raw_dicom import associate_rq, associated, closed_by_peer, connect, p_data, read_pdu, release, store_command
from _receiver_util import echo, make_settings, receiver_settings, wait_until

from dmslab.net.handlers import StoreStatus
from dmslab.net.scp import Receiver
from dmslab.net.status import read_status

pytestmark = pytest.mark.timeout(120) if hasattr(pytest.mark, "timeout") else []


def _receiver(tmp_path: Path, **kw: object) -> Receiver:
    settings = make_settings(tmp_path)
    rec = Receiver(settings, receiver_settings(settings, **kw), worker="none")
    rec.start()
    return rec


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for s in opened:
        s.close()


def _source(address: str) -> str:
    """A second loopback address as the peer's source (Linux routes 127/8 to lo); skipped where unavailable."""
    try:
        with socket.socket() as s:
            s.bind((address, 0))
    except OSError as exc:
        pytest.skip(f"cannot use {address} as a loopback source address here: {exc}")
    return address


def _held(rec: Receiver) -> dict[str, int]:
    return rec._server.slots.held()


def _refused(rec: Receiver) -> int:
    return int(rec._server.slots.refused)


def test_modality_associates_while_24_silent_sockets_are_open(tmp_path: Path, sockets: list[socket.socket]) -> None:
    rec = _receiver(tmp_path, acse_timeout_s=1.0)
    slots = rec._server.slots
    try:
        sockets += [connect(rec.port) for _ in range(24)]  # all from 127.0.0.1, as the modality; none says a word
        wait_until(lambda: slots.taken + slots.refused == 24, 30, "24 connections not seen")
        assert slots.peak == 4 and slots.refused > 0  # never more than 4 held for one address, the rest refused
        # the held ones are closed by the server at the association deadline (the others at accept)
        for s in sockets:
            s.settimeout(30)
        assert all(closed_by_peer(s) for s in sockets)
        wait_until(lambda: _held(rec) == {}, 30, "slots of silent connections not freed")
        assert echo(rec.port) == StoreStatus.SUCCESS  # while the 24 client sockets are still open
        rec.tick()
        assert read_status(rec.inbox.root)["receiver"]["counts"]["connections_refused"] == slots.refused
    finally:
        rec.stop()


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    """An A-ASSOCIATE-RQ that arrives a byte at a time, forever (pynetdicom alone would wait on it for good)."""
    pdu = associate_rq(calling="TESTSCU")
    try:
        for b in pdu:
            if stop.wait(0.2):
                return
            sock.send(bytes([b]))
    except OSError:  # closed by the receiver: what we want
        return


def test_trickling_connections_lose_their_slot(tmp_path: Path, sockets: list[socket.socket]) -> None:
    rec = _receiver(tmp_path, acse_timeout_s=1.0, max_associations_per_address=4)
    stop = threading.Event()
    try:
        sockets += [connect(rec.port) for _ in range(4)]
        threads = [threading.Thread(target=_trickle, args=(s, stop), daemon=True) for s in sockets]
        for t in threads:
            t.start()
        wait_until(lambda: _held(rec) == {"127.0.0.1": 4}, 30, "4 trickling connections held")
        for s in sockets:
            s.settimeout(30)
        assert all(closed_by_peer(s) for s in sockets)  # the receiver closed them while they were still trickling
        wait_until(lambda: _held(rec) == {}, 30, "slots of trickling connections not freed")
        assert echo(rec.port) == StoreStatus.SUCCESS
    finally:
        stop.set()
        rec.stop()


def test_slots_are_per_address_and_in_all(tmp_path: Path, sockets: list[socket.socket]) -> None:
    other, third = _source("127.0.0.2"), _source("127.0.0.3")
    rec = _receiver(tmp_path, acse_timeout_s=60.0, max_associations_per_address=4, max_associations=6)
    try:
        sockets += [connect(rec.port, source=other) for _ in range(8)]
        wait_until(lambda: _refused(rec) == 4 and _held(rec) == {other: 4}, 30, "4 of 8 refused at accept")
        # a silent host holds only its own 4 slots: the modality associates at once, no waiting for any timeout
        assert echo(rec.port) == StoreStatus.SUCCESS
        wait_until(lambda: _held(rec) == {other: 4}, 30, "slot of the echo not given back")
        sockets += [connect(rec.port, source=third) for _ in range(2)]
        wait_until(lambda: _held(rec) == {other: 4, third: 2}, 30, "second host held")
        assert echo(rec.port) is None  # now all 6 slots are taken: refused at accept
        wait_until(lambda: _refused(rec) == 5, 30, "global refusal not counted")
    finally:
        rec.stop()


def test_idle_association_is_aborted(tmp_path: Path) -> None:
    rec = _receiver(tmp_path, network_timeout_s=1.0)
    try:
        sock = associated(rec.port, calling="TESTSCU")
        sock.settimeout(30)
        kind, _ = read_pdu(sock)  # nothing sent after the association: the receiver aborts it
        assert kind == 0x07  # A-ABORT
        wait_until(lambda: _held(rec) == {}, 30, "slot of the idle association not freed")
    finally:
        rec.stop()


def test_trickling_pdu_after_association_is_cut_off(tmp_path: Path) -> None:
    rec = _receiver(tmp_path, network_timeout_s=1.0)
    try:
        sock = associated(rec.port, calling="TESTSCU")
        pdu = p_data(0x03, store_command("1.2.3.4"))
        sock.settimeout(30)
        closed = False
        for b in pdu:  # one byte every 0.3 s: the idle timer would restart on every complete PDU, never here
            try:
                sock.send(bytes([b]))
            except OSError:
                closed = True
                break
            time.sleep(0.3)
        assert closed or closed_by_peer(sock)
        wait_until(lambda: _held(rec) == {}, 30, "slot of the trickling association not freed")
    finally:
        rec.stop()


@pytest.mark.parametrize("kind", [0x01, 0x04])
def test_pdu_longer_than_allowed_closes_at_its_header(tmp_path: Path, kind: int) -> None:
    rec = _receiver(tmp_path)
    try:
        sock = associated(rec.port, calling="TESTSCU") if kind == 0x04 else connect(rec.port)
        sock.sendall(struct.pack(">BBI", kind, 0, 2 * 1024 * 1024 * 1024))  # declares 2 GiB, sends none of it
        sock.settimeout(30)
        assert closed_by_peer(sock)
        assert echo(rec.port) == StoreStatus.SUCCESS
    finally:
        rec.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_silent_tls_client_does_not_block_others(tmp_path: Path, sockets: list[socket.socket]) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    rec = _receiver(tmp_path, tls_cert=cert, tls_key=key, acse_timeout_s=60.0)
    try:
        sockets.append(connect(rec.port))  # TCP only, no ClientHello: the handshake waits in its own thread
        wait_until(lambda: _held(rec) == {"127.0.0.1": 1}, 30, "silent TLS connection not accepted")
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        assert echo(rec.port, ssl_context=client) == StoreStatus.SUCCESS
    finally:
        rec.stop()


def test_released_associations_give_their_slots_back(tmp_path: Path) -> None:
    rec = _receiver(tmp_path, max_associations_per_address=2, max_associations=2)
    try:
        for _ in range(5):  # more than the slots, one after the other
            release(associated(rec.port, calling="TESTSCU"))
            wait_until(lambda: _held(rec) == {}, 30, "slot not given back after release")
        assert _refused(rec) == 0 and rec._server.slots.taken == 5
    finally:
        rec.stop()
