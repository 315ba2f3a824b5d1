"""The Storage SCP: an AE built from the receiver settings, a running server, and its ingest worker.

>>> from dmslab.net.scp import STORAGE_CLASSES
>>> "1.2.840.10008.5.1.4.1.1.88.67" in STORAGE_CLASSES  # X-Ray Radiation Dose SR
True
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydicom import uid as _uid
from pynetdicom import AE, evt

from dmslab.config import ReceiverSettings, Settings
from dmslab.net import handlers
from dmslab.net._guard import GuardedServer, ReceivePolicy, check_exposure, is_loopback
from dmslab.net._send import Retry, SendResult, counts_text, send_files
from dmslab.net.inbox import Inbox
from dmslab.net.mpps import MPPS_SOP_CLASS, mpps_handlers
from dmslab.net.status import StatusFile
from dmslab.net.worker import IngestWorker

__all__ = ["STORAGE_CLASSES", "LoopbackSummary", "Receiver", "Retry", "SendResult", "build_ae", "event_handlers",
           "send_and_ingest_over_dicom", "send_files"]

logger = logging.getLogger(__name__)

_UNCOMPRESSED: list[str] = [_uid.ExplicitVRLittleEndian, _uid.ImplicitVRLittleEndian,
                            _uid.DeflatedExplicitVRLittleEndian, _uid.ExplicitVRBigEndian]
_IMAGE_SYNTAXES: list[str] = [*_UNCOMPRESSED, _uid.JPEGBaseline8Bit, _uid.JPEGExtended12Bit, _uid.JPEGLossless,
                              _uid.JPEGLosslessSV1, _uid.JPEGLSLossless, _uid.JPEGLSNearLossless, _uid.JPEG2000Lossless,
                              _uid.JPEG2000, _uid.RLELossless]

_SR_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.88.67": "XRayRadiationDoseSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.76": "EnhancedXRayRadiationDoseSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.68": "RadiopharmaceuticalRadiationDoseSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.73": "PatientRadiationDoseSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.22": "EnhancedSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.33": "ComprehensiveSRStorage",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive3DSRStorage",
}
_IMAGE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2": "CTImageStorage",
    "1.2.840.10008.5.1.4.1.1.2.1": "EnhancedCTImageStorage",
    "1.2.840.10008.5.1.4.1.1.1": "ComputedRadiographyImageStorage",
    "1.2.840.10008.5.1.4.1.1.1.1": "DigitalXRayImageStorageForPresentation",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DigitalXRayImageStorageForProcessing",
    "1.2.840.10008.5.1.4.1.1.1.2": "DigitalMammographyXRayImageStorageForPresentation",
    "1.2.840.10008.5.1.4.1.1.1.2.1": "DigitalMammographyXRayImageStorageForProcessing",
    "1.2.840.10008.5.1.4.1.1.13.1.3": "BreastTomosynthesisImageStorage",
    "1.2.840.10008.5.1.4.1.1.12.1": "XRayAngiographicImageStorage",
    "1.2.840.10008.5.1.4.1.1.12.1.1": "EnhancedXAImageStorage",
    "1.2.840.10008.5.1.4.1.1.12.2": "XRayRadiofluoroscopicImageStorage",
    "1.2.840.10008.5.1.4.1.1.12.2.1": "EnhancedXRFImageStorage",
    "1.2.840.10008.5.1.4.1.1.20": "NuclearMedicineImageStorage",
    "1.2.840.10008.5.1.4.1.1.128": "PositronEmissionTomographyImageStorage",
    "1.2.840.10008.5.1.4.1.1.130": "EnhancedPETImageStorage",
    "1.2.840.10008.5.1.4.1.1.7": "SecondaryCaptureImageStorage",
    "1.2.840.10008.5.1.4.1.1.7.2": "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    "1.2.840.10008.5.1.4.1.1.7.3": "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "1.2.840.10008.5.1.4.1.1.7.4": "MultiFrameTrueColorSecondaryCaptureImageStorage",
}

#: SOP classes the receiver accepts, with their transfer syntaxes: dose SRs and SRs (uncompressed), images and
#: secondary captures (uncompressed, JPEG, JPEG-LS, JPEG 2000, RLE). Anything else is refused at association.
STORAGE_CLASSES: dict[str, list[str]] = {**{c: _UNCOMPRESSED for c in _SR_CLASSES},
                                         **{c: _IMAGE_SYNTAXES for c in _IMAGE_CLASSES}}
_VERIFICATION = "1.2.840.10008.1.1"

#: Largest PDU the receiver accepts [bytes], offered at association (pynetdicom's default is 16 382). A sender
#: then needs one P-DATA PDU for a dose SR of 20-60 kB instead of two to four: each PDU is a pass through
#: pynetdicom's DUL, state machine and DIMSE layers. Bounded (not 0 = unlimited): the guarded socket reads one PDU
#: into memory, so an association holds at most this much.
MAX_PDU_BYTES = 256 * 1024


def build_ae(receiver: ReceiverSettings) -> AE:
    """An AE with our title, the storage and verification contexts, the allow-list, timeouts and association limit
    (per-address slots, deadlines and streaming are the server's: :class:`dmslab.net._guard.GuardedServer`)."""
    ae = AE(ae_title=receiver.ae_title)
    for sop_class, syntaxes in STORAGE_CLASSES.items():
        ae.add_supported_context(sop_class, syntaxes)
    ae.add_supported_context(_VERIFICATION, _UNCOMPRESSED)
    if receiver.mpps:  # older modalities send dose in MPPS N-CREATE/N-SET to the same AE
        ae.add_supported_context(MPPS_SOP_CLASS, _UNCOMPRESSED)
    ae.require_calling_aet = list(receiver.allowed_aets)
    ae.require_called_aet = True  # a sender configured with another AE title is misconfigured: tell it
    ae.network_timeout = receiver.network_timeout_s
    ae.dimse_timeout = receiver.network_timeout_s
    ae.acse_timeout = receiver.acse_timeout_s  # also the DUL's ARTIM timer: a silent connection is closed after it
    ae.maximum_associations = receiver.max_associations
    ae.maximum_pdu_size = MAX_PDU_BYTES
    return ae


def event_handlers(inbox: Inbox, status: StatusFile, receiver: ReceiverSettings) -> list[Any]:
    """The ``evt_handlers`` list for :meth:`pynetdicom.AE.start_server`."""
    return [
        (evt.EVT_CONN_OPEN, handlers.handle_conn_open),
        (evt.EVT_C_ECHO, handlers.handle_echo),
        (evt.EVT_C_STORE, handlers.handle_store, [inbox, status, receiver.max_object_bytes]),
        (evt.EVT_REJECTED, handlers.handle_rejected, [status]),
        (evt.EVT_ABORTED, handlers.handle_aborted, [status]),
    ]


_WORKER_MODES = ("process", "thread", "none")


def _run_worker(worker: IngestWorker, stop: Any) -> None:
    try:
        worker.run(stop)
    except Exception:  # already logged and in the status file by IngestWorker.run; Receiver.supervise restarts us
        return
    finally:
        worker.close()


#: Receiver settings the worker process needs, passed as ``DMSLAB_*`` environment variables.
_WORKER_FIELDS = ("inbox_dir", "min_free_bytes", "after_ingest", "archive_dir", "ingest_batch", "poll_s",
                  "max_backoff_s")


def _worker_environment(settings: Settings, receiver: ReceiverSettings) -> dict[str, str]:
    env = {**os.environ, **settings.core_environment()}
    for name in _WORKER_FIELDS:
        env[f"DMSLAB_{name.upper()}"] = str(getattr(receiver, name))
    return env


class Receiver:
    """The Storage SCP in this process, plus its ingest worker (child process by default).

    Parameters
    ----------
    settings
        Site settings (database, key, quarantine, and the ``receiver`` section).
    receiver
        Receiver settings (AE title, port, allow-list, inbox, TLS) to use instead of ``settings.receiver``.
    worker
        ``process`` (default): the ingest worker runs in a child process (``dmslab receive --worker-only``), so
        parsing does not compete with the network threads for the GIL, and is restarted if it dies;
        ``thread``: in this process; ``none``: a separate ``dmslab receive --worker-only`` drains the inbox.
    """

    def __init__(self, settings: Settings, receiver: ReceiverSettings | None = None, *,
                 worker: str = "process") -> None:
        if worker not in _WORKER_MODES:
            raise ValueError(f"worker must be one of {list(_WORKER_MODES)}, got {worker!r}")
        self.settings = settings
        self.receiver = receiver = receiver or settings.receiver
        self.worker_mode = worker
        self.inbox = Inbox(receiver.inbox_dir, min_free_bytes=receiver.min_free_bytes)
        self.status = StatusFile(receiver.inbox_dir, "receiver")
        self._server: Any = None
        self._stop: Any = None
        self._runner: Any = None
        self._started_at = 0.0
        self._restart_at = 0.0
        self._restart_delay = 0.5

    @property
    def port(self) -> int:
        """The TCP port the server listens on (useful with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the receiver is not running")
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start the worker, then listen (non-blocking)."""
        check_exposure(self.receiver)
        if not self.receiver.allowed_aets:
            logger.warning("no allow-list of calling AE titles: any AE %s can store objects (set allowed_aets)",
                           "on this machine" if is_loopback(self.receiver.bind_address) else "that reaches the port")
        dropped = self.inbox.clean_incoming()
        if dropped:
            logger.info("removed %d partial file(s) left by a crash (their senders got no Success)", dropped)
        self._start_worker()
        try:
            self._server = self._serve(build_ae(self.receiver))
        except Exception:  # port in use, unreadable certificate...: do not leave the worker behind
            self.stop()
            raise
        self.status.set(ae_title=self.receiver.ae_title, port=self.port, tls=self.receiver.tls_cert is not None)
        self.status.flush(force=True)
        logger.info("receiving as %s on %s:%d, inbox %s", self.receiver.ae_title, self.receiver.bind_address,
                    self.port, self.inbox.root)

    def _serve(self, ae: AE) -> GuardedServer:
        """What ``ae.start_server(block=False)`` does, with our server class (pynetdicom's own method has no
        parameter for it)."""
        policy = ReceivePolicy(self.receiver, self.inbox, self.status)
        server = ae.make_server((self.receiver.bind_address, self.receiver.port),
                                ssl_context=self.receiver.ssl_context(), evt_handlers=self._handlers(),
                                server_class=GuardedServer, policy=policy)
        assert isinstance(server, GuardedServer)
        ae._servers.append(server)  # as start_server does: server.shutdown() removes it, ae.shutdown() stops it
        threading.Thread(target=server.serve_forever, name="dmslab-accept", daemon=True).start()
        return server

    def _handlers(self) -> list[Any]:
        found = event_handlers(self.inbox, self.status, self.receiver)
        if self.receiver.mpps:
            found += mpps_handlers(self.inbox)
        return found

    def _start_worker(self) -> None:
        self._started_at = time.monotonic()
        if self.worker_mode == "thread":
            worker = IngestWorker(self.inbox, self.settings, self.receiver)
            worker.lock()
            self._stop = threading.Event()
            self._runner = threading.Thread(target=_run_worker, args=(worker, self._stop), name="dmslab-ingest",
                                            daemon=True)
        elif self.worker_mode == "process":  # a new interpreter: nothing forked from a process with threads
            cmd = [sys.executable, "-m", "dmslab.cli", "receive", "--worker-only", "--parent-pid", str(os.getpid())]
            self._runner = subprocess.Popen(cmd, env=_worker_environment(self.settings, self.receiver),
                                            stdout=subprocess.DEVNULL)
            return
        if self._runner is not None:
            self._runner.start()

    def supervise(self) -> None:
        """Restart the worker if it died (process killed or crashed, thread stopped by an error); the objects it had
        not finished are still in the inbox. Called every second by ``dmslab receive`` and while waiting in
        :meth:`wait_drained`. A worker that dies again soon after its start is restarted with exponential backoff."""
        runner = self._runner
        if runner is None or self.worker_mode == "none" or self._worker_alive():
            return
        now = time.monotonic()
        if now < self._restart_at:
            return  # backing off: a worker that dies at once (lock held elsewhere, bad settings) is not respawned hot
        quick = now - self._started_at < 10.0
        self._restart_delay = min(self._restart_delay * 2, 60.0) if quick else 1.0
        self._restart_at = now + self._restart_delay
        how = (f"process {runner.pid} ended with exit code {runner.returncode}" if self.worker_mode == "process"
               else "thread stopped by an error")
        msg = (f"ingest worker {how}; restarting it"
               + (f" (it ran < 10 s: next restart no sooner than {self._restart_delay:.0f} s)" if quick else ""))
        logger.error(msg)
        self.status.error(msg)
        self._start_worker()

    def _worker_alive(self) -> bool:
        runner = self._runner
        if isinstance(runner, subprocess.Popen):
            return runner.poll() is None
        return bool(runner.is_alive()) or self._stop.is_set()

    def tick(self) -> None:
        """Periodic duties (call about once a second): supervise the worker, write the status file."""
        self.supervise()
        self.status.flush()

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until the inbox is empty; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(self.inbox.pending_dir.iterdir()):
                return True
            self.supervise()
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Stop accepting associations and stop the worker; the inbox keeps whatever is not yet ingested."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if isinstance(self._runner, subprocess.Popen):
            self._runner.terminate()  # SIGTERM: the worker finishes its batch and exits
            try:
                self._runner.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self._runner.kill()
                self._runner.wait()
        elif self._runner is not None:
            self._stop.set()
            self._runner.join(timeout=120)
        self._runner = None
        self.status.flush(force=True)

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(slots=True)
class LoopbackSummary:
    """What :func:`send_and_ingest_over_dicom` did: objects sent, answered, not sent, and what the worker made of
    them."""

    files: int
    success: int
    failed: dict[str, int]
    drained: bool
    seconds: float
    ingested: int = 0
    duplicate: int = 0
    rejected: int = 0
    unsent: dict[str, int] = field(default_factory=dict)
    associations: int = 1

    @property
    def all_stored(self) -> bool:
        """Whether every file got Success and the inbox was drained."""
        return self.success == self.files and not self.failed and not self.unsent and self.drained

    def lines(self) -> list[str]:
        """A human-readable summary: Success, failed (by status) and unsent (by reason) counts."""
        n_failed, n_unsent = sum(self.failed.values()), sum(self.unsent.values())
        return [f"{self.files} file(s) sent over DICOM (C-STORE to dmslab on loopback, {self.associations} "
                f"association(s)) in {self.seconds:.1f} s: {self.success} Success, {n_failed} failed"
                f"{counts_text(self.failed)}, {n_unsent} unsent{counts_text(self.unsent)}; "
                f"inbox {'drained' if self.drained else 'NOT drained'}",
                f"{self.ingested} ingested, {self.duplicate} duplicate, {self.rejected} rejected"]


def send_and_ingest_over_dicom(folder: str | Path, settings: Settings, *, timeout_s: float = 600.0,
                               ae_title: str = "DMSLAB", worker: str = "process") -> LoopbackSummary:
    """Start a receiver on 127.0.0.1 (free port), C-STORE every DICOM file under ``folder`` to it, wait until
    the inbox is drained into the store of ``settings``, and stop it cleanly (used by ``dmslab demo``).

    The inbox is ``<home>/inbox``; by default the ingest worker runs in a child process, as in ``dmslab receive``.
    """
    from dmslab.ingest import iter_files
    from dmslab.net.status import read_status

    files = [p for p, skip in iter_files([folder]) if not skip]
    rs = replace(settings.receiver, ae_title=ae_title, port=0, bind_address="127.0.0.1",
                 allowed_aets=("DMSLAB_DEMO",), min_free_bytes=0, tls_cert=None, tls_key=None, tls_ca=None)
    t0 = time.perf_counter()
    with Receiver(settings, rs, worker=worker) as rec:
        result = send_files(files, ("127.0.0.1", rec.port), called_aet=ae_title, calling_aet="DMSLAB_DEMO")
        drained = rec.wait_drained(timeout_s)
    counts = read_status(rs.inbox_dir).get("worker", {}).get("counts", {})
    return LoopbackSummary(len(files), len(result.success), result.failures_by_status(), drained,
                           time.perf_counter() - t0, counts.get("ingested", 0), counts.get("duplicate", 0),
                           counts.get("rejected", 0), unsent=result.unsent_by_reason(), associations=result.attempts)
