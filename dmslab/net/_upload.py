"""C-STORE data sets streamed into the inbox as their P-DATA fragments arrive, never held whole in memory.

pynetdicom assembles each DIMSE message in a ``BytesIO`` (its chunked alternative is switched on by a global of
``pynetdicom._config`` and writes to the system temporary folder without a size limit). The receiver instead gives
each of its associations a :class:`StreamingDimse`: the data set fragments of a C-STORE request go straight to a
private partial file in the inbox's ``incoming/`` (File Meta Information first), counted as they arrive; once the
count passes ``max_object_bytes`` the file is deleted and the rest of the object is read and dropped, and the
handler answers Out of Resources. The completed message reaches the C-STORE handler with ``event.dataset_path``
naming the file (pynetdicom's own convention for data sets kept on disk) and :func:`take_upload` its state.

Other messages (command sets, N-CREATE/N-SET of MPPS, C-ECHO) keep pynetdicom's in-memory assembly, bounded:
an association whose command set passes 64 KiB, or whose other data set passes ``max_object_bytes``, is aborted.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.pdu_primitives import P_DATA

from dmslab.net._part10 import file_meta_bytes
from dmslab.net.inbox import Inbox

__all__ = ["StreamingDimse", "Upload", "take_upload"]

logger = logging.getLogger(__name__)

_MAX_COMMAND_BYTES = 64 * 1024
_LAST_DATASET_FRAGMENT = b"\x02"  # message control header: data set, last fragment; no data


@dataclass(slots=True)
class Upload:
    """The data set of one C-STORE request, written to ``path`` (or refused, with ``refusal`` saying why).

    ``refusal`` is ``("too_large" | "disk_full" | "write_failed", message)``; ``nbytes`` counts the data set bytes
    received, stored or not.
    """

    path: Path
    fh: BinaryIO | None
    nbytes: int = 0
    refusal: tuple[str, str] | None = None
    complete: bool = False

    def refuse(self, kind: str, message: str) -> None:
        """Stop storing: delete the partial file; later fragments are only counted."""
        self.refusal = self.refusal or (kind, message)
        self.discard()

    def discard(self) -> None:
        """Close and delete the partial file (if still there)."""
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None
        self.path.unlink(missing_ok=True)


@dataclass(eq=False)
class _State:
    current: Upload | None = None
    done: dict[Path, Upload] = field(default_factory=dict)
    held_bytes: int = 0


class StreamingDimse(DIMSEServiceProvider):
    """The DIMSE provider of one receiver association (replaces pynetdicom's before the association starts).

    Parameters
    ----------
    assoc
        The acceptor association.
    inbox
        Where C-STORE data sets are written (``incoming/``).
    max_object_bytes
        Largest data set accepted, in bytes.
    """

    def __init__(self, assoc: Any, inbox: Inbox, max_object_bytes: int) -> None:
        super().__init__(assoc)
        self.inbox = inbox
        self.max_object_bytes = max_object_bytes
        self._state = _State()

    def receive_primitive(self, primitive: P_DATA) -> None:
        """Route each fragment of a P-DATA primitive: C-STORE data set bytes to the file, the rest to pynetdicom."""
        for context_id, data in primitive.presentation_data_value_list:
            if not data:
                self._abort("empty presentation data value")
                return
            if data[0] & 1 or not isinstance(self.message, C_STORE_RQ):
                if not self._hold(data):
                    return
                super().receive_primitive(_p_data(context_id, data))
                if isinstance(self.message, C_STORE_RQ) and self._state.current is None:
                    self._begin(context_id)
                continue
            self._write(data[1:])
            if data[0] & 2:
                upload = self._end()
                self.message._data_set_path = upload.path  # -> event.dataset_path
                super().receive_primitive(_p_data(context_id, _LAST_DATASET_FRAGMENT))

    def _hold(self, data: bytes) -> bool:
        """Count bytes that pynetdicom keeps in memory for the message being assembled; abort past the limits."""
        state = self._state
        state.held_bytes = len(data) if self.message is None else state.held_bytes + len(data)
        limit = _MAX_COMMAND_BYTES if data[0] & 1 else self.max_object_bytes
        if state.held_bytes > limit:
            self._abort(f"message of more than {limit} bytes held in memory")
            return False
        return True

    def _abort(self, why: str) -> None:
        logger.warning("association from %s aborted: %s", self.assoc.requestor.address, why)
        self.dul.event_queue.put("Evt19")  # invalid PDU: the state machine sends A-ABORT and closes

    def _begin(self, context_id: int) -> None:
        assert self.message is not None
        cs = self.message.command_set
        syntax = next(str(cx.transfer_syntax[0]) for cx in self.assoc.accepted_contexts if cx.context_id == context_id)
        meta = file_meta_bytes(str(cs.AffectedSOPClassUID), str(cs.AffectedSOPInstanceUID), syntax,
                               self.assoc.requestor.ae_title)
        if self.inbox.free_bytes() < self.inbox.min_free_bytes:
            upload = Upload(self.inbox.root / "incoming" / f"{uuid.uuid4().hex}.refused", None)  # never created
            upload.refusal = ("disk_full", f"inbox {self.inbox.root}: less than {self.inbox.min_free_bytes} bytes "
                                           "free; object refused")
        else:
            path, fh = self.inbox.open_incoming()
            upload = Upload(path, fh)
            self._guarded_write(upload, meta)
        self._state.current = upload

    def _write(self, chunk: bytes) -> None:
        upload = self._state.current
        if upload is None:  # a data set fragment without its command: pynetdicom would fail the same way
            self._abort("data set fragment before its command set")
            return
        upload.nbytes += len(chunk)
        if upload.refusal is not None:
            return
        if upload.nbytes > self.max_object_bytes:
            upload.refuse("too_large", f"object of more than {self.max_object_bytes} bytes "
                                       f"exceeds max_object_bytes={self.max_object_bytes}")
            return
        self._guarded_write(upload, chunk)

    @staticmethod
    def _guarded_write(upload: Upload, data: bytes) -> None:
        try:
            assert upload.fh is not None
            upload.fh.write(data)
        except OSError as exc:  # disk full, I/O error: refuse this object, keep the association
            upload.refuse("write_failed", f"cannot write to the inbox: {type(exc).__name__}: {exc}")

    def _end(self) -> Upload:
        state = self._state
        upload, state.current = state.current, None
        assert upload is not None
        if upload.fh is not None:
            try:
                upload.fh.close()  # fsync'ed by the handler, in the association's thread, before Success
            except OSError as exc:
                upload.refuse("write_failed", f"cannot write to the inbox: {type(exc).__name__}: {exc}")
            upload.fh = None
        upload.complete = True
        state.done[upload.path] = upload
        return upload

    def take(self, path: Path) -> Upload | None:
        """The finished upload written to ``path`` (removed from this provider's book-keeping)."""
        return self._state.done.pop(path, None)

    def discard_all(self) -> int:
        """Delete partial and unanswered files (the association ended); return how many."""
        state = self._state
        uploads = [*state.done.values(), *([state.current] if state.current else [])]
        state.done.clear()
        state.current = None
        for upload in uploads:
            upload.discard()
        return len(uploads)


def _p_data(context_id: int, data: bytes) -> P_DATA:
    single = P_DATA()
    pdv: Any = [context_id, bytes(data)]  # the setter wants [int, bytes] lists (a fragment is <= one PDU)
    single.presentation_data_value_list = [pdv]
    return single


def take_upload(event: Any) -> Upload | None:
    """The streamed upload of a C-STORE event, or ``None`` when the association is not a receiver's (the data set
    is then in ``event.request.DataSet``)."""
    dimse = event.assoc.dimse
    if not isinstance(dimse, StreamingDimse):
        return None
    path = event.dataset_path
    return dimse.take(path) if isinstance(path, Path) else None
