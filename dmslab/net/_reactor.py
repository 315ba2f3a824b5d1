"""An event-driven DUL reactor for the receiver's associations: it sleeps in ``select`` until there is work.

pynetdicom's :class:`~pynetdicom.dul.DULServiceProvider` polls: every ``_run_loop_delay`` (1 ms, the receiver set
0.1 ms for latency) it wakes, asks ``select`` with a zero timeout whether the socket has data and looks at its two
queues. That costs CPU in proportion to wall time, not to work — about 10 000 wake-ups a second per association —
and beside busy processes each of those wake-ups also waits for a time slice. :class:`EventDul` runs the same loop
body (the same pynetdicom methods, in the same order), but when a pass finds nothing to do it blocks in ``select``
on the socket and on a wake-up pipe, which every ``put`` on its event queue or its to-provider queue (the
association thread sending a response, an abort) and every stop request writes to. The wait is bounded
(``_MAX_WAIT_S``), so the ARTIM timer still fires on time. Measured with bench/bench_net.py (see the commit).

:func:`drop_debug_log_handlers` unbinds pynetdicom's standard logging handlers from an association unless its
logger is at DEBUG: they format a dump of every PDU and DIMSE message (UID names looked up, f-strings built) and
then log most of it at DEBUG, i.e. nowhere, for each object.

Installed by :func:`use_event_dul` on the association the receiver's server creates, before its threads start;
the pynetdicom internals it relies on are pinned in tests/test_private_api.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import select
import socket
import ssl
from collections.abc import Callable
from typing import Any

from pynetdicom import evt
from pynetdicom.dul import DULServiceProvider
from pynetdicom.pdu import A_ABORT_RQ

__all__ = ["EventDul", "drop_debug_log_handlers", "use_event_dul"]

logger = logging.getLogger(__name__)

#: Longest sleep with nothing to do [s]: bounds how late the ARTIM timer (checked by the loop) is noticed.
_MAX_WAIT_S = 0.05
#: Sleep when there is no socket to wait on (being closed) [s].
_NO_SOCKET_S = 0.001


class _WakingQueue(queue.Queue[Any]):
    """A queue that calls ``wake`` after every item put (under the queue's lock: cheap, never blocks)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        super().__init__()
        self._wake = wake

    def _put(self, item: Any) -> None:
        super()._put(item)
        self._wake()


class EventDul(DULServiceProvider):
    """A DUL service provider whose reactor blocks until the socket, a queue or a stop request needs it."""

    def __init__(self, assoc: Any) -> None:
        super().__init__(assoc)  # binds the thread's target to self.run_reactor, i.e. ours
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.event_queue = _WakingQueue(self._wake)
        self.to_provider_queue = _WakingQueue(self._wake)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # pipe full: a wake-up is pending anyway; closed: done
            os.write(self._wake_w, b"\0")

    def kill_dul(self) -> None:
        """Stop the reactor (and wake it, so that it stops now)."""
        super().kill_dul()
        self._wake()

    def stop_dul(self) -> bool:
        """As pynetdicom's: stop the reactor if the state machine is idle (``Sta1``), waking it first."""
        if self.state_machine.current_state == "Sta1":
            self._kill_thread = True
            self._wake()
        return bool(super().stop_dul())

    def run_reactor(self) -> None:
        """pynetdicom's reactor loop, with a blocking wait instead of a fixed sleep when a pass found nothing."""
        self._idle_timer.start()
        try:
            while not self._kill_thread:
                if not self.assoc._dul_ready.is_set():
                    self.assoc._dul_ready.set()
                if self.artim_timer.expired:
                    self.event_queue.put("Evt18")
                if not self._transport_step():
                    return
                try:
                    event = self.event_queue.get(block=False)
                except queue.Empty:
                    self._wait()
                    continue
                self.state_machine.do_action(event)
        finally:
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _transport_step(self) -> bool:
        """Send one queued primitive or read one PDU (as pynetdicom's loop); ``False`` after a fatal error."""
        try:
            if self._process_recv_primitive():
                pass
            elif self._is_transport_event():
                self._idle_timer.restart()
        except Exception as exc:  # as pynetdicom: bypass the state machine, send A-ABORT, stop both reactors
            logger.error("exception in the DUL reactor, aborting the association: %s: %s", type(exc).__name__, exc)
            abort = A_ABORT_RQ()
            abort.source = 0x02
            abort.reason_diagnostic = 0x00
            if self.socket is not None:
                self.socket.send(abort.encode())
            self.assoc.is_aborted = True
            self.assoc.is_established = False
            self.assoc._kill = True
            self._kill_thread = True
            return False
        return True

    def _wait(self) -> None:
        """Block until the socket is readable, a queue got an item or a stop was asked (at most ``_MAX_WAIT_S``)."""
        if self._kill_thread or not self.to_provider_queue.empty() or not self.event_queue.empty():
            return
        sock: socket.socket | None = self.socket.socket if self.socket is not None else None
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return  # decrypted bytes already buffered: select would not see them
        try:
            fd = -1 if sock is None else sock.fileno()
            if fd < 0:
                select.select([self._wake_r], [], [], _NO_SOCKET_S)
            else:
                select.select([fd, self._wake_r], [], [], _MAX_WAIT_S)
        except (OSError, ValueError):  # the socket was closed meanwhile: the next pass notices
            return
        with contextlib.suppress(BlockingIOError, OSError):
            os.read(self._wake_r, 4096)


def use_event_dul(assoc: Any) -> EventDul:
    """Give ``assoc`` (created, no socket yet, not started) an :class:`EventDul` in place of its DUL provider,
    keeping the timers the association configured; return it."""
    old = assoc.dul
    if old.socket is not None or old.is_alive():
        raise RuntimeError("use_event_dul must be called before the association has a socket or has started")
    dul = EventDul(assoc)
    dul._idle_timer, dul.artim_timer = old._idle_timer, old.artim_timer
    assoc.dul = dul
    return dul


_LOGGED_EVENTS = (evt.EVT_PDU_RECV, evt.EVT_PDU_SENT, evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT)


def drop_debug_log_handlers(assoc: Any) -> int:
    """Unbind pynetdicom's own logging handlers (``pynetdicom._handlers``) from ``assoc`` when the ``pynetdicom``
    logger would drop their DEBUG lines; return how many were unbound. Handlers of other modules stay."""
    if logging.getLogger("pynetdicom").isEnabledFor(logging.DEBUG):
        return 0
    dropped = 0
    for event in _LOGGED_EVENTS:
        for handler, _args in list(assoc.get_handlers(event)):
            if getattr(handler, "__module__", "") == "pynetdicom._handlers":
                assoc.unbind(event, handler)
                dropped += 1
    return dropped
