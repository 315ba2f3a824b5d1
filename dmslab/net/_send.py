"""Sending files to a Storage SCP: :func:`send_files`, its retries and its :class:`SendResult`.

Every file ends in exactly one of three lists: Success (by SOP Instance UID), failed (with the status the peer
answered) or unsent (with the reason). Files without a response are sent again on a new association.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dmslab.net import handlers
from dmslab.net._store_scu import Part10Header, Peer, StoreAssociation, read_part10_header

__all__ = ["Retry", "SendResult", "counts_text", "send_files"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Retry:
    """How :func:`send_files` retries.

    Parameters
    ----------
    attempts
        Associations to try in all (>= 1); each new one carries the files that got no response.
    pause_s
        Wait before a new association [s].
    response_timeout_s
        Longest wait for one C-STORE response [s], a liveness guard: then the association is aborted and the
        files without a response are retried.
    """

    attempts: int = 3
    pause_s: float = 1.0
    response_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.pause_s < 0 or self.response_timeout_s <= 0:
            raise ValueError(f"pause_s must be >= 0 and response_timeout_s > 0, got {self.pause_s}, "
                             f"{self.response_timeout_s}")


def counts_text(by_key: dict[str, int]) -> str:
    """`` (a: 1, b: 2)`` for non-empty counts, else an empty string."""
    return f" ({', '.join(f'{k}: {v}' for k, v in sorted(by_key.items()))})" if by_key else ""


@dataclass(slots=True)
class SendResult:
    """Outcome of :func:`send_files`: SOP Instance UIDs the peer answered Success for, failures with their
    status, and the paths not sent (no response, no accepted context, unreadable) with the reason for each."""

    success: list[str] = field(default_factory=list)
    failed: list[tuple[str, int]] = field(default_factory=list)
    unsent: list[Path] = field(default_factory=list)
    reasons: dict[Path, str] = field(default_factory=dict)
    attempts: int = 0

    @property
    def files(self) -> int:
        """How many files were given."""
        return len(self.success) + len(self.failed) + len(self.unsent)

    @property
    def all_stored(self) -> bool:
        """Whether the peer answered Success for every file."""
        return not self.failed and not self.unsent

    def failures_by_status(self) -> dict[str, int]:
        """Failure counts keyed by the status in hex."""
        out: dict[str, int] = {}
        for _sop, st in self.failed:
            out[f"0x{st:04X}"] = out.get(f"0x{st:04X}", 0) + 1
        return out

    def unsent_by_reason(self) -> dict[str, int]:
        """Counts of unsent files keyed by the reason."""
        out: dict[str, int] = {}
        for path in self.unsent:
            reason = self.reasons.get(path, "not sent")
            out[reason] = out.get(reason, 0) + 1
        return out

    def lines(self) -> list[str]:
        """One line: how many files, Success, failed (by status), unsent (by reason), associations."""
        return [f"{self.files} file(s): {len(self.success)} Success, {len(self.failed)} failed"
                f"{counts_text(self.failures_by_status())}, {len(self.unsent)} unsent"
                f"{counts_text(self.unsent_by_reason())}; {self.attempts} association(s)"]

    def add_unsent(self, path: Path, reason: str) -> None:
        """Record ``path`` as not sent, and why."""
        self.unsent.append(path)
        self.reasons[path] = reason


def _send_once(todo: list[Part10Header], peer: Peer, result: SendResult, timeout_s: float) -> list[Part10Header]:
    """Send ``todo`` over one association; return those to try again (association refused or ended early)."""
    pairs = list(dict.fromkeys((h.sop_class, h.transfer_syntax) for h in todo))
    assoc = StoreAssociation.open(peer, pairs, timeout_s=timeout_s, conn_open=handlers.handle_conn_open)
    if assoc is None:
        return todo
    try:
        for i, header in enumerate(todo):
            if not assoc.accepts(header):  # the peer does not take this class/syntax: sending again will not help
                result.add_unsent(header.path, "no accepted presentation context for its SOP class and transfer "
                                               "syntax")
                continue
            status = assoc.store(header)
            if status is None:
                return todo[i:]
            if status == handlers.StoreStatus.SUCCESS:
                result.success.append(header.sop_instance)
            else:
                result.failed.append((header.sop_instance, status))
            logger.debug("sent %s: status 0x%04X", header.sop_instance, status)
    finally:
        assoc.close()
    return []


def send_files(paths: list[Path], address: tuple[str, int], *, called_aet: str, calling_aet: str = "DMSLAB_SCU",
               ssl_context: Any = None, retry: Retry | None = None) -> SendResult:
    """C-STORE the DICOM Part 10 files ``paths`` over one association (TCP_NODELAY set), each file's dataset
    bytes as they are, over a context proposed for its SOP class and transfer syntax.

    When the association is refused or ends before every file got a response, the files without a response are
    sent again on a new association (``retry``: default 3 associations in all, 1 s apart). A file the peer
    answered with a failure status is not sent again.

    Returns
    -------
    SendResult
        Every path is in exactly one of ``success`` (by SOP Instance UID), ``failed`` (with the status) and
        ``unsent`` (with the reason in ``reasons``).
    """
    retry = retry or Retry()
    peer = Peer(address[0], address[1], called_aet, calling_aet, ssl_context)
    result = SendResult()
    todo: list[Part10Header] = []
    for path in map(Path, paths):
        try:
            todo.append(read_part10_header(path))
        except (OSError, ValueError) as exc:
            result.add_unsent(path, f"unreadable: {exc}")
    for attempt in range(1, retry.attempts + 1):
        if not todo:
            break
        if attempt > 1:
            logger.warning("%d object(s) without a response: new association in %.1f s (attempt %d of %d)",
                           len(todo), retry.pause_s, attempt, retry.attempts)
            time.sleep(retry.pause_s)
        result.attempts = attempt
        todo = _send_once(todo, peer, result, retry.response_timeout_s)
    for header in todo:
        result.add_unsent(header.path, f"no response after {retry.attempts} association attempt(s)")
    logger.info("sent to %s@%s:%d: %s", called_aet, address[0], address[1], result.lines()[0])
    return result
