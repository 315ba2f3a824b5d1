"""Jobs that join ingest and store: ``init`` and ``ingest`` (used by the CLI and the notebooks)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dmslab.config import Settings
from dmslab.errors import StoreBusyError, StoreError
from dmslab.ingest import Outcome, iter_files, parse_many, quarantine
from dmslab.pseudonym import Pseudonymiser, create_key, load_key
from dmslab.records import DoseReport
from dmslab.store import Rejection, Store, WriteSummary

__all__ = ["IngestSummary", "ingest_paths", "init_site"]

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestSummary(WriteSummary):
    """What an ingest run did, with the rejected files and why, and where the time went."""

    skipped: list[str] = field(default_factory=list)
    rejected_files: list[tuple[str, str, str]] = field(default_factory=list)
    unreadable_folders: list[tuple[str, str]] = field(default_factory=list)
    files: int = 0
    parse_s: float = 0.0
    write_s: float = 0.0

    def lines(self) -> list[str]:
        """A human-readable summary."""
        out = [f"{self.files} file(s): {self.ingested} ingested, {self.duplicate} duplicate, "
               f"{self.superseded} superseded by a better dose source, {self.rejected} rejected, "
               f"{len(self.skipped)} skipped (not DICOM by name); "
               f"{self.new_events} new irradiation events; {self.flagged} object(s) with implausible values flagged"]
        for reason, n in sorted(self.reasons.items()):
            out.append(f"  rejected {reason}: {n}")
        for path, reason, detail in self.rejected_files[:20]:
            out.append(f"    {path}: {reason}: {detail}")
        if len(self.rejected_files) > 20:
            out.append(f"    … and {len(self.rejected_files) - 20} more (see the quarantine folder)")
        for path, why in self.unreadable_folders:
            out.append(f"  unreadable folder {path}: {why}; nothing under it was read: give the dmslab user read "
                       "and execute permission on it and ingest it again")
        return out

    @property
    def complete(self) -> bool:
        """Whether every file was stored (ingested, duplicate or superseded) or skipped by name, and every
        folder could be read."""
        return self.rejected == 0 and not self.unreadable_folders


def init_site(settings: Settings) -> list[str]:
    """Create the home folder, the pseudonymisation key (if missing) and the database schema (an existing
    database is brought to this dmslab's schema revision)."""
    done = []
    settings.home.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds patient data: the owner's only
    store = Store(settings.database_url, migrate_schema=False)  # first: a wrong URL leaves no key behind
    try:
        store.migrate()  # init and migrate are the only places a schema is created or upgraded
    finally:
        store.close()
    if not settings.key_file.exists():
        create_key(settings.key_file)
        done.append(f"created pseudonymisation key {settings.key_file} (back it up; keep it out of the database)")
    else:
        Pseudonymiser.from_file(settings.key_file)  # refuses a key other users can read
        done.append(f"kept existing key {settings.key_file}")
    done.append(f"database ready: {store.describe()}")
    return done


def migrate_site(settings: Settings) -> str:
    """Upgrade an existing database to this dmslab's schema revision; one line saying from what to what."""
    store = Store(settings.database_url, create=False, migrate_schema=False)
    try:
        before, heads = store.migrate()
    finally:
        store.close()
    if before == heads:
        return f"database {store.describe()} is already at schema revision {', '.join(sorted(heads))}"
    return (f"database {store.describe()} migrated from schema revision {', '.join(sorted(before)) or 'none'} "
            f"to {', '.join(sorted(heads))}")


def _as_item(o: Outcome, settings: Settings, summary: IngestSummary) -> DoseReport | Rejection:
    if o.report is not None:
        return o.report
    kept = quarantine(o, settings.quarantine_dir)
    summary.rejected_files.append((o.path, o.reason or "unknown", o.detail or ""))
    logger.info("rejected %s: %s (%s)", o.path, o.reason, o.detail)
    return Rejection(o.sha256, kept, o.reason or "unknown", o.detail or "", o.sop_instance_uid, o.sop_class_uid,
                     o.study_uid)


def _listing(paths: Iterable[str | os.PathLike[str]], summary: IngestSummary) -> list[str]:
    """The files to parse under ``paths``; files skipped by name and folders that cannot be listed go to
    ``summary``."""
    def unreadable(exc: OSError) -> None:
        logger.warning("cannot list folder %s: %s", exc.filename, exc.strerror or exc)
        summary.unreadable_folders.append((str(exc.filename), str(exc.strerror or exc)))

    todo = []
    for path, skip in iter_files(paths, onerror=unreadable):
        if skip:
            summary.skipped.append(str(path))
        else:
            todo.append(str(path))
    summary.files = len(todo) + len(summary.skipped)
    return todo


def ingest_paths(paths: Iterable[str | os.PathLike[str]], settings: Settings, *, store: Store | None = None,
                 progress: Callable[[int], None] | None = None, refresh_columnar: bool = True) -> IngestSummary:
    """Ingest every file under ``paths`` into the store of ``settings``.

    Files are parsed in ``settings.workers`` processes and written in batches of ``settings.batch_size``
    reports per transaction. A file that fails is copied to the quarantine folder with its reason and
    recorded in ``source_object``; the rest of the batch continues. ``progress(n)`` is called with the
    number of files finished since the last call. At the end the store's columnar copy is re-packed, unless
    ``refresh_columnar`` is false (the receiver's worker, which ingests a few files at a time, does it when idle).
    """
    import time

    key = load_key(settings.key_file)  # raises KeyMissingError / KeyPermissionError with what to do
    summary = IngestSummary()
    todo = _listing(paths, summary)
    own = store is None
    st = store or Store(settings.database_url)
    batch: list[DoseReport | Rejection] = []
    t0 = time.perf_counter()
    try:
        for o in parse_many(todo, key, workers=settings.workers,
                            not_patient_patterns=settings.not_patient_patterns):
            summary.parse_s += o.parse_s
            batch.append(_as_item(o, settings, summary))
            if len(batch) >= settings.batch_size:
                summary.write_s += _flush(st, batch, summary, progress, settings)
        summary.write_s += _flush(st, batch, summary, progress, settings)
        if refresh_columnar:
            refresh_columnar_copy(st)
    finally:
        if own:
            st.close()
    logger.info("ingest of %d files took %.1f s", summary.files, time.perf_counter() - t0)
    return summary


def refresh_columnar_copy(st: Store) -> None:
    """Re-pack the chunks of the store's columnar copy this run changed (readers are right without it, only
    slower: a failure is logged, not raised)."""
    try:
        st.refresh_columnar()
    except StoreError as exc:
        logger.warning("columnar copy not refreshed (readers read the changed chunks from the rows): %s", exc)


def _flush(st: Store, batch: list[DoseReport | Rejection], summary: IngestSummary,
           progress: Callable[[int], None] | None, settings: Settings) -> float:
    """Write ``batch`` in one transaction; if the store refuses it, write its objects one by one.

    A lock wait beyond the store's timeout (:class:`~dmslab.errors.StoreBusyError`) is not retried: the run
    stops and the files not yet written stay where they are.
    """
    import time

    if not batch:
        return 0.0
    t = time.perf_counter()
    try:
        summary.add(st.write(batch))
    except StoreBusyError:
        raise
    except StoreError as exc:
        logger.warning("batch of %d object(s) not written (%s); writing them one by one", len(batch), exc)
        for item in batch:
            _write_alone(st, item, summary, settings)
    if progress is not None:
        progress(len(batch))
    batch.clear()
    return time.perf_counter() - t


def _write_alone(st: Store, item: DoseReport | Rejection, summary: IngestSummary, settings: Settings) -> None:
    """Write one object; one the store still refuses is recorded as rejected (``store_failed``) and kept."""
    try:
        summary.add(st.write([item]))
        return
    except StoreBusyError:
        raise
    except StoreError as exc:
        if isinstance(item, Rejection):
            raise  # not even its rejection can be recorded: the store itself is failing
        cause = str(exc)
    src = item.source
    outcome = Outcome(src.path or "", src.sha256, reason="store_failed", detail=cause,
                      sop_instance_uid=src.sop_instance_uid, sop_class_uid=src.sop_class_uid,
                      study_uid=src.study_uid)
    kept = quarantine(outcome, settings.quarantine_dir) if src.path and Path(src.path).is_file() else outcome.path
    summary.rejected_files.append((outcome.path, "store_failed", cause))
    logger.warning("%s: not stored: %s", src.sop_instance_uid or src.path, cause)
    summary.add(st.write([Rejection(src.sha256, kept, "store_failed", cause, src.sop_instance_uid,
                                    src.sop_class_uid, src.study_uid)]))
