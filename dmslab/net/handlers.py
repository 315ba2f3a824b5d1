"""Thin pynetdicom event handlers; dependencies (inbox, status file, limits) arrive as extra arguments.

C-STORE data sets arrive already written, with their file meta, to a partial file in the inbox (streamed by
:mod:`dmslab.net._upload` as the fragments came in, the size limit checked on the way); the handler checks it and
makes it durable *before* answering Success; parsing happens later in the ingest worker. Only the first elements
of the data set are read here, to check that the payload is DICOM and is the object the command announced.
"""

from __future__ import annotations

import enum
import io
import logging
import re
import socket
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

from pydicom.filereader import read_dataset
from pydicom.uid import UID

from dmslab.net._part10 import announced_uids, file_meta_bytes
from dmslab.net._upload import Upload, take_upload
from dmslab.net.inbox import Inbox, InboxFullError
from dmslab.net.status import StatusFile

__all__ = ["StoreStatus", "handle_aborted", "handle_conn_open", "handle_echo", "handle_rejected", "handle_store"]

logger = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_SOP_INSTANCE_UID = 0x00080018
_HEAD_BYTES = 64 * 1024  # of a data set: its SOP Class/Instance UIDs are in the first few hundred bytes


class StoreStatus(enum.IntEnum):
    """C-STORE response statuses used by the receiver (PS3.4 Annex B.2.3, PS3.7 Annex C)."""

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000


def _announced_object(raw: bytes, transfer_syntax: UID) -> tuple[str, str]:
    """SOP Class and Instance UID read from the first elements of the encoded dataset (``raw`` may be a prefix)."""
    implicit = transfer_syntax.is_implicit_VR and not transfer_syntax.is_deflated
    if transfer_syntax.is_little_endian:
        found = announced_uids(raw, implicit_vr=implicit)
        if found is not None:
            return found
    ds = read_dataset(io.BytesIO(raw), implicit, transfer_syntax.is_little_endian,
                      stop_when=lambda tag, _vr, _length: tag > _SOP_INSTANCE_UID)
    return str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))


def _dataset_head(path: Path, transfer_syntax: UID) -> bytes:
    """The first bytes of the data set of a received file (inflated when deflated): enough for its UIDs, never the
    whole object in memory."""
    with open(path, "rb") as fh:
        meta = fh.read(144)  # preamble, DICM, (0002,0000) UL: the group length written by file_meta_bytes
        fh.seek(144 + struct.unpack_from("<I", meta, 140)[0])
        raw = fh.read(_HEAD_BYTES)
    if transfer_syntax.is_deflated:
        raw = zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw, _HEAD_BYTES)
    return raw


def _check(event: Any, upload: Upload) -> tuple[StoreStatus, str] | None:
    """A refusal (status, reason) when the received object cannot be kept or is not the announced DICOM object,
    else ``None``."""
    if upload.refusal is not None:
        kind, why = upload.refusal
        return (StoreStatus.PROCESSING_FAILURE if kind == "write_failed" else StoreStatus.OUT_OF_RESOURCES), why
    req = event.request
    try:
        sop_class, sop = _announced_object(_dataset_head(upload.path, UID(event.context.transfer_syntax)),
                                           UID(event.context.transfer_syntax))
    except Exception as exc:  # pydicom raises many kinds of errors on garbage; all mean "not DICOM"
        return StoreStatus.CANNOT_UNDERSTAND, f"payload is not a DICOM dataset ({type(exc).__name__})"
    if sop != str(req.AffectedSOPInstanceUID) or sop_class != str(req.AffectedSOPClassUID):
        return StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS, "dataset SOP Class/Instance UID differ from the command's"
    return None


def _upload_from_memory(event: Any, inbox: Inbox, max_object_bytes: int) -> Upload:
    """The data set pynetdicom assembled in memory, as an upload (associations not served by the receiver's own
    server, e.g. a plain ``AE.start_server`` given these handlers)."""
    req = event.request
    raw = req.DataSet.getvalue()
    path, fh = inbox.open_incoming()
    upload = Upload(path, fh, nbytes=len(raw), complete=True)
    if len(raw) > max_object_bytes:
        upload.refuse("too_large", f"object of {len(raw)} bytes exceeds max_object_bytes={max_object_bytes}")
        return upload
    with fh:
        fh.write(file_meta_bytes(str(req.AffectedSOPClassUID), str(req.AffectedSOPInstanceUID),
                                 str(event.context.transfer_syntax), event.assoc.requestor.ae_title) + raw)
    upload.fh = None
    return upload


def handle_store(event: Any, inbox: Inbox, status: StatusFile, max_object_bytes: int) -> int | tuple[int, Any]:
    """EVT_C_STORE: check the object streamed to ``inbox/incoming/``, make it durable in ``pending/``, and only then
    answer Success."""
    sop = str(event.request.AffectedSOPInstanceUID)
    upload = take_upload(event) or _upload_from_memory(event, inbox, max_object_bytes)
    refusal = _check(event, upload)
    if refusal is not None:
        upload.discard()
        logger.warning("refused %s from %s: %s", sop, event.assoc.requestor.ae_title, refusal[1])
        status.count("refused", last="last_refused_at", force=True)
        if refusal[0] != StoreStatus.CANNOT_UNDERSTAND and refusal[0] != StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS:
            status.error(f"refused {sop}: {refusal[1]}")
        return refusal[0]
    name = sop if _UID.match(sop) and len(sop) <= 64 else None
    try:
        inbox.commit(upload.path, name=f"{name}.{uuid.uuid4().hex[:8]}" if name else None)
    except InboxFullError as exc:
        status.error(f"refused {sop}: {exc}")
        return StoreStatus.OUT_OF_RESOURCES
    except Exception as exc:  # the receiver keeps serving; the sender keeps the object and may retry
        upload.discard()
        logger.exception("cannot store %s in the inbox", sop)
        status.error(f"cannot store {sop}: {type(exc).__name__}: {exc}")
        return StoreStatus.PROCESSING_FAILURE
    logger.info("received %s from %s", sop, event.assoc.requestor.ae_title)
    status.count("received", last="last_received_at")
    return StoreStatus.SUCCESS


def handle_echo(event: Any) -> int:
    """EVT_C_ECHO: always Success (the association itself was checked against the allow-list)."""
    return StoreStatus.SUCCESS


def handle_conn_open(event: Any) -> None:
    """EVT_CONN_OPEN: set TCP_NODELAY, so that small PDUs are not held back by Nagle's algorithm, and shorten
    this association's reactor poll from pynetdicom's 1 ms to 0.1 ms (an attribute of this association's DUL
    only, no global is changed): measured with bench/bench_net.py, received objects/s 335 -> 445."""
    sock = event.assoc.dul.socket.socket
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    event.assoc.dul._run_loop_delay = 0.0001


def handle_rejected(event: Any, status: StatusFile) -> None:
    """EVT_REJECTED: count and log association rejections (unknown calling AE title, no usable context...)."""
    logger.warning("association from %s (%s) rejected", event.assoc.requestor.ae_title,
                   event.assoc.requestor.address)
    status.count("associations_rejected", last="last_refused_at", force=True)


def handle_aborted(event: Any, status: StatusFile) -> None:
    """EVT_ABORTED: count associations aborted by either side."""
    logger.info("association with %s aborted", event.assoc.requestor.ae_title)
    status.count("associations_aborted", force=True)
