"""One ``dmslab pipelines run`` at a time: a lock file in the reports folder.

Two runs at once (a cron job overlapping a slow previous one, or a manual run during the nightly one) would
execute the same notebooks twice, write the same HTML files concurrently and send the e-mails twice. The run
therefore holds ``<reports>/.pipelines-run.lock`` while it works:

* The lock file is created with ``O_CREAT | O_EXCL`` (atomic on local file systems) and holds the holder's
  PID, host name and start time (UTC) as JSON, so a refused run can say who holds it and since when.
* A lock is **stale** when its PID no longer runs on this host, or it is older than ``max_age`` (a hung or
  killed run on another host: a run that takes longer than ``max_age`` is considered dead), or its content
  is unreadable and the file is older than a minute. A stale lock is taken over (logged as a warning).
* Checking, taking over and releasing happen while holding ``fcntl.flock`` on a separate, never-deleted
  guard file (``.pipelines-run.lock.guard``), so two runs that find the same stale lock cannot both take
  it over. Releasing removes the lock only if it is still ours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
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

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        guard = self.path.with_name(LOCK_NAME + ".guard")
        fd = os.open(guard, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held only for the check-and-write: milliseconds
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def holder(self) -> LockInfo | None:
        """The current holder as written in the lock file (``None``: no lock, or content unreadable)."""
        try:
            return LockInfo.from_json(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None

    def stale_reason(self, info: LockInfo | None) -> str | None:
        """Why the existing lock (described by ``info``) is stale, or ``None`` if it is live."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return "lock file vanished"
        if info is None:
            return f"unreadable lock file {age:.0f} s old" if age > _UNREADABLE_GRACE_S else None
        held = (_utcnow() - info.since).total_seconds()
        if held > self.max_age_s:
            return f"held for {held / 3600:.1f} h, longer than the {self.max_age_s / 3600:.1f} h limit"
        if info.host == socket.gethostname() and not _pid_alive(info.pid):
            return f"process {info.pid} is no longer running"
        return None

    def acquire(self) -> LockInfo:
        """Take the lock (taking over a stale one); RunInProgressError if a live run holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mine = LockInfo(os.getpid(), socket.gethostname(), _utcnow().replace(microsecond=0), os.urandom(8).hex())
        with self._guard():
            if self.path.exists():
                info = self.holder()
                reason = self.stale_reason(info)
                if reason is None:
                    who = (f"pid {info.pid} on {info.host}, since {info.since:%Y-%m-%d %H:%M:%S} UTC" if info
                           else "unknown holder, lock file being written")
                    raise RunInProgressError(f"another run is in progress ({who}); lock file {self.path}. "
                                             "Wait for it to finish; remove the file only if no run is going.")
                logger.warning("taking over stale pipelines lock %s (%s)", self.path, reason)
                self.path.unlink(missing_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            try:
                os.write(fd, mine.to_json().encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        self.info = mine
        logger.info("pipelines lock %s taken (pid %d)", self.path, mine.pid)
        return mine

    def release(self) -> None:
        """Remove the lock if it is still ours (a run that lost it to a takeover leaves the new one alone)."""
        if self.info is None:
            return
        with self._guard():
            current = self.holder()
            if current is not None and current.token == self.info.token:
                self.path.unlink(missing_ok=True)
            else:
                logger.warning("pipelines lock %s is no longer ours; left in place", self.path)
        self.info = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
