"""MPPS: a Modality Performed Procedure Step SCP (N-CREATE / N-SET) whose requests go through the inbox.

The association thread checks a request (:func:`dmslab.ingest.mpps.parse_mpps`: values readable, status allowed),
checks it against the steps it has accepted (a ledger of step states in ``<inbox>/mpps/``: an N-CREATE of a known
step, an N-SET of an unknown or final one are refused with their DIMSE status), writes it durably to the inbox and
only then answers Success. It never touches the database: the ingest worker applies the kept requests in the order
received (:meth:`dmslab.store.Store.write_mpps`), as it ingests every other object, and retries while the database
is busy or down.

References: DICOM PS3.4 Annex F (Modality Performed Procedure Step SOP Class), PS3.3 C.4.13-C.4.18.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt

from dmslab.errors import MppsError
from dmslab.ingest.mpps import FILE_PREFIX, MPPS_SOP_CLASS, mpps_file_bytes, parse_mpps
from dmslab.net._qr_session import set_nodelay
from dmslab.net.inbox import Inbox, make_private_dir, open_private

__all__ = ["MPPS_SOP_CLASS", "MppsIntake", "StepLedger", "link_mpps", "mpps_handlers", "start_mpps_scp"]

logger = logging.getLogger(__name__)

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
SUCCESS = 0x0000
_UID = re.compile(r"[0-9.]{1,64}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class StepLedger:
    """The state of every step this inbox has accepted: one small file per MPPS SOP Instance UID.

    It lets the association thread answer "duplicate", "no such instance" or "already final" without the database;
    the step itself reaches the store through the inbox. Written after the request is durable in the inbox, so a
    crash in between can at worst make a resent N-CREATE look new (the worker then keeps it in ``failed/`` as a
    duplicate), never lose an accepted request.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        make_private_dir(root)

    def _path(self, uid: str) -> Path:
        name = uid if _UID.fullmatch(uid) else hashlib.sha256(uid.encode()).hexdigest()
        return self.root / f"{name}.state"

    def status(self, uid: str) -> str | None:
        """The step's last accepted status, or ``None`` for a step never created here."""
        try:
            return self._path(uid).read_text(encoding="ascii").strip() or None
        except FileNotFoundError:
            return None

    def set(self, uid: str, status: str) -> None:
        """Record the step's status durably (atomic replace)."""
        final = self._path(uid)
        tmp = final.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        with open_private(tmp) as fh:
            fh.write(status.encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)


class MppsIntake:
    """What the association threads share: the inbox, the ledger of step states and the lock that orders them."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self.ledger = StepLedger(inbox.root / "mpps")
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def receive(self, operation: str, uid: str, ds: Dataset) -> str:
        """Check the request, keep it in the inbox and return the step's status after it.

        Raises
        ------
        MppsError
            With the reason (and DIMSE status) to answer: nothing was kept.
        """
        received_at = _now()
        message = parse_mpps(ds, operation=operation, sop_instance_uid=uid, received_at=received_at)
        with self._lock:
            state = self.ledger.status(uid)
            if operation == "create" and state is not None:
                raise MppsError("duplicate_instance", f"MPPS {uid} already exists")
            if operation == "set" and state is None:
                raise MppsError("no_such_instance", f"no MPPS {uid} (N-CREATE first)")
            if operation == "set" and state != "IN PROGRESS":
                raise MppsError("processing_failure", f"MPPS {uid} is {state}: may no longer be updated")
            data = mpps_file_bytes(ds, operation=operation, sop_instance_uid=uid, received_at=received_at)
            name = f"{FILE_PREFIX}{time.time_ns():020d}-{next(self._seq):06d}"  # names sort in the order received
            try:
                self.inbox.put(data, name=name)
            except OSError as exc:  # disk full (InboxFullError) or unwritable: the modality sends again later
                raise MppsError("resource_limitation", f"MPPS {uid} not kept: {exc}") from exc
            status = str(dict(message.changes).get("status") or state)
            self.ledger.set(uid, status)
        return status


def _reply(status: int, comment: str | None = None) -> Dataset:
    ds = Dataset()
    ds.Status = status
    if comment:
        ds.ErrorComment = comment[:64]
    return ds


def _on_create(event: evt.Event, intake: MppsIntake) -> tuple[Dataset | int, Dataset | None]:
    """EVT_N_CREATE: keep the step's creation in the inbox; answer with the created attributes."""
    uid = str(getattr(event.request, "AffectedSOPInstanceUID", None) or generate_uid())
    try:
        ds = event.attribute_list
        status = intake.receive("create", uid, ds)
    except MppsError as exc:
        logger.warning("MPPS N-CREATE %s refused: %s", uid, exc)
        return _reply(exc.status, str(exc)), None
    logger.info("MPPS %s created: %s", uid, status)
    ds.SOPInstanceUID = uid  # returned so an SCU that sent no UID learns it (pynetdicom sets the response UID)
    return SUCCESS, ds


def _on_set(event: evt.Event, intake: MppsIntake) -> tuple[Dataset | int, Dataset | None]:
    """EVT_N_SET: keep the update in the inbox while the step is IN PROGRESS."""
    uid = str(getattr(event.request, "RequestedSOPInstanceUID", "") or "")
    try:
        mods = event.modification_list
        status = intake.receive("set", uid, mods)
    except MppsError as exc:
        logger.warning("MPPS N-SET %s refused: %s", uid, exc)
        return _reply(exc.status, str(exc)), None
    logger.info("MPPS %s set: %s", uid, status)
    return SUCCESS, mods


def mpps_handlers(inbox: Inbox) -> list[tuple[Any, Callable[..., Any], list[Any]]]:
    """Event handlers for an AE that also serves MPPS: ``[(EVT_N_CREATE, ...), (EVT_N_SET, ...)]``.

    Add them to the receiver's ``evt_handlers`` and its supported contexts with
    ``ae.add_supported_context(MPPS_SOP_CLASS)``; an ingest worker on ``inbox`` stores the steps.
    """
    intake = MppsIntake(inbox)
    return [(evt.EVT_N_CREATE, _on_create, [intake]), (evt.EVT_N_SET, _on_set, [intake])]


def start_mpps_scp(inbox: Inbox, *, ae_title: str = "DMSLAB", host: str = "127.0.0.1", port: int = 0) -> Any:
    """Start a standalone MPPS SCP (with C-ECHO) on ``inbox`` in background threads; returns the pynetdicom server.

    ``port=0`` picks a free port (read it from ``server.server_address``). Stop with ``server.shutdown()``. The
    steps reach the store when an ingest worker drains ``inbox`` (:class:`dmslab.net.worker.IngestWorker`).
    """
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(MPPS_SOP_CLASS)
    ae.add_supported_context(VERIFICATION_SOP_CLASS)
    handlers: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay), *mpps_handlers(inbox)]
    server = ae.start_server((host, port), block=False, evt_handlers=handlers)
    if server is None:  # only with block=True
        raise RuntimeError("pynetdicom returned no server")
    logger.info("MPPS SCP %s listening on %s:%d, inbox %s", ae_title, *server.server_address[:2], inbox.root)
    return server


def link_mpps(store_url: str) -> int:
    """Link stored steps to their studies that have arrived since (:meth:`dmslab.store.Store.link_mpps`)."""
    from dmslab.store import Store

    store = Store(store_url)
    try:
        return store.link_mpps()
    finally:
        store.close()
