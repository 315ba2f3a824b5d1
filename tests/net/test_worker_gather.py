"""The worker lets a partial batch gather while objects keep arriving, and takes it as soon as a look finds nothing
new, at ``_GATHER_FILES`` files or after ``_GATHER_MAX_S``; a burst then becomes one batch, each object once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from _receiver_util import ingested_counts, make_settings, receiver_settings

from dmslab.net import worker as worker_mod
from dmslab.net.inbox import Inbox
from dmslab.net.worker import IngestWorker


class _Stop(threading.Event):
    """A stop event whose waits return at once (counted), so the gathering policy is tested without sleeping."""

    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.waits, self.stop_after = 0, stop_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        if self.stop_after is not None and self.waits >= self.stop_after:
            self.set()
        return self.is_set()


def _worker(tmp_path: Path, counts: list[int], monkeypatch: pytest.MonkeyPatch, **kw: object) -> IngestWorker:
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings, **kw)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    looks: Iterator[int] = iter(counts)
    monkeypatch.setattr(inbox, "pending_count", lambda: next(looks))
    return IngestWorker(inbox, settings, rs)


@pytest.mark.parametrize(("looks", "waits"), [
    ([3, 3], 1),             # nothing new at the first look: taken after one wait
    ([2, 5, 9, 9], 3),       # growing: waits while it grows
    ([2, 12, 20], 2),        # reached _GATHER_FILES (20): taken without another look
    ([25], 0),               # already a full gathering
])
def test_a_partial_batch_gathers_while_it_grows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, looks: list[int],
                                                waits: int) -> None:
    w = _worker(tmp_path, looks, monkeypatch)
    stop = _Stop()
    assert w._gather(stop) is True
    assert stop.waits == waits
    w.close()


def test_gathering_ends_at_the_deadline_while_objects_trickle_in(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    w = _worker(tmp_path, [1, 2, 3, 4, 5], monkeypatch)
    monkeypatch.setattr(w.status, "flush", lambda **_kw: None)
    clock = iter([0.0, 0.5, 2.0])  # the deadline (0 + 1 s), a look before it, then past it
    monkeypatch.setattr(worker_mod.time, "monotonic", lambda: next(clock))
    stop = _Stop()
    assert w._gather(stop) is True
    assert stop.waits == 1  # one look (it grew), then the deadline: taken
    monkeypatch.undo()
    w.close()


def test_nothing_pending_or_stopped_means_no_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _worker(tmp_path, [0], monkeypatch)
    stop = _Stop()
    assert w._gather(stop) is False and stop.waits == 0
    w.close()
    (tmp_path / "b").mkdir()
    w = _worker(tmp_path / "b", [2, 4], monkeypatch)
    assert w._gather(_Stop(stop_after=1)) is False
    w.close()


def test_the_gathering_target_is_at_most_the_batch_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _worker(tmp_path, [2], monkeypatch, ingest_batch=2)
    stop = _Stop()
    assert w._gather(stop) is True and stop.waits == 0
    w.close()


def test_pending_count_counts_the_objects_waiting(tmp_path: Path) -> None:
    inbox = Inbox(tmp_path / "inbox", min_free_bytes=0)
    assert inbox.pending_count() == 0
    for i in range(3):
        inbox.put(b"x" * 10, name=f"obj{i}")
    (inbox.pending_dir / "notes.txt").write_text("not an object")
    assert inbox.pending_count() == 3 == len(inbox.pending())


def test_a_burst_is_ingested_once_in_one_batch(tmp_path: Path, department: tuple[Path, object],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(department[0].rglob("*.dcm"))[:7]
    settings = make_settings(tmp_path)
    rs = receiver_settings(settings)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    for path in files:
        inbox.put(path.read_bytes())
    w = IngestWorker(inbox, settings, rs)
    batches: list[int] = []
    real = w.run_once

    def counted() -> int:
        n = real()
        batches.append(n)
        return n

    monkeypatch.setattr(w, "run_once", counted)
    stop = _Stop(stop_after=3)  # the gathering look, the idle poll, then stop
    w._loop(stop)
    w.close()
    assert batches[0] == 7 and sum(batches) == 7
    counts = ingested_counts(settings.database_url)
    assert len(counts) == 7 and set(counts.values()) == {1}


def test_idle_means_empty_for_a_while_not_for_a_moment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = _worker(tmp_path, [], monkeypatch)
    clock = iter([10.0, 10.4, 11.0, 11.5, 20.0])
    monkeypatch.setattr(worker_mod.time, "monotonic", lambda: next(clock))
    assert w._idle(0) is False  # empty since 10.0
    assert w._idle(0) is False  # 0.4 s: a pause between two objects
    assert w._idle(0) is True   # 1.0 s: idle, re-pack
    assert w._idle(3) is False  # objects again: the clock restarts
    assert w._idle(0) is False  # empty since 11.5
    assert w._idle(0) is True   # 8.5 s later
    monkeypatch.undo()
    w.close()


def test_a_deep_inbox_is_parsed_in_the_worker_process(tmp_path: Path, department: tuple[Path, object],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of 40 with ``workers=2`` (``dmslab ingest`` would start a pool for it) is parsed in process."""
    from dataclasses import replace

    import dmslab.ingest._files as files_mod

    def no_pool(*_a: object, **_k: object) -> None:
        raise AssertionError("the worker started a parser pool for one batch")

    monkeypatch.setattr(files_mod, "ProcessPoolExecutor", no_pool)
    files = sorted(department[0].rglob("*.dcm"))[:40]
    settings = replace(make_settings(tmp_path), workers=2)
    rs = receiver_settings(settings)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    for path in files:
        inbox.put(path.read_bytes())
    w = IngestWorker(inbox, settings, rs)
    monkeypatch.setattr(w, "_one_by_one", no_pool)  # the batch must not have failed into the file-by-file path
    assert w.run_once() == 40
    w.close()
    counts = ingested_counts(settings.database_url)
    assert len(counts) == 40 and set(counts.values()) == {1}
