"""The sending side of C-STORE: one association, each file's dataset bytes sent as they are, every response kept.

Why not :meth:`pynetdicom.association.Association.send_c_store`: it pauses the association's reactor thread by
clearing a checkpoint and then waiting for a flag the reactor sets *just before* it waits on that checkpoint. When
the reactor thread loses the GIL after passing the checkpoint but before taking the next message off the DIMSE
queue (likely when other threads or processes compete for the CPU), ``send_c_store`` goes on, sends, and the
reactor wakes up, takes the C-STORE response off the queue and drops it ("Received unexpected C-STORE service
message"); ``send_c_store`` then waits its whole DIMSE timeout (30 s) for a response that is gone and aborts.
Measured under ``shared/tools/under-load`` (4 busy loops, 2 cores), sender and receiver in one process: 283 of
1 873 objects answered, the rest never sent; with pynetdicom's default 1 ms reactor poll as well.

Here the responses are collected where they are decoded, in the DUL thread (``EVT_DIMSE_RECV``; a lost
connection arrives as ``EVT_CONN_CLOSE``), so whichever thread later takes them off the DIMSE queue, none is lost.
The reactor is kept paused while we send only so that it does not log each response as unexpected.

Each Part 10 file is sent as its own bytes after the File Meta Information, over a presentation context proposed
for its SOP class *and* transfer syntax (as dcmtk ``storescu -R`` does): nothing is decoded or re-encoded.
"""

from __future__ import annotations

import io
import logging
import queue
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE

__all__ = ["MAX_CONTEXTS", "Part10Header", "Peer", "StoreAssociation", "read_part10_header"]

logger = logging.getLogger(__name__)

#: Presentation contexts one association can propose (PS3.8 §9.3.2.2: odd IDs 1-255).
MAX_CONTEXTS = 128
_HEAD_BYTES = 8192
_META_TAGS = {0x00020002: "sop_class", 0x00020003: "sop_instance", 0x00020010: "transfer_syntax"}
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})


@dataclass(frozen=True, slots=True)
class Part10Header:
    """Where a DICOM Part 10 file's dataset starts, and the UIDs of its File Meta Information."""

    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    offset: int

    def dataset_bytes(self) -> bytes:
        """The encoded dataset, as it will go on the wire."""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            return fh.read()


def _meta_elements(head: bytes, end: int) -> dict[str, str]:
    found: dict[str, str] = {}
    pos = 132 + 12
    while pos + 8 <= end:
        group, elem, vr = struct.unpack_from("<HH2s", head, pos)
        if vr in _LONG_VRS:
            if pos + 12 > end:
                raise ValueError(f"File Meta Information ends inside the header of ({group:04X},{elem:04X})")
            length, pos = struct.unpack_from("<I", head, pos + 8)[0], pos + 12
        else:
            length, pos = struct.unpack_from("<H", head, pos + 6)[0], pos + 8
        name = _META_TAGS.get(group << 16 | elem)
        if name:
            found[name] = head[pos:pos + length].decode("ascii", "replace").rstrip("\0 ")
        pos += length
    return found


def read_part10_header(path: Path) -> Part10Header:
    """Read the File Meta Information (PS3.10 §7.1) of ``path``.

    Raises
    ------
    ValueError
        When the file is not a DICOM Part 10 file with the group length and the three UIDs we need (the message
        says what is missing).
    """
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    if head[128:132] != b"DICM":
        raise ValueError("not a DICOM Part 10 file (no 'DICM' after the 128-byte preamble)")
    if head[132:138] != b"\x02\x00\x00\x00UL" or len(head) < 144:
        raise ValueError("File Meta Information without its group length (0002,0000)")
    end = 144 + struct.unpack_from("<I", head, 140)[0]
    if end > len(head):
        raise ValueError(f"File Meta Information longer than {_HEAD_BYTES} bytes")
    found = _meta_elements(head, end)
    missing = sorted(set(_META_TAGS.values()) - set(found))
    if missing:
        raise ValueError(f"File Meta Information lacks {', '.join(missing)}")
    return Part10Header(path, found["sop_class"], found["sop_instance"], found["transfer_syntax"], end)


@dataclass(frozen=True, slots=True)
class Peer:
    """The Storage SCP to send to: address, AE titles, and the TLS context (``None``: plain DICOM)."""

    host: str
    port: int
    called_aet: str
    calling_aet: str
    ssl_context: Any = None


