"""``dmslab pipelines run`` refuses to run twice at once and takes over stale locks."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dmslab.cli import EXIT_LOCKED, main
from dmslab.reporting._lock import LOCK_NAME, LockInfo, RunInProgressError, RunLock

_HOLDER = """
import sys, time
from dmslab.reporting._lock import RunLock
with RunLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def _run(tmp_path: Path) -> int:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir(exist_ok=True)  # no pipeline: the run itself does nothing, only the lock matters
    return main(["--home", str(tmp_path), "pipelines", "run", "--pipelines-dir", str(pipelines),
                 "--reports-dir", str(tmp_path / "reports")])


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def test_second_concurrent_run_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path, capsys):
    reports = tmp_path / "reports"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(reports)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        rc = _run(tmp_path)
        err = capsys.readouterr().err
        assert rc == EXIT_LOCKED
        assert f"another run is in progress (pid {holder.pid} on {socket.gethostname()}, since " in err
        assert (reports / LOCK_NAME).is_file()
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # the holder died without releasing: its lock is stale (PID gone) and the next run takes it over
    assert LockInfo.from_json((reports / LOCK_NAME).read_text()).pid == holder.pid
    assert _run(tmp_path) == 0
    assert "index:" in capsys.readouterr().out
    assert not (reports / LOCK_NAME).exists()  # released after the run


def test_stale_by_age_and_unreadable_locks(tmp_path, caplog):
    lock = RunLock(tmp_path, max_age_s=3600)
    path = tmp_path / LOCK_NAME
    # a live PID (this test's parent) but 2 h old: stale by age
    old = LockInfo(os.getppid(), socket.gethostname(), _utcnow() - dt.timedelta(hours=2), "feed")
    path.write_text(old.to_json())
    assert "longer than the 1.0 h limit" in lock.stale_reason(old)
    with caplog.at_level("WARNING", logger="dmslab.reporting._lock"), lock:
        assert lock.holder().pid == os.getpid() and lock.holder().token != "feed"
    assert "taking over stale pipelines lock" in caplog.text and not path.exists()
    # a live PID, 1 min old: not stale
    live = LockInfo(os.getppid(), socket.gethostname(), _utcnow() - dt.timedelta(minutes=1), "beef")
    path.write_text(live.to_json())
    with pytest.raises(RunInProgressError, match=rf"pid {os.getppid()} on .*, since "):
        lock.acquire()
    assert lock.holder() == live
    # unreadable content: being written (fresh) blocks, older than a minute is stale
    path.write_text("{")
    with pytest.raises(RunInProgressError, match="unknown holder"):
        lock.acquire()
    stamp = time.time() - 120
    os.utime(path, (stamp, stamp))
    lock.acquire()
    assert lock.holder().pid == os.getpid()
    # a lock taken over from us is not removed by our release
    path.write_text(live.to_json())
    lock.release()
    assert lock.holder() == live


def test_the_lock_is_released_when_the_run_fails(tmp_path, capsys):
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    rc = main(["--home", str(tmp_path), "pipelines", "run", "--pipelines-dir", str(pipelines),
               "--reports-dir", str(tmp_path / "reports"), "--period", "2026-01"])
    assert rc == 2 and "--period needs the pipeline name(s)" in capsys.readouterr().err
    assert (tmp_path / "reports").is_dir() and not (tmp_path / "reports" / LOCK_NAME).exists()


_HUNG = """
import sys, time
from dmslab.reporting._lock import RunLock
lock = RunLock(sys.argv[1], max_age_s=1.0)
with lock:
    print("locked", flush=True)
    sys.stdin.readline()  # "hung" until the test says go on
print("released", lock.path.exists(), flush=True)
"""


def test_flock_is_the_lock_and_a_hung_holder_is_taken_over_after_max_age(tmp_path):
    """While a live run holds the flock it is refused even if its file looked stale by content; once it has held it
    longer than max_age the next run takes over with a new file, which the old run's release leaves alone."""
    reports = tmp_path / "reports"
    holder = subprocess.Popen([sys.executable, "-c", _HUNG, str(reports)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        path = reports / LOCK_NAME
        info = LockInfo.from_json(path.read_text())
        path.write_text(LockInfo(999_999_999, info.host, info.since, info.token).to_json())  # a dead PID, by content
        with pytest.raises(RunInProgressError, match="pid 999999999"):  # the flock says otherwise
            RunLock(reports, max_age_s=3600).acquire()
        time.sleep(1.5)  # the holder has now held the lock longer than its 1 s limit
        mine = RunLock(reports, max_age_s=1.0)
        mine.acquire()
        assert LockInfo.from_json(path.read_text()).pid == os.getpid()
        holder.stdin.write("go on\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released True"  # the hung run left our new lock file alone
        assert mine.holder() is not None and mine.holder().pid == os.getpid()
        mine.release()
        assert not path.exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
