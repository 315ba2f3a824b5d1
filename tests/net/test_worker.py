"""The ingest worker: database unavailable → objects wait in the inbox; archive mode; one worker per inbox."""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from _receiver_util import ingested_counts, make_settings, receiver_settings, wait_until

from dmslab.net.inbox import Inbox
from dmslab.net.scp import Receiver, send_files
from dmslab.net.status import read_status
from dmslab.net.worker import IngestWorker, WorkerBusyError
from dmslab.store import Store


def _files(department: tuple[Path, object], n: int) -> list[Path]:
    return sorted(department[0].rglob("*.dcm"))[:n]


def test_sqlite_locked_objects_wait_then_are_ingested(tmp_path: Path, department: tuple[Path, object],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the worker's writes give up after 1 s of lock wait (the store's default is 60 s), so it reports the lock soon
    monkeypatch.setattr("dmslab.net.worker.Store", functools.partial(Store, lock_timeout_s=1.0))
    settings = make_settings(tmp_path)
    Store(settings.database_url).close()  # schema exists; the lock below blocks writers only
    lock = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"), timeout=0.1)
    lock.execute("BEGIN EXCLUSIVE")
    files = _files(department, 12)
    with Receiver(settings, receiver_settings(settings), worker="thread") as rec:
        sent = send_files(files, ("127.0.0.1", rec.port), called_aet="DMSLAB", calling_aet="TESTSCU")
        assert len(sent.success) == 12  # Success while the database is down: the objects are safe in the inbox
        wait_until(lambda: read_status(rec.inbox.root).get("worker", {}).get("errors"), 60, "worker saw no error")
        assert len(rec.inbox.pending()) == 12
        assert "locked" in read_status(rec.inbox.root)["worker"]["errors"][-1]["message"]
        lock.rollback()
        lock.close()
        assert rec.wait_drained(30)
    counts = ingested_counts(settings.database_url)
    assert set(counts) == set(sent.success) and set(counts.values()) == {1}


def test_unreachable_postgres_then_recovery(tmp_path: Path, department: tuple[Path, object]) -> None:
    good = make_settings(tmp_path)
    bad = replace(good, database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    rs = receiver_settings(good)
    inbox = Inbox(rs.inbox_dir)
    for path in _files(department, 5):
        inbox.put(path.read_bytes())
    worker = IngestWorker(inbox, bad, rs)
    with pytest.raises(Exception, match="(?i)connect|refused"):
        worker.run_once()
    assert len(inbox.pending()) == 5
    worker.close()
    worker = IngestWorker(inbox, good, rs)
    assert worker.drain() == 5
    worker.close()
    assert inbox.pending() == [] and sum(ingested_counts(good.database_url).values()) == 5


def test_archive_keeps_the_files(tmp_path: Path, department: tuple[Path, object]) -> None:
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings, after_ingest="archive")
    inbox = Inbox(rs.inbox_dir)
    for path in _files(department, 3):
        inbox.put(path.read_bytes(), name=path.stem)
    worker = IngestWorker(inbox, settings, rs)
    assert worker.drain() == 3
    worker.close()
    archived = sorted(p.stem for p in rs.archive_dir.rglob("*.dcm"))
    assert archived == sorted(p.stem for p in _files(department, 3)) and inbox.pending() == []


def test_one_worker_per_inbox(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings)
    first = IngestWorker(Inbox(rs.inbox_dir), settings, rs)
    first.lock()
    second = IngestWorker(Inbox(rs.inbox_dir), settings, rs)
    with pytest.raises(WorkerBusyError, match="another ingest worker"):
        second.lock()
    first.close()
    second.lock()
    second.close()


