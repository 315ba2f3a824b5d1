"""One ``dmslab pipelines run`` at a time: a lock file in the reports folder.

Two runs at once (a cron job overlapping a slow previous one, or a manual run during the nightly one) would
execute the same notebooks twice, write the same HTML files concurrently and send the e-mails twice. The run
therefore holds ``<reports>/.pipelines-run.lock`` while it works:

* The lock is ``fcntl.flock`` on that file, held for the whole run: the operating system releases it when the
  holder ends, however it ends, so a crashed run never blocks the next one. The file holds the holder's PID, host
  name and start time (UTC) as JSON, so a refused run can say who holds it and since when.
* A lock file whose ``flock`` is free but whose content names a live holder (a run ``flock`` cannot see: on another
  host of a network file system) still counts, unless it is **stale**: its PID no longer runs on this host, it is
  older than ``max_age`` (a run that takes longer is considered dead), or its content is unreadable and the file is
  older than a minute. A stale lock is taken over (logged as a warning).
* A run that holds the ``flock`` for longer than ``max_age`` is hung: the next run removes the file and locks a
  new one (the hung run keeps its ``flock`` on the removed file and, if it ever finishes, leaves the new one alone).
* Releasing removes the file only if it still holds our token; a run that locked a file another run removed
  meanwhile (same path, new file) notices it and locks the new one.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dmslab.errors import DmslabError

__all__ = ["LOCK_NAME", "LockInfo", "RunInProgressError", "RunLock"]

logger = logging.getLogger(__name__)

LOCK_NAME = ".pipelines-run.lock"
#: Default age (s) after which a lock is stale even if its PID seems alive (a run never takes 12 h).
DEFAULT_MAX_AGE_S = 12 * 3600.0
#: A lock file whose content cannot be read is stale once older than this (s): time for its writer to finish.
_UNREADABLE_GRACE_S = 60.0


class RunInProgressError(DmslabError):
    """Another ``dmslab pipelines run`` holds the lock; wait for it to finish (or remove a lock you know is dead)."""


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds the lock: process id, host name, start time (naive UTC) and a token unique to the holder."""

    pid: int
    host: str
    since: dt.datetime
    token: str

    def to_json(self) -> str:
        """The lock file content."""
        return json.dumps({"pid": self.pid, "host": self.host, "since": self.since.isoformat(), "token": self.token})

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        """Parse lock file content (ValueError, KeyError or TypeError if it is not a lock)."""
        raw = json.loads(text)
        return cls(int(raw["pid"]), str(raw["host"]), dt.datetime.fromisoformat(raw["since"]), str(raw["token"]))


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _pid_alive(pid: int) -> bool:
    """True when a process ``pid`` exists on this host (also when it belongs to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """The pipelines-run lock of one reports folder; use as a context manager around the whole run.

    Parameters
    ----------
    reports_dir
        The reports folder (created if missing); the lock file is ``reports_dir / LOCK_NAME``.
    max_age_s
        A lock older than this many seconds is stale even if its process seems to run (default 12 h).

    Raises
    ------
    RunInProgressError
        On entering, when another live run holds the lock.
    """

    def __init__(self, reports_dir: str | os.PathLike[str], *, max_age_s: float = DEFAULT_MAX_AGE_S) -> None:
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be > 0, got {max_age_s}")
        self.path = Path(reports_dir) / LOCK_NAME
        self.max_age_s = float(max_age_s)
        self.info: LockInfo | None = None
        self._fd: int | None = None

    def holder(self) -> LockInfo | None:
        """The current holder as written in the lock file (``None``: no lock, or content unreadable)."""
        try:
            return LockInfo.from_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def _too_old(self, info: LockInfo | None) -> str | None:
        """Why the holder ``info`` counts as dead by age alone, or ``None``."""
        held = (_utcnow() - info.since).total_seconds() if info else 0.0
        if held > self.max_age_s:
            return f"held for {held / 3600:.1f} h, longer than the {self.max_age_s / 3600:.1f} h limit"
        return None

    def stale_reason(self, info: LockInfo | None) -> str | None:
        """Why the existing lock (described by ``info``) is stale, or ``None`` if it is live."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return "lock file vanished"
        if info is None:
            return f"unreadable lock file {age:.0f} s old" if age > _UNREADABLE_GRACE_S else None
        too_old = self._too_old(info)
        if too_old:
            return too_old
        if info.host == socket.gethostname() and not _pid_alive(info.pid):
            return f"process {info.pid} is no longer running"
        return None

    def _open_locked(self) -> int:
        """A descriptor of the lock file with ``flock`` held; RunInProgressError when another run holds it."""
        for _attempt in range(10):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                info = self.holder()
                reason = self._too_old(info)
                if reason is None:
                    raise self._in_progress(info) from None
                logger.warning("taking over pipelines lock %s from a run that is alive but hung (%s)", self.path,
                               reason)
                self.path.unlink(missing_ok=True)  # it keeps its flock on the removed file; we lock a new one
                continue
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # the file was removed (released) between our open and our flock: lock the new one
        raise RunInProgressError(f"the lock file {self.path} keeps being replaced; is another run starting?")

    def _in_progress(self, info: LockInfo | None) -> RunInProgressError:
        who = (f"pid {info.pid} on {info.host}, since {info.since:%Y-%m-%d %H:%M:%S} UTC" if info
               else "unknown holder, lock file being written")
        return RunInProgressError(f"another run is in progress ({who}); lock file {self.path}. "
                                  "Wait for it to finish; remove the file only if no run is going.")

    def acquire(self) -> LockInfo:
        """Take the lock (taking over a stale one); RunInProgressError if a live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = LockInfo(os.getpid(), socket.gethostname(), _utcnow().replace(microsecond=0), os.urandom(8).hex())
        fd = self._open_locked()
        try:
            if os.fstat(fd).st_size:  # left by a run that flock cannot see, or by one that ended without releasing
                info = self.holder()
                reason = self.stale_reason(info)
                if reason is None:
                    raise self._in_progress(info)
                logger.warning("taking over stale pipelines lock %s (%s)", self.path, reason)
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine.to_json().encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self.info = fd, mine
        logger.info("pipelines lock %s taken (pid %d)", self.path, mine.pid)
        return mine

    def release(self) -> None:
        """Remove the lock if it is still ours (a run that lost it to a takeover leaves the new one alone)."""
        if self.info is None or self._fd is None:
            return
        try:
            current = self.holder()
            if current is not None and current.token == self.info.token:
                self.path.unlink(missing_ok=True)  # before the flock goes, so no one locks a file we then remove
            else:
                logger.warning("pipelines lock %s is no longer ours; left in place", self.path)
        finally:
            os.close(self._fd)  # releases the flock
            self._fd, self.info = None, None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
