"""A scratch file per target process, for readers that take a path (in ``/dev/shm`` when there is one: rewriting
a file on a disk-backed ``/tmp`` costs milliseconds per input, in memory microseconds)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_SHM = Path("/dev/shm")


def scratch_file(name: str) -> Path:
    """A path ``name`` in a fresh private folder, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="dmslab-fuzz-", dir=_SHM if _SHM.is_dir() else None))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder / name