class _Responses:
    """C-STORE responses ``(message id, status)`` and lost connections (``None``), as the DUL thread sees them."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[int, int] | None] = queue.Queue()

    def on_dimse_recv(self, event: Any) -> None:
        cs = event.message.command_set
        if cs is not None and "MessageIDBeingRespondedTo" in cs:
            self.queue.put((int(cs.MessageIDBeingRespondedTo), int(cs.get("Status", 0xFFFF))))

    def on_conn_close(self, event: Any) -> None:
        self.queue.put(None)


class StoreAssociation:
    """One association that C-STOREs Part 10 files; use :meth:`open`, then :meth:`store`, then :meth:`close`."""

    def __init__(self, assoc: Any, responses: _Responses, timeout_s: float) -> None:
        self._assoc = assoc
        self._responses = responses
        self._timeout_s = timeout_s
        self._message_id = 0
        self._lost = False
        self._contexts = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0])): int(cx.context_id)
                          for cx in assoc.accepted_contexts}
        assoc._reactor_checkpoint.clear()  # keep the reactor off the DIMSE queue (see the module docstring)

    @classmethod
    def open(cls, peer: Peer, pairs: list[tuple[str, str]], *, timeout_s: float = 30.0,
             conn_open: Callable[[Any], None] | None = None) -> StoreAssociation | None:
        """Associate with one presentation context per ``(SOP class, transfer syntax)`` in ``pairs`` (at most
        :data:`MAX_CONTEXTS`); ``None`` when the association is refused or the peer cannot be reached.
        ``conn_open`` is an extra ``EVT_CONN_OPEN`` handler (socket options)."""
        ae = AE(ae_title=peer.calling_aet)
        ae.dimse_timeout = ae.network_timeout = timeout_s
        for sop_class, syntax in pairs[:MAX_CONTEXTS]:
            ae.add_requested_context(sop_class, [syntax])
        responses = _Responses()
        bound: list[Any] = [(evt.EVT_DIMSE_RECV, responses.on_dimse_recv),
                            (evt.EVT_CONN_CLOSE, responses.on_conn_close)]
        if conn_open is not None:
            bound.append((evt.EVT_CONN_OPEN, conn_open))
        tls = (peer.ssl_context, peer.host) if peer.ssl_context is not None else None
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.called_aet, tls_args=tls, evt_handlers=bound)
        if not assoc.is_established:
            return None
        return cls(assoc, responses, timeout_s)

    @property
    def usable(self) -> bool:
        """Whether more objects can be sent (the association is up and every request so far got its response)."""
        return not self._lost and bool(self._assoc.is_established)

    def accepts(self, header: Part10Header) -> bool:
        """Whether the peer accepted a context for this file's SOP class and transfer syntax."""
        return (header.sop_class, header.transfer_syntax) in self._contexts

    def store(self, header: Part10Header) -> int | None:
        """C-STORE one file; its response status, or ``None`` when the association ended without a response or
        none came within the timeout (then the association is aborted)."""
        if not self.usable:
            return None
        self._message_id = self._message_id % 0xFFFF + 1
        req = C_STORE()
        req.MessageID = self._message_id
        req.Priority = 2
        req.AffectedSOPClassUID = header.sop_class
        req.AffectedSOPInstanceUID = header.sop_instance
        req.DataSet = io.BytesIO(header.dataset_bytes())
        self._assoc.dimse.send_msg(req, self._contexts[(header.sop_class, header.transfer_syntax)])
        status = self._wait(self._message_id)
        self._drain()
        return status

    def _wait(self, message_id: int) -> int | None:
        deadline = time.monotonic() + self._timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._responses.queue.get(timeout=left)
            except queue.Empty:
                break
            if item is None:
                logger.warning("connection closed while waiting for the response to message %d", message_id)
                self._lost = True
                return None
            if item[0] == message_id:
                return item[1]
            logger.warning("ignored a response to message %d while waiting for %d", item[0], message_id)
        logger.error("no response to message %d within %.0f s: aborting the association", message_id,
                     self._timeout_s)
        self._lost = True
        return None

    def _drain(self) -> None:
        """Take the responses off pynetdicom's DIMSE queue (nobody else does while the reactor is paused)."""
        while True:
            try:
                self._assoc.dimse.msg_queue.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        """Release the association (abort it if it is broken)."""
        self._assoc._reactor_checkpoint.set()
        if self._lost or not self._assoc.is_established:
            self._assoc.abort()
        else:
            self._assoc.release()
