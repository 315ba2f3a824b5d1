"""A small JSON status file per process (receiver, worker), and the ``dmslab status`` summary.

Each process owns one file under ``<inbox>/status/`` and rewrites it atomically at most once a second (and at
once after an error), so ``dmslab status`` can read it at any time without locks.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["StatusFile", "read_status", "status_lines"]

logger = logging.getLogger(__name__)

_MAX_ERRORS = 20


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _earlier_errors(path: Path) -> list[dict[str, Any]]:
    """The errors of the previous process in this role (a restarted worker must not hide why the last one died)."""
    try:
        errors = json.loads(path.read_text(encoding="utf-8")).get("errors", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)][-_MAX_ERRORS:] if isinstance(errors, list) else []


class StatusFile:
    """Counters and last events of one process, written to ``<inbox>/status/<role>.json``.

    Parameters
    ----------
    inbox_dir
        The inbox folder.
    role
        ``receiver`` or ``worker``.
    min_interval_s
        Shortest time between two writes, in seconds (errors are written at once).
    """

    def __init__(self, inbox_dir: str | os.PathLike[str], role: str, *, min_interval_s: float = 1.0) -> None:
        self.path = Path(inbox_dir) / "status" / f"{role}.json"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._last_write = 0.0
        self.state: dict[str, Any] = {"role": role, "pid": os.getpid(), "started_at": _now(), "counts": {},
                                      "errors": _earlier_errors(self.path)}

    def count(self, name: str, n: int = 1, *, last: str | None = None, force: bool = False) -> None:
        """Add ``n`` to counter ``name``; ``last`` names a timestamp field set to now; ``force`` writes at once."""
        with self._lock:
            self.state["counts"][name] = self.state["counts"].get(name, 0) + n
            if last:
                self.state[last] = _now()
        self.flush(force=force)

    def set(self, **values: Any) -> None:
        """Set top-level fields (JSON-serialisable)."""
        with self._lock:
            self.state.update(values)
        self.flush()

    def error(self, message: str) -> None:
        """Record an error (the last 20 are kept) and write the file now."""
        with self._lock:
            self.state["errors"] = [*self.state["errors"], {"at": _now(), "message": message}][-_MAX_ERRORS:]
        self.flush(force=True)

    def flush(self, *, force: bool = False) -> None:
        """Write the file atomically if ``min_interval_s`` passed since the last write (or ``force``)."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last_write < self.min_interval_s:
                return
            self._last_write = now
            text = json.dumps({**self.state, "written_at": _now()}, indent=1)
            tmp = self.path.with_name(f"{self.path.name}.{threading.get_ident()}.tmp")
            try:
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:  # a full disk must not stop the receiver; the inbox refuses objects anyway
                logger.warning("cannot write status file %s: %s", self.path, exc)


def read_status(inbox_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """The status files under ``<inbox>/status/`` by role (unreadable files are reported, not raised)."""
    out: dict[str, dict[str, Any]] = {}
    for p in sorted((Path(inbox_dir) / "status").glob("*.json")):
        try:
            out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            out[p.stem] = {"errors": [{"at": "", "message": f"unreadable status file: {exc}"}]}
    return out


def _inbox_lines(inbox_dir: Path) -> list[str]:
    pending = list((inbox_dir / "pending").glob("*.dcm"))
    failed = list((inbox_dir / "failed").glob("*.dcm"))
    oldest = None
    for p in pending:
        try:
            mtime = p.stat().st_mtime
        except FileNotFoundError:  # ingested while we were looking
            continue
        oldest = mtime if oldest is None else min(oldest, mtime)
    age = f", oldest waiting {time.time() - oldest:.0f} s" if oldest is not None else ""
    return [f"inbox {inbox_dir}: {len(pending)} object(s) waiting for ingest{age}; {len(failed)} in failed/"]


def _pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _process_lines(status: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for role, st in status.items():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(st.get("counts", {}).items())) or "nothing yet"
        gone = "" if _pid_alive(st.get("pid")) else ", NOT RUNNING"
        lines.append(f"{role} (pid {st.get('pid')}{gone}, started {st.get('started_at')}, "
                     f"written {st.get('written_at')}): {counts}")
        for key in ("state", "last_received_at", "last_ingest_at", "last_refused_at", "database"):
            if st.get(key):
                lines.append(f"  {key.replace('_', ' ')}: {st[key]}")
        for err in st.get("errors", [])[-5:]:
            lines.append(f"  error at {err.get('at')}: {err.get('message')}")
    return lines or ["no receiver or worker has run with this inbox yet"]


def status_lines(inbox_dir: str | os.PathLike[str], database_url: str | None) -> list[str]:
    """What ``dmslab status`` prints: inbox depth, per-process status, and ``source_object`` counts."""
    lines = _inbox_lines(Path(inbox_dir)) + _process_lines(read_status(inbox_dir))
    if database_url is None:
        return lines
    from dmslab.errors import DmslabError
    from dmslab.store import DATABASE_ERRORS, Store, source_status_counts

    failures: tuple[type[Exception], ...] = (*DATABASE_ERRORS, DmslabError)
    try:
        store = Store(database_url, read_only=True)  # status only reads: nothing is created or migrated
        try:
            rows = source_status_counts(store)
        finally:
            store.close()
    except failures as exc:
        return [*lines, f"database: unavailable ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"]
    for st, n, last in rows:
        lines.append(f"source_object {st}: {n} (last {last:%Y-%m-%d %H:%M:%S} UTC)")
    return lines if rows else [*lines, "source_object: empty"]
