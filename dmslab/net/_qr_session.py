"""The DICOM association of ``dmslab qr``: C-FIND, C-GET and C-MOVE with retries, C-STORE into the inbox."""

from __future__ import annotations

import logging
import re
import socket
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, Association, build_role, evt

from dmslab.errors import DmslabError
from dmslab.net._qr_source import DOSE_STORAGE_CLASSES
from dmslab.net.inbox import Inbox, InboxFullError

__all__ = ["Peer", "QrError", "Session", "move_listener", "set_nodelay", "text"]

logger = logging.getLogger(__name__)

_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
#: Study Root Query/Retrieve Information Model FIND, GET and MOVE (PS3.4 C.6.2).
StudyRootQueryRetrieveInformationModelFind = "1.2.840.10008.5.1.4.1.2.2.1"
StudyRootQueryRetrieveInformationModelMove = "1.2.840.10008.5.1.4.1.2.2.2"
StudyRootQueryRetrieveInformationModelGet = "1.2.840.10008.5.1.4.1.2.2.3"


@dataclass(frozen=True, slots=True)
class Peer:
    """The PACS to query: host, port, its AE title (``called_aet``) and ours (``calling_aet``); timeouts in s."""

    host: str
    port: int
    called_aet: str
    calling_aet: str = "DMSLAB"
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("called_aet", "calling_aet"):
            value = getattr(self, name)
            if not 1 <= len(value.strip()) <= 16 or "\\" in value:
                raise ValueError(f"{name} must be 1-16 characters without a backslash, got {value!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")


class QrError(DmslabError):
    """The PACS could not be reached, refused the association or failed a query; check host, port, AE titles."""


def set_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN handler: disable Nagle's algorithm on the association's socket (one PDU per round trip)."""
    sock = getattr(getattr(event.assoc.dul, "socket", None), "socket", None)
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)



def text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value or "").strip()



class Session:
    """One association to the PACS with C-FIND, C-GET and C-MOVE contexts (reconnects once on loss)."""

    def __init__(self, peer: Peer, inbox: Inbox, received: list[Path]) -> None:
        self.peer, self.inbox, self.received = peer, inbox, received
        self.ae = AE(ae_title=peer.calling_aet)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = peer.timeout_s
        for ctx in (StudyRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelGet,
                    StudyRootQueryRetrieveInformationModelMove):
            self.ae.add_requested_context(ctx)
        for uid in DOSE_STORAGE_CLASSES:
            self.ae.add_requested_context(uid, ALL_TRANSFER_SYNTAXES)
        self.roles: list[Any] = [build_role(uid, scp_role=True) for uid in DOSE_STORAGE_CLASSES]
        self.assoc: Association | None = None
        self.msg_id = 0
        self.responses: Counter[int] = Counter()

    def _store(self, event: evt.Event) -> int:
        uid = str(getattr(event.request, "AffectedSOPInstanceUID", "") or "")
        try:  # the file is named by the UID only when it is a well-formed UID (never a path from the network)
            path = self.inbox.put(event.encoded_dataset(), name=uid if len(uid) <= 64 and _UID.fullmatch(uid) else None)
        except InboxFullError:
            logger.error("inbox full: refusing %s", uid)
            return 0xA700  # Out of Resources
        self.received.append(path)
        return 0x0000

    def _count(self, event: evt.Event) -> None:
        """EVT_DIMSE_RECV: count responses per message ID (to detect responses pynetdicom's reactor dropped)."""
        cs = event.message.command_set
        if cs is not None and "MessageIDBeingRespondedTo" in cs:
            self.responses[int(cs.MessageIDBeingRespondedTo)] += 1

    def association(self) -> Association:
        """The open association (opened on first use)."""
        if self.assoc is None or not self.assoc.is_established:
            p = self.peer
            handlers: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay), (evt.EVT_C_STORE, self._store),
                                   (evt.EVT_DIMSE_RECV, self._count)]
            self.assoc = self.ae.associate(p.host, p.port, ae_title=p.called_aet, ext_neg=self.roles,
                                           evt_handlers=handlers)
            if not self.assoc.is_established:
                raise QrError(f"association with {p.called_aet}@{p.host}:{p.port} as {p.calling_aet} "
                              "was rejected or failed; check host, port and both AE titles")
        return self.assoc

    def _next_id(self) -> int:
        self.msg_id = self.msg_id % 65535 + 1
        return self.msg_id

    def _lost(self, what: str) -> None:
        """A response never reached us: start again on a fresh association."""
        logger.warning("%s: a response was lost (timeout or dropped); repeating on a new association", what)
        if self.assoc is not None:
            self.assoc.abort()
        self.assoc = None

    def find(self, identifier: Dataset) -> list[Dataset]:
        """C-FIND (study root); the matches.

        pynetdicom 3.0's reactor thread can take a response meant for ``send_c_find`` when the peer answers
        within microseconds (loopback); responses are therefore counted as they arrive and the query is
        repeated when one went missing.
        """
        for _attempt in range(3):
            msg_id, out, final = self._next_id(), [], None
            for status, ident in self.association().send_c_find(
                    identifier, StudyRootQueryRetrieveInformationModelFind, msg_id=msg_id):
                code = int(status.Status) if status and "Status" in status else None
                if code in (0xFF00, 0xFF01):
                    out.append(ident)
                else:
                    final = code
            if final is None:
                self._lost("C-FIND")
                continue
            if final != 0x0000:
                raise QrError(f"C-FIND failed with status 0x{final:04X}")
            if self.responses.pop(msg_id, 0) == len(out) + 1:
                return [ds for ds in out if ds is not None]
            self._lost("C-FIND")
        raise QrError("C-FIND: no complete answer from the PACS after 3 attempts (timeouts or aborted associations)")

    def retrieve(self, identifier: Dataset, move_aet: str | None) -> tuple[int, int, int]:
        """C-GET (or C-MOVE to ``move_aet``); (status, completed, failed) of the final response."""
        for _attempt in range(3):
            assoc, msg_id = self.association(), self._next_id()
            if move_aet:
                responses = assoc.send_c_move(identifier, move_aet, StudyRootQueryRetrieveInformationModelMove,
                                              msg_id=msg_id)
            else:
                responses = assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet, msg_id=msg_id)
            final: tuple[int, int, int] | None = None
            for status, _ident in responses:
                if status and "Status" in status and int(status.Status) != 0xFF00:
                    final = (int(status.Status), int(status.get("NumberOfCompletedSuboperations", 0) or 0),
                             int(status.get("NumberOfFailedSuboperations", 0) or 0))
            self.responses.pop(msg_id, None)
            if final is not None:
                return final
            self._lost("C-MOVE" if move_aet else "C-GET")
        return (-1, 0, 0)

    def close(self) -> None:
        """Release the association."""
        if self.assoc is not None and self.assoc.is_established:
            self.assoc.release()
        self.assoc = None



def move_listener(session: Session, move_aet: str, port: int) -> Any:
    """A Storage SCP receiving the C-MOVE sub-operations into the session's inbox."""
    ae = AE(ae_title=move_aet)
    ae.network_timeout = ae.dimse_timeout = session.peer.timeout_s
    for uid in DOSE_STORAGE_CLASSES:
        ae.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
    handlers: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay), (evt.EVT_C_STORE, session._store)]
    return ae.start_server(("", port), block=False, evt_handlers=handlers)


