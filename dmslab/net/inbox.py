"""The inbox: every received object is on disk, durably, before the sender hears "Success".

Layout under the inbox folder: ``incoming/`` (files being written), ``pending/`` (complete objects waiting
for ingest), ``failed/`` (objects the worker could not hand to ingest, kept with a reason). A file reaches
``pending/`` only by an atomic rename after its bytes and the directory entry were fsync'ed, so a crash at
any point leaves either nothing (the sender got no Success and will resend) or a complete file.

The inbox holds patient data: its folders are 0700 and its files 0600 (owner only), whatever the umask.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

from dmslab.errors import InboxFullError

__all__ = ["Inbox", "InboxFullError", "make_private_dir", "open_private"]

logger = logging.getLogger(__name__)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if needed and make it 0700 (owner only)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)


def open_private(path: Path) -> BinaryIO:
    """A new file opened for writing, created 0600 (owner only); an existing ``path`` is an error."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


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
        make_private_dir(self.root)
        for sub in ("incoming", "pending", "failed"):
            make_private_dir(self.root / sub)

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
        tmp, fh = self.open_incoming()
        try:
            with fh:
                fh.write(data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return self.commit(tmp, name=name)

    def open_incoming(self) -> tuple[Path, BinaryIO]:
        """A new, private partial file in ``incoming/`` for an object being received, open for writing.

        Hand it to :meth:`commit` when complete, or unlink it; a crash leaves it to :meth:`clean_incoming`.
        """
        tmp = self.root / "incoming" / f"{uuid.uuid4().hex}.part"
        return tmp, open_private(tmp)

    def commit(self, tmp: Path, *, name: str | None = None) -> Path:
        """Make the complete partial file ``tmp`` durable and move it to ``pending/``; return its new path.

        Raises
        ------
        InboxFullError
            When the disk is (almost) full; ``tmp`` is removed and the caller must answer with a failure status.
        """
        if self.free_bytes() < self.min_free_bytes:
            tmp.unlink(missing_ok=True)
            raise InboxFullError(f"inbox {self.root}: less than {self.min_free_bytes} bytes free; object refused")
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.pending_dir / f"{name or uuid.uuid4().hex}.dcm"
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

    def pending_count(self) -> int:
        """How many objects wait for ingest (one directory listing, no ``stat``)."""
        with os.scandir(self.pending_dir) as entries:
            return sum(1 for e in entries if e.name.endswith(".dcm"))

    def done(self, path: Path) -> None:
        """Remove an object that ingest has recorded (ingested, duplicate or rejected to quarantine)."""
        path.unlink(missing_ok=True)

    def fail(self, path: Path, reason: str) -> Path:
        """Move an object the worker could not process to ``failed/`` with a ``.reason.txt``."""
        dest = self.root / "failed" / path.name
        os.replace(path, dest)
        os.chmod(dest, 0o600)  # whoever made it, a failed object stays private
        note = dest.with_name(dest.name + ".reason.txt")
        note.unlink(missing_ok=True)
        with open_private(note) as fh:
            fh.write(reason.encode("utf-8") + b"\n")
        return dest

    def clean_incoming(self) -> int:
        """Delete partial files left by a crash (their senders got no Success); return how many."""
        n = 0
        for part in (self.root / "incoming").glob("*.part"):
            part.unlink(missing_ok=True)
            n += 1
        return n
