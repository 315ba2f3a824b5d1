"""A DICOM requestor on a raw socket (PS3.8 PDUs by hand): silent, trickling and streaming peers for the receiver
tests, with nothing held in memory but one fragment."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

APP_CONTEXT = "1.2.840.10008.3.1.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
RDSR = "1.2.840.10008.5.1.4.1.1.88.67"


def _uid(uid: str) -> bytes:
    raw = uid.encode()
    return raw + b"\0" if len(raw) % 2 else raw


def _item(kind: int, body: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(body)) + body


def associate_rq(*, calling: str, called: str = "DMSLAB", sop_class: str = RDSR) -> bytes:
    """An A-ASSOCIATE-RQ PDU proposing ``sop_class`` in Explicit VR Little Endian (context id 1)."""
    context = _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, _uid(sop_class)) + _item(0x40, _uid(EXPLICIT_LE)))
    user = _item(0x50, _item(0x51, struct.pack(">I", 16384)))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode() + bytes(32)
            + _item(0x10, _uid(APP_CONTEXT)) + context + user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def connect(port: int, *, source: str = "127.0.0.1", timeout_s: float = 30.0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout_s)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def recv_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    kind, _, length = struct.unpack(">BBI", recv_exact(sock, 6))
    return kind, recv_exact(sock, length)


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other side closed (EOF or reset); blocks up to the socket's timeout."""
    try:
        return sock.recv(65536) == b"" or closed_by_peer(sock)
    except (ConnectionResetError, BrokenPipeError):
        return True


def _element(tag: int, value: bytes) -> bytes:  # implicit VR little endian
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def store_command(sop_instance: str, *, message_id: int = 1) -> bytes:
    """The command set of a C-STORE-RQ with a data set (implicit VR little endian)."""
    body = b"".join((_element(0x00000002, _uid(RDSR)), _element(0x00000100, struct.pack("<H", 0x0001)),
                     _element(0x00000110, struct.pack("<H", message_id)), _element(0x00000700, b"\0\0"),
                     _element(0x00000800, struct.pack("<H", 0x0000)), _element(0x00001000, _uid(sop_instance))))
    return _element(0x00000000, struct.pack("<I", len(body))) + body


def p_data(control: int, data: bytes, *, context_id: int = 1) -> bytes:
    pdv = struct.pack(">IBB", len(data) + 2, context_id, control) + data
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def dataset_chunks(sop_instance: str, size: int, *, chunk: int = 16000) -> Iterator[bytes]:
    """An explicit VR little endian data set of exactly ``size`` bytes (SOP Class/Instance UID, then an OB element
    of zeros), generated in pieces."""
    head = (struct.pack("<HH2sH", 0x0008, 0x0016, b"UI", len(_uid(RDSR))) + _uid(RDSR)
            + struct.pack("<HH2sH", 0x0008, 0x0018, b"UI", len(_uid(sop_instance))) + _uid(sop_instance))
    filler = size - len(head) - 12
    assert filler >= 0 and filler % 2 == 0, "size must leave an even OB value"
    yield head + struct.pack("<HH2s2xI", 0x0042, 0x0011, b"OB", filler)
    zeros = bytes(chunk)
    while filler > 0:
        n = min(chunk, filler)
        yield zeros[:n]
        filler -= n


def associated(port: int, *, calling: str, source: str = "127.0.0.1") -> socket.socket:
    """A socket with an established association (asserts the A-ASSOCIATE-AC)."""
    sock = connect(port, source=source)
    sock.sendall(associate_rq(calling=calling))
    kind, _ = read_pdu(sock)
    assert kind == 0x02, f"association not accepted (PDU type 0x{kind:02X})"
    return sock


def store_streamed(sock: socket.socket, sop_instance: str, size: int) -> int:
    """C-STORE a ``size``-byte data set fragment by fragment; the response status."""
    sock.sendall(p_data(0x03, store_command(sop_instance)))
    for piece, last in _pairs(dataset_chunks(sop_instance, size)):
        sock.sendall(p_data(0x02 if last else 0x00, piece))
    command = b""
    while True:
        kind, body = read_pdu(sock)
        assert kind == 0x04, f"expected P-DATA, got PDU type 0x{kind:02X}"
        command += body[6:]
        if body[5] & 0x02:
            break
    return _status(command)


def _pairs(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    prev = next(chunks)
    for c in chunks:
        yield prev, False
        prev = c
    yield prev, True


def _status(command: bytes) -> int:
    pos = 0
    while pos + 8 <= len(command):
        group, elem, length = struct.unpack_from("<HHI", command, pos)
        if (group, elem) == (0x0000, 0x0900):
            return int(struct.unpack_from("<H", command, pos + 8)[0])
        pos += 8 + length
    raise AssertionError("no Status in the response")


def release(sock: socket.socket) -> None:
    sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))
    kind, _ = read_pdu(sock)
    assert kind == 0x06
    sock.close()
