"""The ingest worker: drains the inbox into the store with the same code path as ``dmslab ingest``.

A file leaves ``pending/`` only after the store has committed its ``source_object`` row (ingested, duplicate or
rejected), so a crash at any point leaves it to be ingested again — the store is idempotent on SOP Instance UID,
so a repeat becomes a ``duplicate`` row and nothing else. When the database is unavailable the files stay where
they are and the worker retries with exponential backoff. Any other error stops the worker loudly: it is logged,
written to the status file (``dmslab status`` shows it) and raised, so that the worker process exits with an
error and the receiver restarts it with backoff — never a silent stall with files left pending.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dmslab.config import ReceiverSettings, Settings
from dmslab.errors import DmslabError, MppsError
from dmslab.ingest.mpps import is_mpps_file, read_mpps_file
from dmslab.jobs import IngestSummary, ingest_paths, refresh_columnar_copy
from dmslab.net.inbox import Inbox, make_private_dir
from dmslab.net.mpps import StepLedger
from dmslab.net.status import StatusFile
from dmslab.store import UNAVAILABLE_ERRORS, Store

__all__ = ["IngestWorker", "WorkerBusyError"]

logger = logging.getLogger(__name__)

#: A batch has a fixed cost (the key, the listing, the store's prefetch, naming and MPPS queries, a commit): ingest
#: CPU per synthetic CT RDSR, batches of 1 / 5 / 20 files: 7.0 / 4.1 / 3.7 ms (2026-12-07). So while objects keep
#: arriving the worker lets a batch gather, up to ``_GATHER_FILES`` pending files: it looks at the inbox every
#: ``_GATHER_TICK_S`` and ingests what is there as soon as a look finds nothing new (the sender paused or finished:
#: no wait at the end of a send beyond one look) or ``_GATHER_MAX_S`` have passed (objects keep trickling in).
_GATHER_FILES = 20
_GATHER_TICK_S = 0.15
_GATHER_MAX_S = 1.0

#: Longest time the columnar copy waits for a re-pack while objects keep arriving [s]. The worker re-packs it when
#: the inbox is empty; re-packing after every batch of a few files cost 2-5 ms CPU per object (batches of two,
#: /tmp measurement 2026-12-07), and readers are right without it (changed chunks are read from the rows).
_REPACK_MAX_S = 60.0

#: How long the inbox must have stayed empty to count as idle for the re-pack [s]. During a send the worker often
#: empties the inbox for a moment between two objects; re-packing then (every few objects) cost more CPU per object
#: under load than the ingest itself.
_IDLE_S = 1.0

#: Errors meaning "the database (or the key) is not usable now": keep the files, retry later. A database at an
#: older schema revision is one (SchemaOutdatedError: "run dmslab migrate"; the worker never migrates it).
_UNAVAILABLE: tuple[type[Exception], ...] = (*UNAVAILABLE_ERRORS, DmslabError)


class WorkerBusyError(DmslabError):
    """Another ingest worker already drains this inbox (only one may; stop it or use another inbox)."""


class IngestWorker:
    """Drain ``inbox`` into the store of ``settings`` in batches.

    Parameters
    ----------
    inbox
        The inbox to drain.
    settings
        Site settings (database URL, key file, quarantine folder, parser processes).
    receiver
        Receiver settings (batch size, poll interval, backoff, what to do with ingested files).
    status
        Status file to update (default: ``<inbox>/status/worker.json``).
    """

    def __init__(self, inbox: Inbox, settings: Settings, receiver: ReceiverSettings, *,
                 status: StatusFile | None = None) -> None:
        self.inbox = inbox
        self.settings = settings
        # Batches are parsed in this process, whatever ``settings.workers`` says for ``dmslab ingest``: a batch of
        # 32 files or more would otherwise start a pool of parser processes for itself alone, and a deep inbox (a
        # receiver under load, a backlog) gives such batches. Ingest CPU per synthetic RDSR, batches of 100, a pool
        # of 2 per batch / in this process: 8.1 / 4.2 ms (2026-12-07).
        self._ingest_settings = replace(settings, workers=1)
        self.receiver = receiver
        self.status = status or StatusFile(inbox.root, "worker")
        self._store: Store | None = None
        self._seeded = False
        self._lock_fd: int | None = None
        self._unpacked_since: float | None = None  # monotonic time of the first write not yet re-packed
        self._empty_since: float | None = None  # monotonic time since which the loop found the inbox empty

    def lock(self) -> None:
        """Take the inbox's worker lock (released by the OS if the process dies).

        Raises
        ------
        WorkerBusyError
            When another worker holds it.
        """
        fd = os.open(self.inbox.root / "worker.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise WorkerBusyError(f"another ingest worker is draining {self.inbox.root}") from exc
        self._lock_fd = fd

    def close(self) -> None:
        """Release the store and the lock."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self.status.flush(force=True)

    def run_once(self) -> int:
        """Ingest one batch of pending objects; return how many files left the inbox.

        Raises
        ------
        sqlalchemy.exc.OperationalError, DmslabError
            When the database or the key is unavailable, or the database needs ``dmslab migrate``
            (SchemaOutdatedError; the files stay pending).
        """
        batch = self.inbox.pending()[: self.receiver.ingest_batch]
        if not batch:
            return 0
        store = self._open_store()
        files = [p for p in batch if not is_mpps_file(p)]
        if files:
            self._ingest(files)
        steps = [p for p in batch if is_mpps_file(p)]
        for path in steps:  # after the dose objects of the batch, so that a step finds a study that came with it
            self._apply_mpps(path)
        if files and self.receiver.mpps:
            store.link_mpps()  # steps received before their study
        return len(batch)

    def _open_store(self) -> Store:
        """The store, opened on first use (and the MPPS ledger completed, if that did not happen at start)."""
        if self._store is None:
            self._store = Store(self.settings.database_url)
        if self.receiver.mpps and not self._seeded:
            self._seed_ledger(self._store)
        return self._store

    def _seed_ledger(self, store: Store) -> None:
        """Give the MPPS ledger the steps still in progress that only the store knows (stored before the ledger
        existed), so that the SCP accepts their N-SETs."""
        ledger = StepLedger(self.inbox.root / "mpps")
        for uid in store.mpps_in_progress():
            if ledger.status(uid) is None:
                ledger.set(uid, "IN PROGRESS")
        self._seeded = True

    def _ingest(self, files: Sequence[Path]) -> None:
        try:
            summary = ingest_paths(files, self._ingest_settings, store=self._store, refresh_columnar=False)
        except _UNAVAILABLE:
            raise
        except Exception as exc:  # one poisonous file must not block the queue: isolate it
            logger.warning("batch of %d failed (%s: %s); ingesting one by one", len(files), type(exc).__name__, exc)
            self._one_by_one(files)
            return
        self._finish(files)
        self._note(summary)

    def _apply_mpps(self, path: Path) -> None:
        """Write one kept MPPS request to the store; one the store refuses is kept in ``failed/`` with its reason."""
        assert self._store is not None
        try:
            record = self._store.write_mpps(read_mpps_file(path))
        except MppsError as exc:
            self._failed(path, f"{exc.reason}: {exc}")
            return
        except _UNAVAILABLE:
            raise
        except Exception as exc:  # an unreadable file: kept with its reason, never silently dropped
            self._failed(path, f"{type(exc).__name__}: {exc}")
            return
        self._finish([path])
        self.status.count("mpps", 1)
        logger.info("MPPS %s stored: %s, %d N-SET(s)", record.sop_instance_uid, record.status, record.n_sets)

    def _failed(self, path: Path, reason: str) -> None:
        logger.warning("MPPS request %s not applied (%s): moved to failed/", path.name, reason)
        self.inbox.fail(path, reason)
        self.status.error(f"{path.name}: {reason}")

    def _one_by_one(self, files: Sequence[Path]) -> None:
        for path in files:
            try:
                summary = ingest_paths([path], self._ingest_settings, store=self._store, refresh_columnar=False)
            except _UNAVAILABLE:
                raise
            except Exception as exc:  # recorded with its reason in failed/, never silently dropped
                logger.exception("cannot ingest %s; moved to failed/", path)
                self.inbox.fail(path, f"{type(exc).__name__}: {exc}")
                self.status.error(f"{path.name}: {type(exc).__name__}: {exc}")
                continue
            self._finish([path])
            self._note(summary)

    def _finish(self, files: Sequence[Path]) -> None:
        if self.receiver.after_ingest == "archive":
            make_private_dir(self.receiver.archive_dir)
            day = self.receiver.archive_dir / dt.date.today().isoformat()
            make_private_dir(day)
            for path in files:
                if path.exists():
                    dest = shutil.move(path, day / path.name)
                    os.chmod(dest, 0o600)
        else:
            for path in files:
                self.inbox.done(path)

    def repack(self, *, idle: bool) -> bool:
        """Re-pack the store's columnar copy when the inbox is idle, or when writes have waited longer than
        ``_REPACK_MAX_S``; return whether it did (a failure is logged: readers stay right, only slower)."""
        since = self._unpacked_since
        if since is None or self._store is None or not (idle or time.monotonic() - since > _REPACK_MAX_S):
            return False
        refresh_columnar_copy(self._store)
        self._unpacked_since = None
        return True

    def _note(self, summary: IngestSummary) -> None:
        if summary.ingested and self._unpacked_since is None:
            self._unpacked_since = time.monotonic()
        self.status.count("ingested", summary.ingested, last="last_ingest_at")
        self.status.count("duplicate", summary.duplicate)
        self.status.count("superseded", summary.superseded)
        self.status.count("rejected", summary.rejected)
        self.status.set(database="ok")

    def run(self, stop: threading.Event) -> None:
        """Drain until ``stop`` is set: poll when idle, back off exponentially while the database is down.

        Raises
        ------
        Exception
            Any error other than an unavailable database (archive folder unusable, inbox unreadable...), after
            recording it in the status file: the caller must end the worker (the process exits with an error).
        """
        self.status.set(state="running")
        try:
            if self.receiver.after_ingest == "archive":
                make_private_dir(self.receiver.archive_dir)  # unusable: fail now, before ingesting anything
            if self.receiver.mpps:
                self._seed_at_start()
            self._loop(stop)
        except Exception as exc:
            logger.exception("ingest worker stopped by an error; pending files stay in the inbox")
            self.status.set(state="stopped by an error")
            self.status.error(f"ingest worker stopped: {type(exc).__name__}: {exc}")
            raise
        self.status.set(state="stopped")

    def _seed_at_start(self) -> None:
        """Complete the MPPS ledger before the first request arrives, reading only (no migration: a store that
        cannot be read yet is left to the first batch)."""
        try:
            store = Store(self.settings.database_url, read_only=True)
        except _UNAVAILABLE as exc:
            logger.info("MPPS ledger completed at the first batch: the store cannot be read yet (%s)", exc)
            return
        try:
            self._seed_ledger(store)
        except _UNAVAILABLE as exc:
            logger.info("MPPS ledger completed at the first batch: %s", exc)
        finally:
            store.close()

    def _loop(self, stop: threading.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            try:
                n = self.run_once() if self._gather(stop) else 0
            except _UNAVAILABLE as exc:
                delay = min(max(2 * delay, self.receiver.poll_s), self.receiver.max_backoff_s)
                msg = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                logger.warning("ingest paused, retrying in %.1f s: %s", delay, msg)
                self.status.error(f"ingest paused ({type(exc).__name__}): {msg}")
                self.status.set(database=f"unavailable, retry in {delay:.1f} s")
                stop.wait(delay)
                continue
            delay = 0.0
            self.repack(idle=self._idle(n))
            if n == 0:
                self.status.flush()
                stop.wait(self.receiver.poll_s)
        self.status.flush(force=True)

    def _idle(self, n: int) -> bool:
        """Whether the inbox has been empty for ``_IDLE_S`` (``n``: files the last pass took)."""
        if n:
            self._empty_since = None
            return False
        now = time.monotonic()
        if self._empty_since is None:
            self._empty_since = now
        return now - self._empty_since >= _IDLE_S

    def _gather(self, stop: threading.Event) -> bool:
        """Wait while a partial batch is still growing (see ``_GATHER_FILES``); ``False`` when nothing is pending or
        ``stop`` was set."""
        want = min(_GATHER_FILES, self.receiver.ingest_batch)
        count = self.inbox.pending_count()
        deadline = time.monotonic() + _GATHER_MAX_S
        while 0 < count < want and time.monotonic() < deadline:
            self.status.flush()
            if stop.wait(_GATHER_TICK_S):
                return False
            seen, count = count, self.inbox.pending_count()
            if count <= seen:  # nothing new since the last look: take what is there
                break
        return count > 0

    def drain(self) -> int:
        """Ingest until the inbox is empty (no retry: errors propagate); return the number of files."""
        total = 0
        while n := self.run_once():
            total += n
        self.repack(idle=True)
        return total
