"""The inbox: every received object is on disk, durably, before the sender hears "Success".

Layout under the inbox folder: ``incoming/`` (files being written), ``pending/`` (complete objects waiting
for ingest), ``failed/`` (objects the worker could not hand to ingest, kept with a reason). A file reaches
``pending/`` only by an atomic rename after its bytes and the directory entry were fsync'ed, so a crash at
any point leaves either nothing (the sender got no Success and will resend) or a complete file.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path

__all__ = ["Inbox", "InboxFullError"]

logger = logging.getLogger(__name__)


class InboxFullError(OSError):
    """Not enough free disk space to accept another object safely."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Inbox:
    """A durable folder queue of received DICOM objects.

    Parameters
    ----------
    root
        The inbox folder (created if missing).
    min_free_bytes
        Refuse new objects when the file system has less free space than this (default 200 MB).
    """

    def __init__(self, root: str | os.PathLike[str], *, min_free_bytes: int = 200 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.min_free_bytes = min_free_bytes
        for sub in ("incoming", "pending", "failed"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def pending_dir(self) -> Path:
        """Complete objects waiting for ingest."""
        return self.root / "pending"

    def free_bytes(self) -> int:
        """Free space on the inbox's file system."""
        return shutil.disk_usage(self.root).free

    def put(self, data: bytes, *, name: str | None = None) -> Path:
        """Write ``data`` durably and return its path in ``pending/``.

        Raises
        ------
        InboxFullError
            When the disk is (almost) full: the caller must answer the sender with a failure status.
        """
        if self.free_bytes() - len(data) < self.min_free_bytes:
            raise InboxFullError(f"inbox {self.root}: less than {self.min_free_bytes} bytes free; object refused")
        stem = name or uuid.uuid4().hex
        tmp = self.root / "incoming" / f"{stem}.{uuid.uuid4().hex[:8]}.part"
        final = self.pending_dir / f"{stem}.dcm"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.pending_dir)
        return final

    def pending(self) -> list[Path]:
        """Objects waiting for ingest, oldest first."""
        found = []
        for p in self.pending_dir.glob("*.dcm"):
            try:
                found.append((p.stat().st_mtime_ns, p.name, p))
            except FileNotFoundError:  # taken by the worker meanwhile
                continue
        return [p for _t, _n, p in sorted(found)]

    def done(self, path: Path) -> None:
        """Remove an object that ingest has recorded (ingested, duplicate or rejected to quarantine)."""
        path.unlink(missing_ok=True)

    def fail(self, path: Path, reason: str) -> Path:
        """Move an object the worker could not process to ``failed/`` with a ``.reason.txt``."""
        dest = self.root / "failed" / path.name
        os.replace(path, dest)
        dest.with_name(dest.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return dest

    def clean_incoming(self) -> int:
        """Delete partial files left by a crash (their senders got no Success); return how many."""
        n = 0
        for part in (self.root / "incoming").glob("*.part"):
            part.unlink(missing_ok=True)
            n += 1
        return n
