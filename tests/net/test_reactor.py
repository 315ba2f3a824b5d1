"""The receiver's event-driven DUL reactor: it waits in ``select`` and is woken by its socket, its queues and a
stop; and pynetdicom's per-message debug dumps are unbound unless its logger is at DEBUG. Waits are made very long
here (monkeypatched), so that a missing wake-up shows as a hang that the liveness guard (a join timeout) turns into
a failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.transport import AssociationSocket

from dmslab.net import _reactor
from dmslab.net._reactor import EventDul, use_event_dul

_GUARD_S = 60.0  # liveness guard only: each wait below returns at once when the wake-up works


@pytest.fixture
def dul(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EventDul, socket.socket]]:
    """An acceptor association's EventDul on one end of a socket pair (the other end returned), waits of 10 min."""
    monkeypatch.setattr(_reactor, "_MAX_WAIT_S", 600.0)
    assoc = Association(AE(), "acceptor")
    ours, peer = socket.socketpair()
    dul = use_event_dul(assoc)
    assoc.set_socket(AssociationSocket(assoc, client_socket=ours))
    dul.event_queue.get_nowait()  # the Evt5 (connection open) the socket queued
    yield dul, peer
    peer.close()
    ours.close()


def _waits(dul: EventDul, action: object) -> bool:
    """Whether ``dul._wait()`` in another thread returns after ``action()`` (within the liveness guard)."""
    started, done = threading.Event(), threading.Event()

    def wait() -> None:
        started.set()
        dul._wait()
        done.set()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    started.wait(_GUARD_S)
    assert callable(action)
    action()
    return done.wait(_GUARD_S)


def test_the_association_gets_an_event_dul_with_its_timers() -> None:
    assoc = Association(AE(), "acceptor")
    old = assoc.dul
    assoc.network_timeout = 17.0
    dul = use_event_dul(assoc)
    assert assoc.dul is dul and isinstance(dul, EventDul) and dul is not old
    assert dul._idle_timer is old._idle_timer and dul._idle_timer.timeout == 17.0
    assert dul.artim_timer is old.artim_timer


def test_use_event_dul_refuses_a_started_association() -> None:
    assoc = Association(AE(), "acceptor")
    a, b = socket.socketpair()
    try:
        assoc.set_socket(AssociationSocket(assoc, client_socket=a))
        with pytest.raises(RuntimeError, match="before the association has a socket"):
            use_event_dul(assoc)
    finally:
        a.close()
        b.close()


def test_wait_is_woken_by_data_on_the_socket(dul: tuple[EventDul, socket.socket]) -> None:
    d, peer = dul
    assert _waits(d, lambda: peer.sendall(b"\x07"))


def test_wait_is_woken_by_a_primitive_to_send_and_by_an_event(dul: tuple[EventDul, socket.socket]) -> None:
    d, _peer = dul
    assert _waits(d, lambda: d.to_provider_queue.put("primitive"))
    d.to_provider_queue.get_nowait()
    assert _waits(d, lambda: d.event_queue.put("Evt19"))
    d.event_queue.get_nowait()


def test_wait_is_woken_by_kill(dul: tuple[EventDul, socket.socket]) -> None:
    d, _peer = dul
    assert _waits(d, d.kill_dul)
    assert d._kill_thread


def test_wait_returns_at_once_when_work_is_queued(dul: tuple[EventDul, socket.socket]) -> None:
    d, _peer = dul
    d.event_queue.put("Evt19")
    done = threading.Event()
    threading.Thread(target=lambda: (d._wait(), done.set()), daemon=True).start()
    assert done.wait(_GUARD_S)


def test_the_reactor_thread_stops_on_kill_and_closes_its_pipe(dul: tuple[EventDul, socket.socket]) -> None:
    d, _peer = dul
    d.start()
    assert d.assoc._dul_ready.wait(_GUARD_S)
    d.kill_dul()
    d.join(_GUARD_S)
    assert not d.is_alive()
    with pytest.raises(OSError):
        import os

        os.fstat(d._wake_r)


def test_pynetdicom_debug_dumps_are_unbound_unless_debug_is_on() -> None:
    import logging

    from pynetdicom import evt

    from dmslab.net._reactor import drop_debug_log_handlers

    def ours(event: object) -> None:
        return None

    log = logging.getLogger("pynetdicom")
    level = log.level
    try:
        log.setLevel(logging.INFO)
        assoc = Association(AE(), "acceptor")
        assoc.bind(evt.EVT_PDU_RECV, ours)
        before = {e: len(assoc.get_handlers(e)) for e in (evt.EVT_PDU_RECV, evt.EVT_DIMSE_SENT)}
        assert before == {evt.EVT_PDU_RECV: 2, evt.EVT_DIMSE_SENT: 1}  # pynetdicom's standard handlers are bound
        assert drop_debug_log_handlers(assoc) == 4
        assert [h for h, _a in assoc.get_handlers(evt.EVT_PDU_RECV)] == [ours]
        assert assoc.get_handlers(evt.EVT_DIMSE_SENT) == []
        log.setLevel(logging.DEBUG)
        debug = Association(AE(), "acceptor")
        assert drop_debug_log_handlers(debug) == 0 and len(debug.get_handlers(evt.EVT_DIMSE_SENT)) == 1
    finally:
        log.setLevel(level)  # setLevel also clears the logger's isEnabledFor cache
