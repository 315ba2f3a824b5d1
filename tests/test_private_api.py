"""The few private attributes of pynetdicom and pydicom that dmslab uses, each kept because a measurement or the
lack of a public equivalent justifies it, and pinned: pyproject.toml bounds the dependency (``pynetdicom<3.1``,
``pydicom<4``), and these tests fail as soon as a release changes what dmslab relies on.

* ``DULServiceProvider._run_loop_delay`` (net/handlers.py ``handle_conn_open``): the reactor's poll interval, set
  per association from 1 ms to 0.1 ms; received objects/s 335 -> 445 in bench/bench_net.py.
* ``ApplicationEntity._servers`` (net/scp.py ``_serve``): the list ``start_server`` appends to, so that
  ``ae.shutdown()`` stops the receiver's own server class, which ``start_server`` cannot take.
* ``Association._reactor_checkpoint`` (net/_store_scu.py): the event that keeps the reactor off the DIMSE queue
  while the sender reads its own responses.
* ``DULServiceProvider.run_reactor`` and its helpers (net/_reactor.py ``EventDul``): the receiver's DUL runs
  pynetdicom's loop body (``_process_recv_primitive``, ``_is_transport_event``, ``_idle_timer``, ``artim_timer``,
  ``state_machine.do_action``, ``_kill_thread``, ``Association._dul_ready``) with a blocking wait instead of a
  polling sleep; the thread's target is bound to ``self.run_reactor`` in ``__init__``, so a subclass's loop runs.
* ``pydicom.sr._snomed_dict.mapping`` (codes.py): pydicom's SNOMED-RT -> SNOMED CT table, which pydicom exposes
  through no public name (``Code.__eq__`` uses it).
"""

from __future__ import annotations

import inspect
import threading

from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dul import DULServiceProvider


def test_dul_reactor_sleeps_for_run_loop_delay() -> None:
    assoc = Association(AE(), "requestor")
    dul = assoc.dul
    assert isinstance(dul, DULServiceProvider) and dul._run_loop_delay == 0.001  # the default we shorten
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(DULServiceProvider.run_reactor)


def test_dul_reactor_loop_body_used_by_event_dul() -> None:
    assert "make_target(self.run_reactor)" in inspect.getsource(DULServiceProvider.__init__)
    loop = inspect.getsource(DULServiceProvider.run_reactor)
    for part in ("self._idle_timer.start()", "self.assoc._dul_ready.set()", "self._kill_thread",
                 "self.artim_timer.expired", 'self.event_queue.put("Evt18")', "self._process_recv_primitive()",
                 "self._is_transport_event()", "self._idle_timer.restart()", "self.event_queue.get(block=False)",
                 "self.state_machine.do_action(event)"):
        assert part in loop, part
    dul = Association(AE(), "acceptor").dul
    assert not dul._kill_thread and dul._idle_timer is not None and dul.artim_timer is not None
    assert "self._kill_thread = True" in inspect.getsource(DULServiceProvider.stop_dul)


def test_ae_servers_is_the_list_shutdown_stops() -> None:
    ae = AE()
    assert ae._servers == []
    source = inspect.getsource(AE.shutdown)
    assert "self._servers" in source and "server.shutdown()" in source
    assert "self._servers.append(server)" in inspect.getsource(AE.start_server)


def test_association_reactor_checkpoint_is_an_event() -> None:
    assoc = Association(AE(), "requestor")
    assert isinstance(assoc._reactor_checkpoint, threading.Event) and assoc._reactor_checkpoint.is_set()
    assert "_reactor_checkpoint" in inspect.getsource(Association)


def test_pydicom_snomed_mapping_shape() -> None:
    from pydicom.sr._snomed_dict import mapping

    assert set(mapping) >= {"SRT", "SCT"} and mapping["SRT"]["P5-08000"] == "77477000"
    assert len(mapping["SRT"]) > 5000 and all(isinstance(v, str) for v in list(mapping["SRT"].values())[:100])
