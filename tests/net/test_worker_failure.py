"""No silent stall: an error in the ingest worker's loop ends it loudly (the worker process exits with an error and is
restarted with backoff; a worker thread is restarted), ``dmslab status`` shows the error and the age of the oldest
pending file, and once the cause is gone the files are ingested. Archive files and folders are private."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _receiver_util import ROOT, ingested_counts, make_settings, receiver_settings, wait_until

from dmslab.net.inbox import Inbox
from dmslab.net.scp import Receiver, send_files
from dmslab.net.status import read_status, status_lines
from dmslab.net.worker import IngestWorker
from dmslab.store import Store


def _files(department: tuple[Path, object], n: int) -> list[Path]:
    return sorted(department[0].rglob("*.dcm"))[:n]


def _oldest_age(lines: list[str]) -> int:
    found = re.search(r"(\d+) object\(s\) waiting for ingest, oldest waiting (\d+) s", lines[0])
    assert found, lines[0]
    return int(found.group(2))


def test_worker_process_exits_with_an_error_and_status_shows_it(tmp_path: Path,
                                                                  department: tuple[Path, object]) -> None:
    """The archive folder is a regular file (root ignores read-only folders, not this): every start fails."""
    settings = make_settings(tmp_path)
    Store(settings.database_url).close()  # an empty store, to show that nothing reached it
    archive = tmp_path / "archive-is-a-file"
    archive.write_text("not a folder")
    rs = receiver_settings(settings, after_ingest="archive", archive_dir=archive)
    inbox = Inbox(rs.inbox_dir, min_free_bytes=0)
    paths = _files(department, 2)
    for path in paths:
        inbox.put(path.read_bytes(), name=path.stem)
    os.utime(inbox.pending()[0], (os.stat(paths[0]).st_atime, os.stat(paths[0]).st_mtime - 120))  # 2 min old
    env = {**os.environ, "DMSLAB_AFTER_INGEST": "archive", "DMSLAB_ARCHIVE_DIR": str(archive),
           "DMSLAB_INBOX_DIR": str(rs.inbox_dir)}
    done = subprocess.run([sys.executable, "-m", "dmslab.cli", "--home", str(settings.home), "--database-url",
                           settings.database_url, "receive", "--worker-only"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1  # the process ends: it does not sit there with a dead thread
    assert "ingest worker stopped: FileExistsError" in done.stderr
    assert len(inbox.pending()) == 2 and ingested_counts(settings.database_url) == {}  # nothing lost, nothing half
    lines = status_lines(rs.inbox_dir, None)
    assert _oldest_age(lines) >= 120
    assert any("state: stopped by an error" in line for line in lines)
    assert any("error at" in line and "ingest worker stopped: FileExistsError" in line and str(archive) in line
               for line in lines)
    assert any(line.startswith("worker (pid") and "NOT RUNNING" in line for line in lines)


def test_receiver_restarts_a_failing_worker_process_with_backoff(tmp_path: Path,
                                                                  department: tuple[Path, object]) -> None:
    settings = make_settings(tmp_path)
    archive = tmp_path / "archive-is-a-file"
    archive.write_text("not a folder")
    rs = receiver_settings(settings, after_ingest="archive", archive_dir=archive)
    with Receiver(settings, rs, worker="process") as rec:
        sent = send_files(_files(department, 3), ("127.0.0.1", rec.port), called_aet="DMSLAB", calling_aet="TESTSCU")
        assert len(sent.success) == 3

        def restarted_twice() -> bool:
            rec.supervise()
            errors = [e["message"] for e in read_status(rec.inbox.root).get("receiver", {}).get("errors", [])]
            return sum("ended with exit code 1; restarting" in m for m in errors) >= 2

        wait_until(restarted_twice, 90, "failing worker not restarted twice")
        assert rec._restart_delay >= 1.0  # a worker that dies at once backs off (0.5 s doubled, and more)
        assert len(rec.inbox.pending()) == 3
        lines = status_lines(rec.inbox.root, None)
        assert any("ingest worker stopped: FileExistsError" in line for line in lines)
        assert any("ended with exit code 1; restarting" in line for line in lines)
        archive.unlink()  # the cause is fixed: the next restart drains the inbox
        assert rec.wait_drained(120)
    assert set(ingested_counts(settings.database_url)) == set(sent.success)
    day = next(archive.iterdir())
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700 and stat.S_IMODE(day.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in day.iterdir()} == {0o600}


def test_worker_thread_stopped_by_an_error_is_restarted(tmp_path: Path, department: tuple[Path, object],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    calls = {"n": 0}
    real_finish = IngestWorker._finish

    def finish_fails_twice(self: IngestWorker, files: list[Path]) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise RuntimeError("archive step broke")
        real_finish(self, files)

    monkeypatch.setattr(IngestWorker, "_finish", finish_fails_twice)
    with Receiver(settings, receiver_settings(settings), worker="thread") as rec:
        sent = send_files(_files(department, 3), ("127.0.0.1", rec.port), called_aet="DMSLAB", calling_aet="TESTSCU")
        first = rec._runner
        wait_until(lambda: first is not None and not first.is_alive(), 60, "worker thread did not stop on the error")
        worker_errors = [e["message"] for e in read_status(rec.inbox.root)["worker"]["errors"]]
        assert "ingest worker stopped: RuntimeError: archive step broke" in worker_errors
        assert rec.wait_drained(120)  # supervise() restarted the thread (twice), then the batch went through
        assert rec._runner is not first
    assert calls["n"] >= 3
    receiver_errors = [e["message"] for e in read_status(rec.inbox.root)["receiver"]["errors"]]
    assert sum("ingest worker thread stopped by an error; restarting" in m for m in receiver_errors) == 2
    assert set(ingested_counts(settings.database_url)) == set(sent.success) and len(sent.success) == 3