def test_a_file_that_breaks_the_batch_goes_to_failed_and_the_rest_is_ingested(
        tmp_path: Path, department: tuple[Path, object], monkeypatch: pytest.MonkeyPatch) -> None:
    import dmslab.net.worker as worker_module

    real = worker_module.ingest_paths

    def fragile(paths: list[Path], *args: object, **kw: object) -> object:
        if any("poison" in Path(p).name for p in paths):
            raise ValueError("parser bug")
        return real(paths, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module, "ingest_paths", fragile)
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings)
    inbox = Inbox(rs.inbox_dir)
    files = _files(department, 3)
    for i, path in enumerate(files):
        inbox.put(path.read_bytes(), name="poison" if i == 1 else path.stem)
    worker = IngestWorker(inbox, settings, rs)
    assert worker.run_once() == 3
    worker.close()
    assert inbox.pending() == []
    assert (rs.inbox_dir / "failed" / "poison.dcm.reason.txt").read_text() == "ValueError: parser bug\n"
    assert sum(ingested_counts(settings.database_url).values()) == 2


def test_killed_worker_process_is_restarted(tmp_path: Path, department: tuple[Path, object]) -> None:
    import os
    import signal

    settings = make_settings(tmp_path)
    with Receiver(settings, receiver_settings(settings), worker="process") as rec:
        first = rec._runner
        assert first is not None
        wait_until(lambda: (rec.inbox.root / "status" / "worker.json").exists(), 60, "worker did not start")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        sent = send_files(_files(department, 6), ("127.0.0.1", rec.port), called_aet="DMSLAB",
                          calling_aet="TESTSCU")
        assert rec.wait_drained(60)  # supervise() started a new worker process
        assert rec._runner is not first and rec._runner.poll() is None
    assert set(ingested_counts(settings.database_url)) == set(sent.success) and len(sent.success) == 6
    assert "ended with exit code -9" in read_status(rec.inbox.root)["receiver"]["errors"][-1]["message"]


def test_a_worker_that_keeps_dying_is_restarted_with_backoff(tmp_path: Path, monkeypatch) -> None:
    """A worker that exits at once (lock held elsewhere, bad settings) is not respawned in a hot loop."""
    import subprocess
    import sys
    import time

    settings = make_settings(tmp_path)
    rec = Receiver(settings, receiver_settings(settings), worker="process")
    starts: list[float] = []

    def dead_worker() -> None:
        starts.append(time.monotonic())
        rec._started_at = time.monotonic()
        rec._runner = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        rec._runner.wait()

    monkeypatch.setattr(rec, "_start_worker", dead_worker)
    dead_worker()
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        rec.supervise()
        time.sleep(0.05)
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert 2 <= len(starts) <= 4, starts  # immediate restart, then 1 s, 2 s ... apart: not ~70 restarts
    assert all(g >= 0.9 for g in gaps[1:]), gaps
    rec.status.flush(force=True)
    assert "next restart no sooner than" in read_status(rec.inbox.root)["receiver"]["errors"][-1]["message"]


def test_the_columnar_copy_is_repacked_when_the_inbox_is_idle(tmp_path: Path,
                                                              department: tuple[Path, object]) -> None:
    """Batches leave the copy's changed chunks for later (readers read them from the rows meanwhile); the first
    idle moment re-packs it, and what readers see is the same before and after."""
    from dmslab.analysis.stats import summaries
    from dmslab.store._columnar import dirty_chunks

    settings = make_settings(tmp_path)
    rs = receiver_settings(settings, ingest_batch=2)
    inbox = Inbox(rs.inbox_dir)
    for path in _files(department, 6):
        inbox.put(path.read_bytes())
    worker = IngestWorker(inbox, settings, rs)
    assert worker.run_once() == 2 and worker.run_once() == 2
    store = Store(settings.database_url, read_only=True)
    with store.engine.connect() as conn:
        assert dirty_chunks(conn)  # not re-packed after each batch
    before = summaries(store, ["dlp_mgycm"], by=("room",))["dlp_mgycm"]
    assert int(before["n"].sum()) > 0
    assert worker.repack(idle=False) is False  # busy, and the writes are recent: no re-pack yet
    assert worker.drain() == 2  # ends idle: re-packed
    assert worker.repack(idle=True) is False  # nothing left to re-pack
    worker.close()
    with store.engine.connect() as conn:
        assert dirty_chunks(conn) == set()
    after = summaries(store, ["dlp_mgycm"], by=("room",))["dlp_mgycm"]
    assert int(after["n"].sum()) > int(before["n"].sum())
    store.close()
