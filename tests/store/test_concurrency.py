"""SQLite lock waits: a writer waits for another writer's lock instead of failing, and the wait is bounded."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from _invariants import assert_store_invariants

from dmslab.errors import StoreBusyError
from dmslab.ingest import parse_many
from dmslab.store import Store


@pytest.fixture
def sqlite_store(tmp_path):
    path = tmp_path / "busy.sqlite"
    url = f"sqlite:///{path}"
    Store(url).close()
    yield path, url
    assert_store_invariants(url)


def _reports(department, n=2):
    root, truth = department
    files = [str(root / s.files[0]) for s in truth.studies[:n]]
    return [o.report for o in parse_many(files, bytes(range(32)), workers=1)]


def _hold_write_lock(path):
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_writer_waits_for_another_writers_lock(department, sqlite_store):
    path, url = sqlite_store
    reports = _reports(department)
    store = Store(url, lock_timeout_s=120)
    holder = _hold_write_lock(path)
    done: dict[str, object] = {}
    writer = threading.Thread(target=lambda: done.update(summary=store.write(reports)))
    writer.start()
    time.sleep(1.5)  # the writer is waiting, not failed ("database is locked" used to come after 5 s)
    assert writer.is_alive() and "summary" not in done
    assert store.counts()["study"] == 0  # readers are not blocked meanwhile (WAL)
    holder.execute("COMMIT")
    holder.close()
    writer.join(timeout=120)
    assert done["summary"].ingested == len(reports)  # type: ignore[attr-defined]
    assert done["summary"].lock_wait_s > 0  # type: ignore[attr-defined]
    assert store.counts()["study"] == len(reports)
    store.close()


def test_lock_wait_is_bounded_and_nothing_is_half_written(department, sqlite_store):
    path, url = sqlite_store
    reports = _reports(department)
    store = Store(url, lock_timeout_s=0.2)
    holder = _hold_write_lock(path)
    with pytest.raises(StoreBusyError, match="locked by another writer for more than 0.2 s"):
        store.write(reports)
    holder.execute("ROLLBACK")
    holder.close()
    assert store.counts()["study"] == 0
    assert store.write(reports).ingested == len(reports)  # the lock is free: the same write goes through
    store.close()


def test_lock_timeout_must_be_positive():
    with pytest.raises(ValueError, match="lock_timeout_s"):
        Store("sqlite://", lock_timeout_s=0)
